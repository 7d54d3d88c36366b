/// One step of a path into a JSON value: an object member or an array element.
public enum PathComponent: Sendable, Hashable {
    /// An object member.
    case key(String)
    /// An array element, 0-based.
    case index(Int)
}

/// A field of a ``Document``, as written inside `{{...}}` and in a condition's `field`:
///
/// | text | field |
/// | --- | --- |
/// | `id` | the document id |
/// | `topic` | the whole topic |
/// | `topic[N]` | topic level N, 0-based (`plant/7/temperature`: `topic[1]` is `7`) |
/// | `payload` | the whole payload (JSON, or its text when it is not JSON) |
/// | `payload.a.b[0]`, `payload[2]`, `payload["odd key"]` | a value inside a JSON payload |
/// | `properties.name`, `properties["odd name"]` | a document property |
/// | `now` | the current time, ISO 8601 in UTC with milliseconds |
///
/// Keys after `payload.` are runs of any characters but `.`, `[`, `]`, `{`, `}`, `"` and
/// whitespace; other keys are written quoted, `["a.b"]`, with `\"` and `\\` escapes. A property
/// name after `properties.` may also contain `.`.
public enum FieldPath: Sendable, Hashable, CustomStringConvertible {
    /// `id`: the document id.
    case id
    /// `topic`: the whole topic.
    case topic
    /// `topic[N]`: a 0-based topic level.
    case topicLevel(Int)
    /// `payload...`: a value inside the payload; an empty path is the whole payload.
    case payload([PathComponent])
    /// `properties.name`: a document property.
    case property(String)
    /// `now`: the time of rendering or evaluation.
    case now

    /// Reads a field path such as `payload.a.b[0]`; the whole text must be the path.
    public init(parsing text: String) throws(TemplateError) {
        var parser = FieldPathParser(characters: Array(text), position: 0)
        let path = try parser.parsePath()
        if let extra = parser.current {
            throw TemplateError(column: parser.position + 1, message: "unexpected \"\(extra)\" after \(path)")
        }
        self = path
    }

    /// The canonical text of the path, which ``init(parsing:)`` reads back as the same path.
    public var description: String {
        switch self {
        case .id: return "id"
        case .topic: return "topic"
        case .topicLevel(let level): return "topic[\(level)]"
        case .now: return "now"
        case .property(let name):
            return FieldPathParser.isPlainName(name, allowingDots: true) ? "properties.\(name)" : "properties[\(FieldPathParser.quoted(name))]"
        case .payload(let components):
            return components.reduce(into: "payload") { text, component in
                switch component {
                case .index(let index): text += "[\(index)]"
                case .key(let key): text += FieldPathParser.isPlainName(key, allowingDots: false) ? ".\(key)" : "[\(FieldPathParser.quoted(key))]"
                }
            }
        }
    }
}
