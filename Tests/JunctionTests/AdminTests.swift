import Foundation
import Junction
import Logging
import MQTTBroker
import NIOCore
import ServiceLifecycle
import Testing

@Suite("Admin API", .timeLimit(.minutes(1)))
struct AdminTests {
    func get(_ port: Int, _ path: String, token: String? = nil) async throws -> (Int, String) {
        let client = CurlClient()
        let headers = token.map { [("Authorization", "Bearer \($0)")] } ?? []
        let response = try await client.perform(CurlRequest(url: "http://127.0.0.1:\(port)/\(path)", method: "GET", headers: headers,
                                                            body: [], timeoutMilliseconds: 5000, tls: nil))
        return (response.status, String(buffer: response.body))
    }

    @Test("/health, /ready, /metrics with document counters, /api/processes; a token when configured")
    func endpoints() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("admin-\(UUID())")
        for folder in ["Connectors", "Processes"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(at: root) }
        try Data(#"{"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}}"#.utf8).write(to: root.appendingPathComponent("Connectors/local.json"))
        try Data(#"{"listen": {"connector": "local", "topic": "a", "qos": 1}, "steps": [{"send": {"connector": "local", "topic": "b"}}]}"#.utf8)
            .write(to: root.appendingPathComponent("Processes/copy.json"))
        let definitions = DefinitionLoader.load(processes: root.appendingPathComponent("Processes").path,
                                                connectors: root.appendingPathComponent("Connectors").path)
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let engine = Engine(definitions: definitions, dataDirectory: root.appendingPathComponent(".junction"), baseDirectory: root,
                            logger: quiet, listeners: [], admin: AdminConfiguration(port: 0, token: Secret("s3")),
                            onAdminBound: { portSink.yield($0) })
        let group = ServiceGroup(configuration: .init(services: engine.services, logger: quiet))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { Task { await group.triggerGracefulShutdown() } }
            let port = try #require(await withTimeout(.seconds(20)) { await ports.first { _ in true } })
            #expect(try await get(port, "health").0 == 401)
            #expect(try await get(port, "health", token: "s3") == (200, "ok\n"))
            try await waitUntil("ready") { try await get(port, "ready", token: "s3").0 == 200 }
            let broker = try #require(engine.broker)
            try await broker.publish(topic: "a", payload: ByteBuffer(string: "x"), qos: .atLeastOnce)
            try await waitUntil("completed counted") {
                try await get(port, "metrics", token: "s3").1.contains(#"junction_documents_total{process="copy",event="completed"} 1"#)
            }
            let metrics = try await get(port, "metrics", token: "s3").1
            #expect(metrics.contains("junction_broker_sessions_count"))
            #expect(try await get(port, "api/processes", token: "s3").1 == #"[{"name": "copy", "status": "running"}]"# + "\n")
        }
    }

    @Test("An admin API beyond loopback without a token is refused")
    func tokenRequiredBeyondLoopback() {
        #expect(throws: ProcessError.self) { try AdminConfiguration(host: "0.0.0.0", port: 0).validate() }
        #expect(throws: Never.self) { try AdminConfiguration(host: "0.0.0.0", port: 0, token: Secret("t")).validate() }
    }
}
