import Foundation
import Junction
import Testing

/// The schema and the loader judge the same changes to the shipped examples alike: every
/// object of every shipped definition gets an unknown key, every value is replaced by one of
/// another type, and Python `jsonschema` and the loader are asked about each variant.
@Suite("Schema and loader agree", .timeLimit(.minutes(1)))
struct SchemaAgreementTests {
    /// One changed copy of a shipped definition.
    struct Variant {
        var file: String
        var kind: DefinitionSchema.Kind
        var change: String
        var addsUnknownKey: Bool
        var json: Any
    }

    /// `json` with `change` applied at `path` (object keys and array indices).
    static func replacing(_ json: Any, at path: ArraySlice<Any>, with change: (Any) -> Any) -> Any {
        guard let step = path.first else { return change(json) }
        if var object = json as? [String: Any], let key = step as? String, let member = object[key] {
            object[key] = replacing(member, at: path.dropFirst(), with: change)
            return object
        }
        if var array = json as? [Any], let index = step as? Int, array.indices.contains(index) {
            array[index] = replacing(array[index], at: path.dropFirst(), with: change)
            return array
        }
        return json
    }

    /// Every object and leaf of `json` with its path.
    static func nodes(_ json: Any, _ path: [Any] = []) -> [(path: [Any], value: Any)] {
        var result: [([Any], Any)] = [(path, json)]
        if let object = json as? [String: Any] {
            for key in object.keys.sorted() { result += nodes(object[key] ?? NSNull(), path + [key]) }
        } else if let array = json as? [Any] {
            for (index, element) in array.enumerated() { result += nodes(element, path + [index]) }
        }
        return result
    }

    static func variants() throws -> [Variant] {
        try SchemaTests.shippedDefinitions().flatMap { file, kind -> [Variant] in
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: file))
            return nodes(json).flatMap { path, value -> [Variant] in
                let name = path.map { "\($0)" }.joined(separator: ".")
                if value is [String: Any] {
                    let changed = replacing(json, at: path[...]) { object in
                        var object = object as? [String: Any] ?? [:]
                        object["zzUnknown"] = "x"
                        return object
                    }
                    return [Variant(file: file.lastPathComponent, kind: kind, change: "unknown key in \(name)", addsUnknownKey: true, json: changed)]
                }
                guard !(value is [Any]), !path.isEmpty, name != "$schema" else { return [] }
                return [("an array", [true] as Any), ("a fraction", 1.5 as Any)].map { label, replacement in
                    Variant(file: file.lastPathComponent, kind: kind, change: "\(name) as \(label)", addsUnknownKey: false,
                            json: replacing(json, at: path[...]) { _ in replacement })
                }
            }
        }
    }

    /// Whether the loader takes `data` as a definition of `kind` named `file`.
    static func loaderAccepts(_ data: Data, _ variant: Variant, connectors: [String: ConnectorDefinition]) -> Bool {
        let reader = DefinitionReader(file: variant.file)
        let json = reader.parse(data)
        let name = String(variant.file.dropLast(5))
        switch variant.kind {
        case .process: _ = ProcessDefinition.parse(name: name, json, reader: reader, connectors: connectors)
        case .connector: _ = ConnectorDefinition.parse(name: name, json, reader: reader)
        case .broker: _ = BrokerDefinition.parse(json, reader: reader)
        }
        return reader.problems.isEmpty
    }

    @Test("An unknown key anywhere is refused by both; a value of another type the loader refuses, the schema refuses")
    func changedExamples() async throws {
        let repository = ShippedExamples.repository
        let shipped = DefinitionLoader.load(processes: repository.appendingPathComponent("Processes").path,
                                            connectors: repository.appendingPathComponent("Connectors").path)
        #expect(shipped.problems.isEmpty)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("schema-agreement-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }

        let variants = try Self.variants()
        var checks: [(schema: URL, file: URL)] = []
        var loaderVerdicts: [String: Bool] = [:]
        for (index, variant) in variants.enumerated() {
            let data = try JSONSerialization.data(withJSONObject: variant.json)
            let file = folder.appendingPathComponent("\(index).json")
            try data.write(to: file)
            checks.append((SchemaTests.schemaFile(variant.kind), file))
            loaderVerdicts[file.path] = Self.loaderAccepts(data, variant, connectors: shipped.connectors)
        }
        let errors = try await SchemaValidator.errors(checks)
        #expect(errors.count == variants.count)
        #expect(variants.filter(\.addsUnknownKey).count >= 40)
        for (variant, check) in zip(variants, checks) {
            let schemaAccepts = errors[check.file.path]?.isEmpty ?? true
            let loaderAccepts = loaderVerdicts[check.file.path] ?? true
            if variant.addsUnknownKey {
                #expect(schemaAccepts == loaderAccepts, "\(variant.file), \(variant.change): schema \(schemaAccepts), loader \(loaderAccepts)")
            } else if !loaderAccepts {
                #expect(!schemaAccepts, "\(variant.file), \(variant.change): the loader refuses it, the schema accepts it")
            }
        }
    }
}
