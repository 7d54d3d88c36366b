import Foundation
import Junction
import MQTTCore
import Testing

@Suite("Process definitions and junction validate")
struct ProcessDefinitionTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The shipped connectors, so processes can name them.
    static let connectors: [String: ConnectorDefinition] = {
        DefinitionLoader.load(processes: repository.appendingPathComponent("Processes").path,
                              connectors: repository.appendingPathComponent("Connectors").path).connectors
    }()

    func parse(_ json: String) -> (ProcessDefinition?, [DefinitionProblem]) {
        let reader = DefinitionReader(file: "Processes/p.json")
        let process = ProcessDefinition.parse(name: "p", reader.parse(Data(json.utf8)), reader: reader, connectors: Self.connectors)
        return (process, reader.problems)
    }

    @Test("The shipped Processes/ and Connectors/ are all valid")
    func shippedExamples() {
        let definitions = DefinitionLoader.load(processes: Self.repository.appendingPathComponent("Processes").path,
                                                connectors: Self.repository.appendingPathComponent("Connectors").path)
        #expect(definitions.problems.isEmpty, "\(definitions.problems)")
        #expect(Set(definitions.processes.keys) == ["hot-readings", "plant-archive", "http-ingest", "drop-split", "order-routing"])
        #expect(definitions.broker?.name == "local-broker")
    }

    @Test("The example of docs/design.md reads as written")
    func designExample() throws {
        let (process, problems) = parse(try String(contentsOf: Self.repository.appendingPathComponent("Processes/hot-readings.json"), encoding: .utf8))
        #expect(problems.isEmpty)
        let p = try #require(process)
        guard case .mqtt(let listen) = p.listen else { Issue.record("not an MQTT listen"); return }
        #expect(listen.topic.filter == "plant/+/temperature" && listen.qos == .atLeastOnce)
        #expect(listen.options.tracking.map(\.name) == ["celsius", "sensor"])
        #expect(listen.options.archiving?.retentionMilliseconds == Int64(30) * 86_400_000)
        #expect(listen.options.caching?.cache == "latest")
        #expect(p.steps.count == 3 && p.maxInFlight == 16)
        #expect(p.onError.attempts == 5 && p.onError.backoffMilliseconds == [1000, 5000, 30_000])
        #expect(p.onError.deadLetter?.connector == "local-broker" && p.caches["latest"]?.ttlMilliseconds == 3_600_000)
    }

    @Test("Invalid definitions: each problem with its key path", arguments: [
        (#"{"listen": {"connector": "local-broker", "topic": "a/#"}, "stepz": []}"#, ["stepz"]),
        (#"{"steps": []}"#, ["listen"]),
        (#"{"listen": {"connector": "ops-api", "topic": "a"}}"#, ["listen.connector"]),
        (#"{"listen": {"connector": "nowhere", "topic": "a"}}"#, ["listen.connector"]),
        (#"{"listen": {"connector": "local-broker", "topic": "a/#/b"}}"#, ["listen.topic"]),
        (#"{"listen": {"connector": "local-broker", "topic": "a", "qos": 3}}"#, ["listen.qos"]),
        (#"{"listen": {"connector": "local-broker", "topic": "a", "qos": "1"}}"#, ["listen.qos"]),
        (#"{"listen": {"connector": "local-broker", "topic": "a"}, "steps": [{"send": {"connector": "local-broker", "topic": "b/+"}}]}"#, ["steps[0].send.topic"]),
        (#"{"listen": {"connector": "local-broker", "topic": "a"}, "steps": [{"send": {"connector": "ingest", "topic": "b"}}]}"#, ["steps[0].send.connector"]),
        (#"{"listen": {"connector": "local-broker", "topic": "a"}, "steps": [{"send": {"connector": "ops-api", "topic": "b"}}]}"#, ["steps[0].send.topic"]),
        (#"{"listen": {"connector": "local-broker", "topic": "a"}, "steps": [{"send": {"connector": "archive", "name": "x", "mode": "rewrite"}}]}"#, ["steps[0].send.mode"]),
        (#"{"listen": {"connector": "local-broker", "topic": "a"}, "steps": [{"filter": {"field": "payload.x", "gt": 1}, "map": {}}]}"#, ["steps[0]"]),
        (#"{"listen": {"connector": "local-broker", "topic": "a"}, "steps": [{"set": {"x": "{{payload."}}]}"#, ["steps[0].set.x"]),
        (#"{"listen": {"connector": "local-broker", "topic": "a"}, "steps": [{"reply": {"status": 200}}]}"#, ["steps[0].reply"]),
        (##"{"listen": {"connector": "local-broker", "topic": "a"}, "steps": [{"route": {"cases": [{"when": {"field": "payload.x", "eq": 1}, "steps": [{"send": {"connector": "local-broker", "topic": "#"}}]}]}}]}"##,
         ["steps[0].route.cases[0].steps[0].send.topic"]),
        (#"{"listen": {"connector": "local-broker", "topic": "a", "caching": {"cache": "c", "key": "k"}}}"#, ["listen.caching.cache"]),
        (#"{"listen": {"connector": "local-broker", "topic": "a", "archiving": {"retention": "1d"}}}"#, ["listen.archiving.directory"]),
        (#"{"listen": {"connector": "local-broker", "topic": "a"}, "onError": {"deadLetter": {"connector": "ops-api", "topic": "d"}}}"#, ["onError.deadLetter.connector"]),
        (#"{"listen": {"connector": "local-broker", "topic": "a"}, "onError": {"retry": {"backoff": ["1s", "later"]}}}"#, ["onError.retry.backoff[1]"]),
        (#"{"listen": {"connector": "local-broker", "topic": "a"}, "maxInFlight": 0}"#, ["maxInFlight"]),
        (#"{"listen": {"connector": "ingest", "path": "readings"}}"#, ["listen.path"]),
        (#"{"listen": {"connector": "drop", "glob": "a/*.json"}}"#, ["listen.glob"]),
    ] as [(String, [String])])
    func invalid(json: String, paths: [String]) {
        let (process, problems) = parse(json)
        #expect(problems.map(\.path) == paths, "\(problems)")
        #expect(problems.allSatisfy { $0.file == "Processes/p.json" && !$0.message.isEmpty })
        _ = process
    }

    @Test("validate reports every problem of every file, and loads the valid files")
    func loaderCollectsAll() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("defs-\(UUID())")
        let processes = root.appendingPathComponent("Processes"), connectors = root.appendingPathComponent("Connectors")
        try FileManager.default.createDirectory(at: processes, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: connectors, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try Data(#"{"type": "mqtt-broker"}"#.utf8).write(to: connectors.appendingPathComponent("broker.json"))
        try Data(#"{"type": "mqtt-broker"}"#.utf8).write(to: connectors.appendingPathComponent("second.json"))
        try Data(#"{"type": "http", "baseUrl": "nope"}"#.utf8).write(to: connectors.appendingPathComponent("api.json"))
        try Data(#"{"listen": {"connector": "broker", "topic": "a"}}"#.utf8).write(to: processes.appendingPathComponent("good.json"))
        try Data(#"{"listen": {"connector": "api", "topic": "a"}, "steps": [{"send": {"connector": "broker", "topic": "x", "qos": 9}}]}"#.utf8)
            .write(to: processes.appendingPathComponent("bad.json"))
        try Data("{not json".utf8).write(to: processes.appendingPathComponent("broken.json"))
        let definitions = DefinitionLoader.load(processes: processes.path, connectors: connectors.path)
        #expect(Set(definitions.processes.keys) == ["good"])
        let described = definitions.problems.map { "\(URL(fileURLWithPath: $0.file).lastPathComponent): \($0.path)" }
        #expect(described == [
            "api.json: baseUrl", "second.json: type",
            "bad.json: listen.connector", "bad.json: steps[0].send.qos", "broken.json: ",
        ])
    }
}
