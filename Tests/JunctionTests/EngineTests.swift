import Foundation
import Junction
import Logging
import MQTTBroker
import MQTTCore
import NIOCore
import ServiceLifecycle
import Testing

@Suite("Engine: processes end to end on the embedded broker", .timeLimit(.minutes(1)))
struct EngineTests {
    static let broker = #"{"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}}"#

    @Test("Route by payload field; every hop tracked; the message acknowledged after the last step")
    func routeAndTrack() async throws {
        let harness = try EngineHarness(connectors: ["local": Self.broker], processes: ["orders": """
            {"listen": {"connector": "local", "topic": "orders/new", "qos": 1, "tracking": {"order": "{{payload.id}}"}},
             "steps": [{"route": {"cases": [{"when": {"field": "payload.priority", "eq": "high"},
                                             "steps": [{"send": {"connector": "local", "topic": "orders/urgent", "qos": 1}}]}],
                                  "otherwise": [{"set": {"lane": "normal"}},
                                                {"send": {"connector": "local", "topic": "orders/{{properties.lane}}", "qos": 1}}]}}]}
            """])
        try await harness.run { h in
            let out = try await h.broker.subscribe(clientID: "checker", subscriptions: [MQTTSubscription(topicFilter: "orders/+", qos: .atLeastOnce)], cleanStart: true)
            try await h.broker.publish(topic: "orders/new", payload: ByteBuffer(string: #"{"id": 1, "priority": "high"}"#), qos: .atLeastOnce)
            try await h.broker.publish(topic: "orders/new", payload: ByteBuffer(string: #"{"id": 2, "priority": "low"}"#), qos: .atLeastOnce)
            var seen: [String: String] = [:]
            for _ in 0..<4 {
                let delivery = try await out.next()
                seen[String(buffer: delivery.payload), default: ""] += delivery.topic + " "
                await delivery.ack()
            }
            #expect(seen[#"{"id": 1, "priority": "high"}"#] == "orders/new orders/urgent ")
            #expect(seen[#"{"id": 2, "priority": "low"}"#] == "orders/new orders/normal ")
            try await waitUntil("both documents acknowledged") { try await h.session("orders")?.inflight == 0 }
            let events = try h.trackingEvents()
            for order in ["1", "2"] {
                let kinds = events.filter { $0.fields?["order"] == order }.map(\.event)
                #expect(kinds.first == .received && kinds.last == .completed && kinds.contains(.sent), "\(kinds)")
            }
            #expect(events.first { $0.event == .sent && $0.fields?["order"] == "1" }?.topic == "orders/urgent")
        }
    }

    @Test("A failing send without dead letter leaves the message unacknowledged; with one it is dead-lettered and acknowledged")
    func failureAndDeadLetter() async throws {
        let harness = try EngineHarness(
            connectors: ["local": Self.broker, "out": #"{"type": "file", "directory": "blocked"}"#],
            processes: [
                "keep": #"{"listen": {"connector": "local", "topic": "in/keep", "qos": 1}, "steps": [{"send": {"connector": "out", "name": "x.json"}}]}"#,
                "dead": #"{"listen": {"connector": "local", "topic": "in/dead", "qos": 1}, "steps": [{"send": {"connector": "out", "name": "y.json"}}], "onError": {"retry": {"attempts": 2, "backoff": ["10ms"]}, "deadLetter": {"connector": "local", "topic": "dead/in"}}}"#,
            ])
        // "blocked" is a file, so the file connector's directory cannot be created: every write fails.
        try Data("not a folder".utf8).write(to: harness.root.appendingPathComponent("blocked"))
        try await harness.run { h in
            let dead = try await h.broker.subscribe(clientID: "dead-reader", subscriptions: [MQTTSubscription(topicFilter: "dead/#", qos: .atLeastOnce)], cleanStart: true)
            try await h.broker.publish(topic: "in/keep", payload: ByteBuffer(string: "k"), qos: .atLeastOnce)
            try await h.broker.publish(topic: "in/dead", payload: ByteBuffer(string: "d"), qos: .atLeastOnce)

            let letter = try await dead.next()
            #expect(letter.topic == "dead/in" && String(buffer: letter.payload) == "d")
            #expect(letter.properties.userProperties.first?.name == "junction.error")
            await letter.ack()
            try await waitUntil("dead-lettered message acknowledged") { try await h.session("dead")?.inflight == 0 }
            try await waitUntil("failure tracked \((try? h.trackingEvents().map { "\($0.process) \($0.event)" }) ?? [])") { try h.trackingEvents().contains { $0.process == "keep" && $0.event == .failed } }
            #expect(try await h.session("keep")?.inflight == 1)
            let kinds = try h.trackingEvents().filter { $0.process == "dead" }.map(\.event)
            #expect(kinds == [.received, .retried, .failed, .deadLettered], "\(kinds)")
        }
    }

    @Test("Filter, map, split and an appended file: one line per element that passes")
    func splitMapFile() async throws {
        let harness = try EngineHarness(
            connectors: ["local": Self.broker, "lines": #"{"type": "file", "directory": "out"}"#],
            processes: ["batch": """
                {"listen": {"connector": "local", "topic": "batch", "qos": 1, "archiving": {"directory": "archive"}},
                 "steps": [{"split": {"field": "payload.items"}},
                           {"filter": {"field": "payload.n", "gte": 2}},
                           {"map": {"n": "{{payload.n}}", "from": "{{topic}}"}},
                           {"send": {"connector": "lines", "name": "batch.jsonl", "mode": "append"}}]}
                """])
        try await harness.run { h in
            try await h.broker.publish(topic: "batch", payload: ByteBuffer(string: #"{"items": [{"n": 1}, {"n": 2}, {"n": 3}]}"#), qos: .atLeastOnce)
            try await waitUntil("document completed") { try h.trackingEvents().contains { $0.event == .completed } }
            let lines = try String(contentsOf: h.root.appendingPathComponent("out/batch.jsonl"), encoding: .utf8)
            #expect(lines == "{\"from\":\"batch\",\"n\":2}\n{\"from\":\"batch\",\"n\":3}\n")
            let events = try h.trackingEvents()
            #expect(events.filter { $0.event == .filtered }.count == 1)
            let archived = try FileManager.default.contentsOfDirectory(atPath: h.root.appendingPathComponent("archive").path)
            #expect(archived.filter { $0.hasSuffix(".meta.json") }.count == 1 && archived.count == 2)
            try await waitUntil("acknowledged") { try await h.session("batch")?.inflight == 0 }
        }
    }
}
