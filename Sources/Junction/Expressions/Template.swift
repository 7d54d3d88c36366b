import Foundation

/// Text with `{{field}}` placeholders, such as `alerts/{{topic[1]}}` or `{{payload.celsius}}`:
/// parsed once when a definition loads, rendered for every document.
///
/// The fields are those of ``FieldPath``; spaces just inside the braces are allowed
/// (`{{ topic[1] }}`). Everything outside `{{...}}` is literal text, including a lone `{`, `}`
/// or `}}`.
public struct Template: Sendable, Hashable, CustomStringConvertible {
    enum Segment: Sendable, Hashable {
        case text(String)
        case field(FieldPath)
    }

    let segments: [Segment]

    /// The text the template was parsed from.
    public let source: String

    /// Parses `text`; the error names the column and what was expected there.
    public init(parsing text: String) throws(TemplateError) {
        source = text
        segments = try Template.segments(of: text)
    }

    /// True when the template has no `{{...}}`: every document renders the same text.
    public var isConstant: Bool { references.isEmpty }

    /// The fields the template reads, in order of appearance (repeats included).
    public var references: [FieldPath] {
        segments.compactMap { if case .field(let path) = $0 { path } else { nil } }
    }

    /// The source text.
    public var description: String { source }

    /// The template with every `{{field}}` replaced by the field's ``FieldValue/text``. **A missing
    /// field renders as the empty string** (see ``FieldPath/lookup(in:)`` for what is missing).
    /// Every `{{now}}` in one rendering shows the same time, `now`.
    public func render(_ document: Document, now: Date = Date()) -> String {
        var result = ""
        for segment in segments {
            switch segment {
            case .text(let text): result += text
            case .field(let path): result += path.lookup(in: document, now: now)?.text ?? ""
            }
        }
        return result
    }

    /// The template as a JSON value. When the whole template is one `{{field}}`, the field's value
    /// with its JSON type: a number stays a number, an object an object, text from the topic,
    /// id, properties or time a string, and a missing field `null`. Any other template gives
    /// the JSON string of ``render(_:now:)``.
    public func renderJSON(_ document: Document, now: Date = Date()) -> JSONPayload {
        guard case .field(let path)? = singleField else { return .make(string: render(document, now: now)) }
        switch path.lookup(in: document, now: now) {
        case .json(let value): return value
        case .string(let text): return .make(string: text)
        case nil: return .makeNull()
        }
    }

    /// ``renderJSON(_:now:)`` as a new json-c reference the caller owns, for building a tree.
    func renderOwnedJSON(_ document: Document, now: Date) -> OpaquePointer? {
        guard case .field(let path)? = singleField else { return JSONBuild.string(render(document, now: now)) }
        switch path.lookup(in: document, now: now) {
        case .json(let value): return value.ownedCopy()
        case .string(let text): return JSONBuild.string(text)
        case nil: return nil
        }
    }

    private var singleField: Segment? {
        segments.count == 1 && !isConstant ? segments[0] : nil
    }
}
