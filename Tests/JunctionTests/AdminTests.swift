import Foundation
import Junction
import Logging
import MQTTBroker
import MQTTCore
import NIOCore
import ServiceLifecycle
import TestSupport
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

    /// An engine with the admin API (token `s3`) on `connectors` and `processes` (file stem to
    /// JSON); `body` gets it and the admin port, then the engine shuts down.
    func withAdmin(connectors: [String: String], processes: [String: String],
                   _ body: (Engine, Int) async throws -> Void) async throws {
        let (root, definitions) = try definitionFolder(connectors: connectors, processes: processes)
        defer { try? FileManager.default.removeItem(at: root) }
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
            try await body(engine, port)
        }
    }

    static let broker = #"{"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}}"#

    @Test("/health, /ready, /metrics with document counters, /api/processes; a token when configured")
    func endpoints() async throws {
        let copy = #"{"listen": {"connector": "local", "topic": "a", "qos": 1}, "steps": [{"send": {"connector": "local", "topic": "b"}}]}"#
        try await withAdmin(connectors: ["local": Self.broker], processes: ["copy": copy]) { engine, port in
            #expect(try await get(port, "health").0 == 401)
            #expect(try await get(port, "health", token: "s3") == (200, "ok\n"))
            try await waitUntil("ready") { try await get(port, "ready", token: "s3").0 == 200 }
            let broker = try #require(engine.broker)
            try await broker.publish(topic: "a", payload: ByteBuffer(string: "x"), qos: .atLeastOnce)
            try await waitUntil("completed counted") {
                try await get(port, "metrics", token: "s3").1.contains(#"junction_documents_total{process="copy",event="completed"} 1"#)
            }
            var metrics = try await get(port, "metrics", token: "s3").1
            #expect(metrics.contains("# TYPE junction_broker_sessions_count gauge"))
            // Totals are counters that keep counting across scrapes: the message to "a" and the
            // process's copy to "b", then one more of each.
            #expect(metrics.contains("# TYPE junction_broker_messages_received_total counter"))
            #expect(metrics.contains("junction_broker_messages_received_total 2\n"), "\(metrics)")
            try await broker.publish(topic: "a", payload: ByteBuffer(string: "y"), qos: .atLeastOnce)
            try await waitUntil("second document completed") {
                try await get(port, "metrics", token: "s3").1.contains(#"junction_documents_total{process="copy",event="completed"} 2"#)
            }
            metrics = try await get(port, "metrics", token: "s3").1
            #expect(metrics.contains("junction_broker_messages_received_total 4\n"), "\(metrics)")
            #expect(try await get(port, "api/processes", token: "s3").1 == #"[{"name":"copy","status":"running"}]"# + "\n")
        }
    }

    @Test("/ready says starting until every process listens: here until the external broker answered the Listen's SUBSCRIBE")
    func readyOnceListening() async throws {
        let remote = try await ScriptedServer.start()
        defer { Task { await remote.close() } }
        let pull = #"{"listen": {"connector": "up", "topic": "in", "qos": 1}, "steps": [{"send": {"connector": "local", "topic": "out"}}]}"#
        try await withAdmin(connectors: ["local": Self.broker, "up": #"{"type": "mqtt", "url": "mqtt://127.0.0.1:\#(remote.port)"}"#],
                            processes: ["pull": pull]) { _, port in
            guard case .connect = try await remote.receive(timeout: .seconds(20)) else { throw TestFailure("expected CONNECT") }
            try await remote.send(.connack(MQTTConnAckPacket()))
            guard case .subscribe(let subscribe) = try await remote.receive() else { throw TestFailure("expected SUBSCRIBE") }
            // A message published now would not reach the process yet.
            #expect(try await get(port, "ready", token: "s3") == (503, "starting\n"))
            #expect(try await get(port, "api/processes", token: "s3").1 == #"[{"name":"pull","status":"starting"}]"# + "\n")
            try await remote.send(.suback(MQTTSubAckPacket(packetIdentifier: subscribe.packetIdentifier, reasonCodes: [.grantedQoS1])))
            try await waitUntil("ready") { try await get(port, "ready", token: "s3").0 == 200 }
            #expect(try await get(port, "api/processes", token: "s3").1 == #"[{"name":"pull","status":"running"}]"# + "\n")
        }
    }

    @Test("An admin API beyond loopback without a token is refused")
    func tokenRequiredBeyondLoopback() {
        #expect(throws: ProcessError.self) { try AdminConfiguration(host: "0.0.0.0", port: 0).validate() }
        #expect(throws: Never.self) { try AdminConfiguration(host: "0.0.0.0", port: 0, token: Secret("t")).validate() }
    }
}
