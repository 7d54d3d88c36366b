import Foundation

/// The value of a ``FieldPath`` in a document.
public enum FieldValue: Sendable {
    /// Text: the id, the topic or a level of it, a property, the time, or a payload that is not JSON.
    case string(String)
    /// A value of the JSON payload, with its JSON type.
    case json(JSONPayload)

    /// The value as text, as a template puts it: text as it is, a JSON string without quotes,
    /// any other JSON value as compact JSON (`21.5`, `true`, `null`, `{"a":1}`).
    public var text: String {
        switch self {
        case .string(let string): string
        case .json(let json): json.text
        }
    }
}

extension FieldPath {
    /// The value of this field in `document`, or `nil` when it is missing: no topic, a topic
    /// level past the last, an absent property, a payload path that does not exist, or a path
    /// inside a payload that is not JSON. A JSON `null` in the payload is a value, not missing.
    public func lookup(in document: Document) -> FieldValue? {
        lookup(in: document, now: Date())
    }

    /// ``lookup(in:)`` with the time `now` gives.
    public func lookup(in document: Document, now: Date) -> FieldValue? {
        switch self {
        case .id:
            return .string(document.id)
        case .topic:
            return document.topic.map(FieldValue.string)
        case .topicLevel(let level):
            guard let topic = document.topic else { return nil }
            // Walks to the level without splitting the whole topic (this runs per document).
            let utf8 = topic.utf8
            var start = utf8.startIndex
            for _ in 0..<level {
                guard let slash = utf8[start...].firstIndex(of: UInt8(ascii: "/")) else { return nil }
                start = utf8.index(after: slash)
            }
            let end = utf8[start...].firstIndex(of: UInt8(ascii: "/")) ?? utf8.endIndex
            return .string(String(topic[start..<end]))
        case .payload(let components):
            guard let json = document.json() else {
                return components.isEmpty ? .string(document.payloadText) : nil
            }
            return json.value(at: components).map(FieldValue.json)
        case .property(let name):
            return document.properties[name].map(FieldValue.string)
        case .now:
            return .string(Timestamp.iso8601(now))
        }
    }
}
