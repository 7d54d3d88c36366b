/// The published JSON Schemas (draft 2020-12) of definition files, generated from the key
/// tables the loader checks keys with (``ProcessKeys``, ``ConnectorKeys``, ``BrokerKeys``), so
/// the schema and the loader accept the same keys. `junction schema <kind>` prints them; the
/// repository keeps them in `docs/schema/`, where shipped definitions point with `"$schema"`.
///
/// The schema checks keys, types, ranges and enumerations; what depends on other files (a
/// `send`'s keys depend on its connector's kind) is an `anyOf` of the possibilities, and checks
/// that need the loader (templates, topic filters, readable files) are left to `junction validate`.
public enum DefinitionSchema {
    /// The kinds of definition file.
    public enum Kind: String, CaseIterable, Sendable {
        /// `Processes/<name>.json`.
        case process
        /// `Connectors/<name>.json`, every `type`.
        case connector
        /// An `mqtt-broker` definition alone, as `junction broker --config` reads it.
        case broker

        /// The schema's file name, e.g. `process.schema.json`.
        public var fileName: String { "\(rawValue).schema.json" }
    }

    static let draft = "https://json-schema.org/draft/2020-12/schema"

    /// The schema of `kind` as indented JSON text, ending in a newline.
    public static func text(for kind: Kind) -> String {
        document(kind).text() + "\n"
    }

    static func document(_ kind: Kind) -> SchemaJSON {
        var members: [(String, SchemaJSON)] = [("$schema", .string(draft))]
        switch kind {
        case .process:
            members.append(("title", .string("Junction process definition")))
            members += objectMembers(ProcessKeys.process).filter { $0.0 != "title" }
            members.append(("$defs", .object(ProcessKeys.references.keys.sorted().compactMap { name in
                ProcessKeys.references[name].map { (name, .object(objectMembers($0))) }
            })))
        case .connector:
            members.append(("title", .string("Junction connector definition")))
            members.append(("description", .string("A connector: its type decides which keys apply.")))
            members.append(("type", .string("object")))
            members.append(("properties", .object([
                ("type", .object([("description", .string("The connector's kind.")),
                                  ("enum", .array(ConnectorKeys.kinds.map { .string($0.type) }))])),
            ])))
            members.append(("required", .array([.string("type")])))
            members.append(("oneOf", .array(ConnectorKeys.kinds.map { .object(objectMembers($0.table)) })))
        case .broker:
            members.append(("title", .string("Junction broker definition")))
            members += objectMembers(BrokerKeys.broker).filter { $0.0 != "title" }
        }
        return .object(members)
    }

    /// The schema of an object of `table`, with its title and summary.
    static func objectMembers(_ table: DefinitionObject) -> [(String, SchemaJSON)] {
        var members: [(String, SchemaJSON)] = [("title", .string(table.title)), ("description", .string(table.summary))]
        switch table.shape {
        case .closed:
            var properties = table.keys.map { ($0.name, property($0)) }
            if table.isFile {
                properties.insert(("$schema", .object([("description", .string("The schema editors check this file against.")),
                                                       ("type", .string("string"))])), at: 0)
            }
            members.append(("type", .string("object")))
            members.append(("properties", .object(properties)))
            let required = table.keys.filter(\.required).map { SchemaJSON.string($0.name) }
            if !required.isEmpty { members.append(("required", .array(required))) }
            if !table.oneRequired.isEmpty {
                members.append(("anyOf", .array(table.oneRequired.map { .object([("required", .array([.string($0)]))]) })))
            }
            members.append(("additionalProperties", .bool(false)))
        case .exactlyOne:
            members.append(("oneOf", .array(table.keys.map { key in
                .object([("title", .string(key.name)), ("type", .string("object")),
                         ("properties", .object([(key.name, property(key))])),
                         ("required", .array([.string(key.name)])), ("additionalProperties", .bool(false))])
            })))
        }
        return members
    }

    /// A key's schema: its summary, its type's schema and its default.
    static func property(_ key: DefinitionKey) -> SchemaJSON {
        var members: [(String, SchemaJSON)] = [("description", .string(key.summary))]
        members += schema(key.type).filter { $0.0 != "description" && $0.0 != "title" }
        if let value = key.defaultValue { members.append(("default", SchemaJSON(value))) }
        return .object(members)
    }

    static let number = "([0-9]+\\.?[0-9]*|\\.[0-9]+)"
    static let durationPattern = "^[ \\t]*\(number)([eE][+-]?[0-9]+)?(ms|s|m|h|d)[ \\t]*$"
    static let sizePattern = "^[ \\t]*([0-9]+|\(number)[ \\t]*[gGmMkK]?[bB])[ \\t]*$"
    static let ratePattern = "^[ \\t]*[0-9]+[ \\t]*/[ \\t]*\(number)(ms|s|m|h|d)[ \\t]*$"

    /// The schema members of a value type.
    static func schema(_ type: DefinitionValueType) -> [(String, SchemaJSON)] {
        switch type {
        case .string(let pattern, let minLength):
            var members: [(String, SchemaJSON)] = [("type", .string("string"))]
            if minLength > 0 { members.append(("minLength", .integer(minLength))) }
            if let pattern { members.append(("pattern", .string(pattern))) }
            return members
        case .template:
            return [("type", .string("string")), ("$comment", .string("a template: text with {{field}} references"))]
        case .secret:
            return [("type", .string("string")), ("$comment", .string("${env:NAME} and ${file:PATH} are resolved at load"))]
        case .integer(let range):
            return [("type", .string("integer")), ("minimum", .integer(range.lowerBound)), ("maximum", .integer(range.upperBound))]
        case .number(let above, let atMost):
            var members: [(String, SchemaJSON)] = [("type", .string("number"))]
            if above.isFinite { members.append(("exclusiveMinimum", .number(above))) }
            if atMost.isFinite { members.append(("maximum", .number(atMost))) }
            return members
        case .boolean:
            return [("type", .string("boolean"))]
        case .null:
            return [("type", .string("null"))]
        case .duration:
            return [("type", .string("string")), ("pattern", .string(durationPattern))]
        case .size(let range):
            return [("anyOf", .array([
                .object([("type", .string("integer")), ("minimum", .integer(range.lowerBound)), ("maximum", .integer(range.upperBound))]),
                .object([("type", .string("string")), ("pattern", .string(sizePattern))]),
            ]))]
        case .rate:
            return [("anyOf", .array([
                .object([("type", .string("integer")), ("minimum", .integer(1))]),
                .object([("type", .string("string")), ("pattern", .string(ratePattern))]),
            ]))]
        case .choice(let values):
            return [("type", .string("string")), ("enum", .array(values.map(SchemaJSON.string)))]
        case .integerChoice(let values):
            return [("type", .string("integer")), ("enum", .array(values.map(SchemaJSON.integer)))]
        case .constant(let value):
            return [("const", .string(value))]
        case .array(let element, let minItems):
            var members: [(String, SchemaJSON)] = [("type", .string("array")), ("items", .object(schema(element)))]
            if minItems > 0 { members.append(("minItems", .integer(minItems))) }
            return members
        case .object(let table):
            return objectMembers(table)
        case .map(let element):
            return [("type", .string("object")), ("additionalProperties", .object(schema(element)))]
        case .anyOf(let types):
            return [("anyOf", .array(types.map { .object(schema($0)) }))]
        case .reference(let name):
            return [("$ref", .string("#/$defs/\(name)"))]
        case .any:
            return []
        }
    }
}
