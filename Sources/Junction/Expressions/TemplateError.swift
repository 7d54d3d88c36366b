/// A template or field path that cannot be read: where (1-based column, in characters of the
/// text given) and what was expected there.
public struct TemplateError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The 1-based column, counted in characters of the template text, where the problem is.
    public var column: Int
    /// What is wrong or what was expected, e.g. `expected }} to close the {{ at column 3`.
    public var message: String

    /// An error at the 1-based `column`.
    public init(column: Int, message: String) {
        self.column = column
        self.message = message
    }

    /// `column 7: expected a topic level number`.
    public var description: String { "column \(column): \(message)" }
}
