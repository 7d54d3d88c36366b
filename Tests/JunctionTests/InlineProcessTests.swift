import Foundation
import Junction
import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// Processes whose steps only transform and send to the embedded broker run inline: their
/// messages go to the broker with the acknowledgement (`MQTTBroker.forward(_:acknowledging:)`).
/// The failures of such steps take the usual way.
@Suite("Engine: inline processes (transform and send to the embedded broker)", .timeLimit(.minutes(1)))
struct InlineProcessTests {
    static let broker = #"{"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}}"#

    /// Two sends; the second refuses payloads over 4 bytes.
    static func process(deadLetter: Bool) -> String {
        """
        {"listen": {"connector": "local", "topic": "in/+", "qos": 1, "tracking": {"n": "{{topic[1]}}"}},
         "steps": [{"filter": {"field": "payload", "ne": "skip"}},
                   {"send": {"connector": "local", "topic": "out/first", "qos": 1}},
                   {"send": {"connector": "local", "topic": "out/second", "qos": 1, "maxMessageSize": "4B"}}]
         \(deadLetter ? #", "onError": {"deadLetter": {"connector": "local", "topic": "dead/in"}}"# : "")}
        """
    }

    @Test("A step that fails for good: what the steps before it sent goes out, then the dead letter; the message is acknowledged")
    func failingStepDeadLettered() async throws {
        let harness = try EngineHarness(connectors: ["local": Self.broker], processes: ["relay": Self.process(deadLetter: true)])
        try await harness.run { h in
            let out = try await h.broker.subscribe(clientID: "reader", subscriptions: [MQTTSubscription(topicFilter: "out/#", qos: .atLeastOnce),
                                                                                      MQTTSubscription(topicFilter: "dead/#", qos: .atLeastOnce)],
                                                   cleanStart: true)
            try await h.broker.publish(topic: "in/1", payload: ByteBuffer(string: "ok"), qos: .atLeastOnce)
            try await h.broker.publish(topic: "in/2", payload: ByteBuffer(string: "too long"), qos: .atLeastOnce)
            var seen: [String] = []
            for _ in 0..<4 {
                let delivery = try await out.next()
                seen.append("\(delivery.topic) \(String(buffer: delivery.payload))")
                await delivery.ack()
            }
            #expect(seen == ["out/first ok", "out/second ok", "out/first too long", "dead/in too long"])
            try await waitUntil("both messages acknowledged") { try await h.session("relay")?.inflight == 0 }
            let events = try h.trackingEvents()
            #expect(events.filter { $0.fields?["n"] == "1" }.map(\.event) == [.received, .sent, .sent, .completed])
            let failed = events.filter { $0.fields?["n"] == "2" }
            #expect(failed.map(\.event) == [.received, .sent, .failed, .deadLettered])
            #expect(failed.first { $0.event == .failed }?.error?.contains("maxMessageSize") == true)
        }
    }

    @Test("Without a dead letter the failed message stays unacknowledged; a filtered one is acknowledged")
    func failingStepUnacknowledged() async throws {
        let harness = try EngineHarness(connectors: ["local": Self.broker], processes: ["relay": Self.process(deadLetter: false)])
        try await harness.run { h in
            try await h.broker.publish(topic: "in/1", payload: ByteBuffer(string: "too long"), qos: .atLeastOnce)
            try await h.broker.publish(topic: "in/2", payload: ByteBuffer(string: "skip"), qos: .atLeastOnce)
            try await waitUntil("both documents tracked") {
                let events = try h.trackingEvents()
                return events.contains { $0.event == .failed && $0.fields?["n"] == "1" } && events.contains { $0.event == .completed && $0.fields?["n"] == "2" }
            }
            #expect(try h.trackingEvents().filter { $0.fields?["n"] == "2" }.map(\.event) == [.received, .filtered, .completed])
            // The filtered message's acknowledgement is queued before its `completed` line: the query after it sees it done.
            #expect(try await h.session("relay")?.inflight == 1)
        }
    }

    @Test("A split inline: every element goes out in order, routed by its content with its send's QoS, and the QoS 2 message is acknowledged")
    func splitElementsThenAcknowledgement() async throws {
        let process = #"{"listen": {"connector": "local", "topic": "batch", "qos": 2}, "steps": [{"split": {"field": "payload.items"}}, {"route": {"cases": [{"when": {"field": "payload.kind", "eq": "a"}, "steps": [{"send": {"connector": "local", "topic": "items/a", "qos": 2}}]}], "otherwise": [{"send": {"connector": "local", "topic": "items/other", "qos": 1}}]}}]}"#
        let harness = try EngineHarness(connectors: ["local": Self.broker], processes: ["splitter": process])
        #expect(harness.engine.runners.first?.runsInline == true)
        try await harness.run { h in
            let items = try await h.broker.subscribe(clientID: "items", subscriptions: [MQTTSubscription(topicFilter: "items/#", qos: .exactlyOnce)],
                                                     cleanStart: true)
            let body = #"{"items": [{"kind": "a", "n": 1}, {"kind": "b", "n": 2}, {"kind": "a", "n": 3}]}"#
            try await h.broker.publish(topic: "batch", payload: ByteBuffer(string: body), qos: .exactlyOnce)
            var seen: [String] = []
            for _ in 0..<3 {
                let delivery = try await items.next()
                seen.append("\(delivery.topic) \(delivery.qos.rawValue) \(String(buffer: delivery.payload))")
                await delivery.ack()
            }
            #expect(seen == [#"items/a 2 {"kind":"a","n":1}"#, #"items/other 1 {"kind":"b","n":2}"#, #"items/a 2 {"kind":"a","n":3}"#], "\(seen)")
            try await waitUntil("the batch acknowledged") { try await h.session("splitter")?.inflight == 0 }
            let kinds = try h.trackingEvents().map(\.event)
            #expect(kinds.filter { $0 == .sent }.count == 3 && kinds.last == .completed, "\(kinds)")
        }
    }

    @Test("Which processes run inline: transforming steps and embedded MQTT sends only, no archiving or caching")
    func whichRunInline() throws {
        let send = #"{"send": {"connector": "local", "topic": "out", "qos": 1}}"#
        let processes = [
            "relay": #"{"listen": {"connector": "local", "topic": "in/#", "qos": 1}, "steps": [\#(send)]}"#,
            "routed": #"{"listen": {"connector": "local", "topic": "in/#"}, "steps": [{"set": {"a": "b"}}, {"route": {"cases": [{"when": {"field": "payload.x", "eq": 1}, "steps": [{"split": {"field": "payload.items"}}, \#(send)]}], "otherwise": [{"filter": {"field": "payload.y", "exists": true}}]}}]}"#,
            "archived": #"{"listen": {"connector": "local", "topic": "in/#", "archiving": {"directory": "a"}}, "steps": [\#(send)]}"#,
            "cached": #"{"listen": {"connector": "local", "topic": "in/#"}, "caches": {"c": {}}, "steps": [{"cache": {"cache": "c", "key": "k"}}, \#(send)]}"#,
            "tofile": #"{"listen": {"connector": "local", "topic": "in/#"}, "steps": [{"send": {"connector": "files", "name": "x"}}]}"#,
            "fromfile": #"{"listen": {"connector": "files", "glob": "*.json"}, "steps": [\#(send)]}"#,
        ]
        let harness = try EngineHarness(connectors: ["local": Self.broker, "files": #"{"type": "file", "directory": "f"}"#], processes: processes)
        defer { try? FileManager.default.removeItem(at: harness.root) }
        let inline = Dictionary(uniqueKeysWithValues: harness.engine.runners.map { ($0.context.name, $0.runsInline) })
        #expect(inline == ["relay": true, "routed": true, "archived": false, "cached": false, "tofile": false, "fromfile": false])
    }
}
