import Foundation

/// The regular expression of a `matches` condition, compiled once when the definition loads
/// (`NSRegularExpression`, ICU syntax). It *searches*: `"^ERR"` anchors to the start, `"ERR"`
/// matches anywhere. Equal when the patterns are equal.
public struct ConditionPattern: Sendable, Hashable, CustomStringConvertible {
    /// The pattern as written in the definition.
    public let pattern: String
    private let expression: NSRegularExpression

    /// Compiles `pattern`; throws the compiler's error when it is not a valid expression.
    public init(_ pattern: String) throws {
        self.pattern = pattern
        self.expression = try NSRegularExpression(pattern: pattern)
    }

    /// True when the expression matches somewhere in `text`.
    public func matches(_ text: String) -> Bool {
        expression.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    public var description: String { pattern }

    public static func == (lhs: ConditionPattern, rhs: ConditionPattern) -> Bool { lhs.pattern == rhs.pattern }

    public func hash(into hasher: inout Hasher) { hasher.combine(pattern) }
}
