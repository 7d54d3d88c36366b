import Foundation
import Junction
import Logging
import MQTTBroker
import MQTTCore
import NIOCore
import Testing

@Suite("junction track: grouping, filtering and printing tracking events", .timeLimit(.minutes(1)))
struct TrackReportTests {
    func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("track-\(UUID())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test("Events written by the engine group into one block per document, with filters by process, id and field")
    func fromEngine() async throws {
        let harness = try EngineHarness(connectors: ["local": #"{"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}}"#], processes: [
            "orders": #"{"listen": {"connector": "local", "topic": "orders/new", "qos": 1, "tracking": {"order": "{{payload.id}}"}}, "steps": [{"send": {"connector": "local", "topic": "orders/out", "qos": 1}}]}"#,
            "other": #"{"listen": {"connector": "local", "topic": "other", "qos": 1}, "steps": [{"filter": {"field": "payload.keep", "eq": true}}]}"#,
        ])
        let tracking = harness.root.appendingPathComponent(".junction/tracking")
        try await harness.run { h in
            try await h.broker.publish(topic: "orders/new", payload: ByteBuffer(string: #"{"id": 7}"#), qos: .atLeastOnce)
            try await h.broker.publish(topic: "orders/new", payload: ByteBuffer(string: #"{"id": 8}"#), qos: .atLeastOnce)
            try await h.broker.publish(topic: "other", payload: ByteBuffer(string: #"{"keep": false}"#), qos: .atLeastOnce)
            try await waitUntil("three documents completed") {
                TrackReport.events(in: tracking).filter { $0.event == .completed }.count == 3
            }
            let events = TrackReport.events(in: tracking)
            #expect(TrackReport.documents(events).count == 3)
            let orders = TrackReport.select(events, TrackQuery(process: "orders"))
            #expect(orders.count == 2 && orders.allSatisfy { $0.process == "orders" })

            let seven = TrackReport.select(events, TrackQuery(fields: ["order": "7"]))
            let document = try #require(seven.first)
            #expect(seven.count == 1)
            #expect(document.events.map(\.event) == [.received, .sent, .completed])
            let text = TrackReport.report(seven, json: false)
            let lines = text.split(separator: "\n").map(String.init)
            #expect(lines.count == 4, "\(text)")
            #expect(lines[0] == "\(document.id)  process orders")
            #expect(lines[1].contains("received") && lines[1].contains("local/orders/new") && lines[1].contains("order=7"))
            #expect(lines[2].contains("sent") && lines[2].contains("step 0") && lines[2].contains("local/orders/orders/out") == false
                    && lines[2].contains("local/orders/out") && lines[2].contains("qos 1") && lines[2].contains(" ms"))
            #expect(lines[3].contains("completed"))

            let byID = TrackReport.select(events, TrackQuery(id: document.id))
            #expect(byID == seven)
            let json = TrackReport.report(seven, json: true).split(separator: "\n")
            #expect(json.count == 3)
            #expect(TrackReport.events(fromLines: json.joined(separator: "\n")) == document.events)
            #expect(TrackReport.select(events, TrackQuery(process: "other")).first?.events.map(\.event).contains(.filtered) == true)
        }
    }

    @Test("Hand-written events: since, split parts under --id, errors shown, and --follow picks up appended lines only when complete")
    func handWrittenAndFollow() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let now = Date()
        let old = now.addingTimeInterval(-7200)
        let events = [
            TrackingEvent(time: old, event: .received, document: "old", process: "p", connector: "in"),
            TrackingEvent(time: old, event: .completed, document: "old", process: "p"),
            TrackingEvent(time: now, event: .received, document: "doc", process: "p", connector: "in", topic: "a/b"),
            TrackingEvent(time: now, event: .failed, document: "doc.1", process: "p", step: 2, error: "boom"),
        ]
        let encoder = TrackReport.makeEncoder()
        let file = directory.appendingPathComponent("2026-01-01.jsonl")
        try Data((events.map { TrackReport.json($0, encoder: encoder) }.joined(separator: "\n") + "\n").utf8).write(to: file)

        let follower = TrackFollower(directory: directory, fromEnd: false)
        let read = follower.poll()
        #expect(read.count == 4)
        let recent = TrackReport.select(read, TrackQuery(since: now.addingTimeInterval(-3600)))
        #expect(recent.map(\.id) == ["doc", "doc.1"])
        let parts = TrackReport.select(read, TrackQuery(id: "doc"))
        #expect(parts.map(\.id) == ["doc", "doc.1"])
        #expect(TrackReport.report(parts, json: false).contains("failed         step 2  error: boom"))
        #expect(TrackReport.interval("1h") == 3600 && TrackReport.interval("15m") == 900 && TrackReport.interval("x") == nil)

        // Appending: a partial line waits until its newline arrives.
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        try handle.seekToEnd()
        let line = TrackReport.json(TrackingEvent(time: now, event: .completed, document: "doc", process: "p"), encoder: encoder)
        try handle.write(contentsOf: Data(line.prefix(10).utf8))
        #expect(follower.poll().isEmpty)
        try handle.write(contentsOf: Data((line.dropFirst(10) + "\n").utf8))
        let appended = follower.poll()
        #expect(appended.map(\.event) == [.completed])
        #expect(follower.poll().isEmpty)
        #expect(TrackFollower(directory: directory, fromEnd: true).poll().isEmpty)
    }
}
