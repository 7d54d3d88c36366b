import Foundation
import Junction
import Testing
import TestSupport

/// The published schemas (`docs/schema/`, `junction schema`): the committed files are the
/// generated ones, shipped definitions name them, and an independent validator (Python
/// `jsonschema`, installed by `make test-deps`) accepts the shipped examples and refuses the
/// broken definitions `junction validate` refuses.
@Suite("Definition schemas", .timeLimit(.minutes(1)))
struct SchemaTests {
    static let schemaFolder = ShippedExamples.repository.appendingPathComponent("docs/schema")

    static func schemaFile(_ kind: DefinitionSchema.Kind) -> URL { schemaFolder.appendingPathComponent(kind.fileName) }

    /// Every shipped definition with the kind of schema it follows.
    static func shippedDefinitions() throws -> [(file: URL, kind: DefinitionSchema.Kind)] {
        try [("Processes", DefinitionSchema.Kind.process), ("Connectors", .connector)].flatMap { folder, kind in
            let directory = ShippedExamples.repository.appendingPathComponent(folder)
            return try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted()
                .map { (directory.appendingPathComponent($0), kind) }
        }
    }

    @Test("docs/schema holds exactly what junction schema prints, for every kind", arguments: DefinitionSchema.Kind.allCases)
    func committedSchemas(kind: DefinitionSchema.Kind) async throws {
        let committed = try String(contentsOf: Self.schemaFile(kind), encoding: .utf8)
        let regenerate = "regenerate with: .build/debug/junction schema \(kind.rawValue) > docs/schema/\(kind.fileName)"
        let current = committed == DefinitionSchema.text(for: kind)
        #expect(current, "docs/schema/\(kind.fileName) is out of date; \(regenerate)")
        let printed = try await ChildProcess.run(try builtJunctionExecutable(), ["schema", kind.rawValue])
        #expect(printed.status == 0, "\(printed.summary)")
        let same = printed.stdoutText == committed
        #expect(same, "junction schema \(kind.rawValue) differs from docs/schema/\(kind.fileName); \(regenerate)")
    }

    @Test("Every shipped definition names its schema with $schema, relative to its folder")
    func shippedDefinitionsNameTheirSchema() throws {
        for (file, kind) in try Self.shippedDefinitions() {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any]
            let reference = try #require(json?["$schema"] as? String, "\(file.lastPathComponent) has no \"$schema\"")
            let target = file.deletingLastPathComponent().appendingPathComponent(reference).standardizedFileURL
            #expect(target.path == Self.schemaFile(kind).standardizedFileURL.path, "\(file.lastPathComponent): \(reference)")
        }
    }

    @Test("The loader accepts a top-level $schema string and refuses another value there")
    func loaderAcceptsSchemaKey() {
        let reader = DefinitionReader(file: "c.json")
        let connector = ConnectorDefinition.parse(name: "c", reader.parse(Data(#"{"$schema": "x.json", "type": "file", "directory": "d"}"#.utf8)), reader: reader)
        #expect(reader.problems.isEmpty && connector != nil, "\(reader.problems)")

        let refused = DefinitionReader(file: "c.json")
        _ = ConnectorDefinition.parse(name: "c", refused.parse(Data(#"{"$schema": 1, "type": "file", "directory": "d"}"#.utf8)), reader: refused)
        #expect(refused.problems.map(\.description) == ["c.json: $schema: expected a string, found an integer"])

        let nested = DefinitionReader(file: "c.json")
        _ = ConnectorDefinition.parse(name: "c", nested.parse(Data(#"{"type": "mqtt", "url": "mqtt://h", "tls": {"$schema": "x"}}"#.utf8)), reader: nested)
        #expect(nested.problems.map(\.path) == ["tls.$schema"])
    }

    @Test("jsonschema (Python) accepts every shipped example, and the schemas are valid draft 2020-12 schemas")
    func shippedExamplesValidate() async throws {
        let checks = try Self.shippedDefinitions().map { (Self.schemaFile($0.kind), $0.file) }
            + [(Self.schemaFile(.broker), ShippedExamples.repository.appendingPathComponent("Tests/Conformance/broker.json"))]
        let errors = try await SchemaValidator.errors(checks)
        for (file, messages) in errors.sorted(by: { $0.key < $1.key }) {
            #expect(messages.isEmpty, "\(file): \(messages)")
        }
        #expect(errors.count == checks.count)
    }

    /// A broken definition, the key path `junction validate` names, and the folder it goes in.
    struct Broken: Sendable, CustomStringConvertible {
        var name: String
        var folder: String
        var json: String
        var path: String
        var description: String { name }
    }

    static let broken: [Broken] = [
        Broken(name: "unknown key", folder: "Processes",
               json: #"{"listen": {"connector": "local-broker", "topic": "a/#", "colour": "red"}, "steps": []}"#, path: "listen.colour"),
        Broken(name: "wrong type", folder: "Processes",
               json: #"{"listen": {"connector": "local-broker", "topic": "a/#"}, "maxInFlight": "many"}"#, path: "maxInFlight"),
        Broken(name: "bad qos", folder: "Processes",
               json: #"{"listen": {"connector": "local-broker", "topic": "a/#"}, "steps": [{"send": {"connector": "local-broker", "topic": "b", "qos": 3}}]}"#,
               path: "steps[0].send.qos"),
        Broken(name: "missing required key", folder: "Processes", json: #"{"steps": []}"#, path: "listen"),
        Broken(name: "two step kinds in one step", folder: "Processes",
               json: #"{"listen": {"connector": "local-broker", "topic": "a/#"}, "steps": [{"set": {}, "split": {}}]}"#, path: "steps[0]"),
        Broken(name: "dead letter without a topic", folder: "Processes",
               json: #"{"listen": {"connector": "local-broker", "topic": "a/#"}, "onError": {"deadLetter": {"connector": "local-broker"}}}"#,
               path: "onError.deadLetter.topic"),
        Broken(name: "mqtt connector without url or urls", folder: "Connectors", json: #"{"type": "mqtt", "clientId": "c"}"#, path: "url"),
        Broken(name: "connector missing its directory", folder: "Connectors", json: #"{"type": "file"}"#, path: "directory"),
        Broken(name: "connector with an unknown key", folder: "Connectors",
               json: #"{"type": "http", "baseUrl": "http://127.0.0.1:1", "retry": 3}"#, path: "retry"),
        Broken(name: "bad broker setting", folder: "Connectors",
               json: #"{"type": "mqtt-broker", "mqtt": {"durability": "sometimes"}}"#, path: "mqtt.durability"),
    ]

    @Test("A broken definition is refused by the schema (jsonschema) and by junction validate", arguments: broken)
    func brokenDefinitionsAreRefused(_ broken: Broken) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("schema-\(UUID())")
        defer { try? FileManager.default.removeItem(at: root) }
        let processes = root.appendingPathComponent("Processes")
        let connectors = root.appendingPathComponent("Connectors")
        for folder in [processes, connectors] { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) }
        let broker = ShippedExamples.repository.appendingPathComponent("Connectors/local-broker.json")
        if broken.folder == "Processes" {
            try FileManager.default.copyItem(at: broker, to: connectors.appendingPathComponent("local-broker.json"))
        }
        let file = root.appendingPathComponent(broken.folder).appendingPathComponent("broken.json")
        try Data(broken.json.utf8).write(to: file)

        let validate = try await ChildProcess.run(try builtJunctionExecutable(), ["validate", "--processes", processes.path, "--connectors", connectors.path])
        #expect(validate.status == 1, "\(validate.summary)")
        #expect(validate.stderr.contains("broken.json: \(broken.path):"), "\(validate.summary)")

        let kind: DefinitionSchema.Kind = broken.folder == "Processes" ? .process : .connector
        let errors = try await SchemaValidator.errors([(Self.schemaFile(kind), file)])
        #expect(errors[file.path]?.isEmpty == false, "the schema accepts \(broken.json)")
    }
}

/// Python `jsonschema` run as a child process over pairs of schema and definition file.
enum SchemaValidator {
    static let script = """
        import json, sys
        from jsonschema import Draft202012Validator
        schemas, results = {}, {}
        for check in json.load(sys.stdin):
            if check["schema"] not in schemas:
                with open(check["schema"]) as f:
                    schema = json.load(f)
                Draft202012Validator.check_schema(schema)
                schemas[check["schema"]] = Draft202012Validator(schema)
            with open(check["file"]) as f:
                instance = json.load(f)
            results[check["file"]] = ["/".join(map(str, e.absolute_path)) + ": " + e.message
                                      for e in schemas[check["schema"]].iter_errors(instance)]
        json.dump(results, sys.stdout)
        """

    /// The validation errors of each file (by path) against its schema.
    static func errors(_ checks: [(schema: URL, file: URL)]) async throws -> [String: [String]] {
        let python = try #require(ChildProcess.find("python3"),
                                  "python3 with jsonschema is needed (make test-deps installs it)")
        let manifest = try JSONSerialization.data(withJSONObject: checks.map { ["schema": $0.schema.path, "file": $0.file.path] })
        let outcome = try await ChildProcess.run(python, ["-c", script], stdin: manifest)
        guard outcome.status == 0 else {
            Issue.record("jsonschema failed (pip install 'jsonschema>=4,<5', as make test-deps does): \(outcome.summary)")
            return [:]
        }
        let results = try JSONSerialization.jsonObject(with: outcome.stdout) as? [String: [String]]
        return try #require(results, "unexpected output: \(outcome.stdoutText)")
    }
}
