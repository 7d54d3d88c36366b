import Foundation
import Junction
import MQTTBroker
import MQTTCore
import NIOCore
import Testing

@Suite("HTTP Send through libcurl against a real local server", .timeLimit(.minutes(1)))
struct HTTPSendTests {
    static let broker = #"{"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}}"#

    static func api(_ port: Int) -> String {
        #"{"type": "http", "baseUrl": "http://127.0.0.1:\#(port)/base", "method": "POST", "headers": {"X-Static": "s1"}, "timeout": "5s"}"#
    }

    @Test("Method, path, connector and template headers and body reach the server; a 500 is retried, then the message is acknowledged")
    func requestAndRetry() async throws {
        let server = RecordingServer(script: [500])
        try await server.run { port in
            let harness = try EngineHarness(connectors: ["local": Self.broker, "api": Self.api(port)], processes: ["out": """
                {"listen": {"connector": "local", "topic": "in/+", "qos": 1},
                 "steps": [{"send": {"connector": "api", "path": "/items/{{topic[1]}}", "method": "PUT",
                                     "headers": {"X-Id": "{{payload.id}}"}}}],
                 "onError": {"retry": {"attempts": 3, "backoff": ["10ms"]}}}
                """])
            try await harness.run { h in
                try await h.broker.publish(topic: "in/a", payload: ByteBuffer(string: #"{"id": 7}"#), qos: .atLeastOnce)
                let first = try await server.next()
                #expect(first.method == "PUT")
                #expect(first.path == "/base/items/a")
                #expect(first.headers["x-static"] == "s1")
                #expect(first.headers["x-id"] == "7")
                #expect(first.body == #"{"id": 7}"#)
                let second = try await server.next()
                #expect(second.path == "/base/items/a" && second.body == #"{"id": 7}"#)
                try await waitUntil("message acknowledged") { try await h.session("out")?.inflight == 0 }
                let kinds = try h.trackingEvents().map(\.event)
                #expect(kinds.contains(.retried) && kinds.contains(.sent) && kinds.last == .completed, "\(kinds)")
            }
        }
    }

    /// Runs the process `out` (its definition) against an HTTP server that holds every answer at
    /// a gate until the test releases it.
    static func withGatedAPI(_ process: String, _ body: @escaping @Sendable (EngineHarness, RecordingServer, Gate) async throws -> Void) async throws {
        let gate = Gate()
        let server = RecordingServer(gate: gate)
        try await server.run { port in
            let harness = try EngineHarness(connectors: ["local": Self.broker, "api": Self.api(port)], processes: ["out": process])
            try await harness.run { h in try await body(h, server, gate) }
        }
    }

    @Test("The MQTT message is acknowledged only after the HTTP answer came")
    func acknowledgedAfterAnswer() async throws {
        try await Self.withGatedAPI("""
            {"listen": {"connector": "local", "topic": "in/x", "qos": 1},
             "steps": [{"send": {"connector": "api", "path": "/hold"}}]}
            """) { h, server, gate in
            try await h.broker.publish(topic: "in/x", payload: ByteBuffer(string: "held"), qos: .atLeastOnce)
            let request = try await server.next()
            #expect(request.method == "POST" && request.path == "/base/hold" && request.body == "held")
            #expect(try await h.session("out")?.inflight == 1)
            await gate.release()
            try await waitUntil("message acknowledged after the answer") { try await h.session("out")?.inflight == 0 }
        }
    }

    @Test("maxInFlight bounds the documents in flight: the rest wait in the broker's queue, then all go through")
    func maxInFlightBackPressure() async throws {
        try await Self.withGatedAPI("""
            {"listen": {"connector": "local", "topic": "in/+", "qos": 1}, "maxInFlight": 3,
             "steps": [{"send": {"connector": "api", "path": "/{{topic[1]}}"}}]}
            """) { h, server, gate in
            for i in 0..<10 { try await h.broker.publish(topic: "in/\(i)", payload: ByteBuffer(string: "\(i)"), qos: .atLeastOnce) }
            var paths: [String] = []
            for _ in 0..<3 { paths.append(try await server.next().path) }
            // Three requests held at the gate; the other seven never left the broker.
            let held = try #require(try await h.session("out"))
            #expect(held.inflight == 3 && held.queued == 7, "\(held)")
            await gate.release()
            for _ in 0..<7 { paths.append(try await server.next().path) }
            #expect(Set(paths) == Set((0..<10).map { "/base/\($0)" }))
            try await waitUntil("every message acknowledged") {
                let info = try await h.session("out")
                return info?.inflight == 0 && info?.queued == 0
            }
        }
    }

    @Test("A 404 is permanent: no retry, straight to the dead letter")
    func permanentStatus() async throws {
        let server = RecordingServer(script: [404])
        try await server.run { port in
            let harness = try EngineHarness(connectors: ["local": Self.broker, "api": Self.api(port)], processes: ["out": """
                {"listen": {"connector": "local", "topic": "in/y", "qos": 1},
                 "steps": [{"send": {"connector": "api", "path": "missing"}}],
                 "onError": {"retry": {"attempts": 3, "backoff": ["10ms"]}, "deadLetter": {"connector": "local", "topic": "dead/y"}}}
                """])
            try await harness.run { h in
                let dead = try await h.broker.subscribe(clientID: "dead-reader", subscriptions: [MQTTSubscription(topicFilter: "dead/#", qos: .atLeastOnce)], cleanStart: true)
                try await h.broker.publish(topic: "in/y", payload: ByteBuffer(string: "nope"), qos: .atLeastOnce)
                let request = try await server.next()
                #expect(request.path == "/base/missing")
                let letter = try #require(await withTimeout(.seconds(15)) { await dead.first { _ in true } })
                #expect(letter.topic == "dead/y" && String(buffer: letter.payload) == "nope")
                await letter.ack()
                try await waitUntil("dead-lettered message acknowledged") { try await h.session("out")?.inflight == 0 }
                #expect(!(try h.trackingEvents().contains { $0.event == .retried }))
            }
        }
    }
}

@Suite("HTTP Send result", .timeLimit(.minutes(1)))
struct HTTPSendResultTests {
    @Test("The answer's status and body reach the following steps as properties; the payload stays")
    func responseProperties() async throws {
        let server = RecordingServer(script: [201])
        try await server.run { port in
            let harness = try EngineHarness(
                connectors: ["local": HTTPSendTests.broker, "api": HTTPSendTests.api(port), "out": #"{"type": "file", "directory": "out"}"#],
                processes: ["chain": """
                    {"listen": {"connector": "local", "topic": "in/r", "qos": 1},
                     "steps": [{"send": {"connector": "api", "path": "/r"}},
                               {"map": {"status": "{{properties.http.status}}", "payload": "{{payload}}"}},
                               {"send": {"connector": "out", "name": "result.json"}}]}
                    """])
            try await harness.run { h in
                try await h.broker.publish(topic: "in/r", payload: ByteBuffer(string: #"{"n": 1}"#), qos: .atLeastOnce)
                _ = try await server.next()
                try await waitUntil("message acknowledged") { try await h.session("chain")?.inflight == 0 }
                let written = try String(contentsOf: h.root.appendingPathComponent("out/result.json"), encoding: .utf8)
                #expect(written == #"{"payload":{"n":1},"status":"201"}"#)
            }
        }
    }
}
