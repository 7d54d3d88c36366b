import CJSONC
import Foundation
import NIOCore

/// The `map` step: a new JSON payload built from a template tree.
///
/// ```json
/// {"map": {"sensor": "{{topic[1]}}", "celsius": "{{payload.celsius}}", "tags": ["a", "{{properties.site}}"], "fixed": 3}}
/// ```
///
/// Strings are ``Template``s rendered with ``Template/renderJSON(_:now:)``: a string that is one
/// `{{field}}` keeps the field's JSON type (`"{{payload.celsius}}"` gives `21.5`, a missing field
/// `null`), any other string is text. Numbers, booleans and `null` are copied; objects and
/// arrays are built member by member. Object members come out in key order (the definition
/// reader does not keep the order of the file). The whole map may also be one value:
/// `"{{payload.reading}}"` makes that part of the payload the new payload.
public struct PayloadMap: Sendable, Hashable {
    indirect enum Node: Sendable, Hashable {
        /// A value without templates, built as it is.
        case constant(JSONValue)
        case template(Template)
        case array([Node])
        case object([Member])
    }

    struct Member: Sendable, Hashable {
        var key: String
        var node: Node
    }

    let root: Node

    /// Reads a map from a definition value at key path `path` (e.g. `steps[1].map`), recording a
    /// problem for every template that cannot be read (`steps[1].map.tags[1]: column 3: ...`);
    /// `nil` when there was any.
    public static func parse(_ value: JSONValue, path: String, reader: DefinitionReader) -> PayloadMap? {
        let problemsBefore = reader.problems.count
        let root = node(value, path: path, reader: reader)
        return reader.problems.count == problemsBefore ? PayloadMap(root: root) : nil
    }

    private static func node(_ value: JSONValue, path: String, reader: DefinitionReader) -> Node {
        switch value {
        case .string(let text):
            do {
                let template = try Template(parsing: text)
                return template.isConstant ? .constant(value) : .template(template)
            } catch {
                reader.problem(path, "\(error.message) (column \(error.column) of \"\(text)\")")
                return .constant(value)
            }
        case .array(let elements):
            let nodes = elements.enumerated().map { node($1, path: "\(path)[\($0)]", reader: reader) }
            return nodes.allSatisfy(\.isConstant) ? .constant(value) : .array(nodes)
        case .object(let members):
            let nodes = members.keys.sorted().map { key in
                Member(key: key, node: node(members[key] ?? .null, path: reader.join(path, key), reader: reader))
            }
            return nodes.allSatisfy(\.node.isConstant) ? .constant(value) : .object(nodes)
        case .null, .bool, .integer, .double:
            return .constant(value)
        }
    }

    /// The fields the map reads, in order.
    public var references: [FieldPath] { root.references }

    /// The new payload for `document`: compact JSON text.
    public func apply(_ document: Document) -> ByteBuffer {
        apply(document, now: Date())
    }

    /// ``apply(_:)`` with one time for every `{{now}}`.
    public func apply(_ document: Document, now: Date) -> ByteBuffer {
        // The tree is built and owned here, serialised, and put once.
        let tree = root.build(document, now: now)
        defer { json_object_put(tree) }
        var length = 0
        guard let text = json_object_to_json_string_length(tree, JSONPayload.serializationFlags, &length) else {
            return ByteBuffer(string: "null")
        }
        return ByteBuffer(bytes: UnsafeRawBufferPointer(start: text, count: length))
    }

    /// The new payload for `document` as a JSON value.
    public func applyJSON(_ document: Document, now: Date = Date()) -> JSONPayload {
        JSONPayload(owning: root.build(document, now: now))
    }
}

extension PayloadMap.Node {
    var isConstant: Bool {
        if case .constant = self { true } else { false }
    }

    var references: [FieldPath] {
        switch self {
        case .constant: []
        case .template(let template): template.references
        case .array(let nodes): nodes.flatMap(\.references)
        case .object(let members): members.flatMap(\.node.references)
        }
    }

    /// A new json-c tree the caller owns (`nil` is JSON null).
    func build(_ document: Document, now: Date) -> OpaquePointer? {
        switch self {
        case .constant(let value):
            return JSONBuild.object(from: value)
        case .template(let template):
            return template.renderOwnedJSON(document, now: now)
        case .array(let nodes):
            let array = json_object_new_array_ext(Int32(clamping: nodes.count))
            for node in nodes { JSONBuild.append(node.build(document, now: now), to: array) }
            return array
        case .object(let members):
            let object = json_object_new_object()
            for member in members { JSONBuild.add(member.node.build(document, now: now), key: member.key, to: object) }
            return object
        }
    }
}
