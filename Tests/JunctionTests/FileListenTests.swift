import Foundation
import Junction
import MQTTBroker
import MQTTCore
import NIOCore
import Testing

@Suite("Engine: File Listen", .timeLimit(.minutes(1)))
struct FileListenTests {
    static let local = #"{"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}}"#

    func files(_ folder: URL) -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { !$0.hasPrefix(".") })
    }

    @Test("Files matching the glob are split and published, then moved to processed/; a failing one to failed/")
    func pickUpSplitAndMove() async throws {
        let harness = try EngineHarness(
            connectors: ["local": Self.local, "inbox": #"{"type": "file", "directory": "inbox"}"#],
            processes: ["files": """
                {"listen": {"connector": "inbox", "glob": "*.json", "poll": "20ms", "tracking": {"file": "{{properties.file.name}}"}},
                 "maxInFlight": 2,
                 "steps": [{"split": {}}, {"send": {"connector": "local", "topic": "items/{{payload.id}}", "qos": 1}}]}
                """])
        let inbox = harness.root.appendingPathComponent("inbox")
        try await harness.run(until: { FileManager.default.fileExists(atPath: inbox.path) }) { h in
            let items = try await h.broker.subscribe(clientID: "items", subscriptions: [MQTTSubscription(topicFilter: "items/#", qos: .atLeastOnce)], cleanStart: true)
            try Data(#"[{"id": 1}, {"id": 2}]"#.utf8).write(to: inbox.appendingPathComponent("a.json"))
            try Data(#"[{"id": 3}]"#.utf8).write(to: inbox.appendingPathComponent("b.json"))
            try Data(#"{"not": "an array"}"#.utf8).write(to: inbox.appendingPathComponent("bad.json"))
            try Data("ignored".utf8).write(to: inbox.appendingPathComponent("notes.txt"))
            try Data("[]".utf8).write(to: inbox.appendingPathComponent(".hidden.json"))
            var topics: Set<String> = []
            for _ in 0..<3 {
                let delivery = try #require(await withTimeout(.seconds(15)) { await items.first { _ in true } }, "no delivery within 15 s")
                topics.insert(delivery.topic)
                await delivery.ack()
            }
            #expect(topics == ["items/1", "items/2", "items/3"])
            try await waitUntil("files moved") {
                files(inbox.appendingPathComponent("processed")) == ["a.json", "b.json"]
                    && files(inbox.appendingPathComponent("failed")) == ["bad.json"]
            }
            #expect(files(inbox) == ["notes.txt", "processed", "failed"])
            #expect(FileManager.default.fileExists(atPath: inbox.appendingPathComponent(".hidden.json").path))
            let events = try h.trackingEvents()
            #expect(events.contains { $0.event == .failed && $0.fields?["file"] == "bad.json" })
            #expect(events.filter { $0.event == .completed && $0.fields?["file"] == "a.json" }.count == 1)
        }
    }

    @Test("A failing file with a dead letter is dead-lettered and ends in processed/")
    func deadLettered() async throws {
        let harness = try EngineHarness(
            connectors: ["local": Self.local, "inbox": #"{"type": "file", "directory": "inbox"}"#],
            processes: ["files": """
                {"listen": {"connector": "inbox", "glob": "*.json", "poll": "50ms"},
                 "steps": [{"split": {}}, {"send": {"connector": "local", "topic": "items/x", "qos": 1}}],
                 "onError": {"deadLetter": {"connector": "local", "topic": "dead/files"}}}
                """])
        let inbox = harness.root.appendingPathComponent("inbox")
        try await harness.run(until: { FileManager.default.fileExists(atPath: inbox.path) }) { h in
            let dead = try await h.broker.subscribe(clientID: "dead", subscriptions: [MQTTSubscription(topicFilter: "dead/#", qos: .atLeastOnce)], cleanStart: true)
            try Data("{}".utf8).write(to: inbox.appendingPathComponent("bad.json"))
            let letter = try #require(await withTimeout(.seconds(15)) { await dead.first { _ in true } }, "no dead letter within 15 s")
            #expect(String(buffer: letter.payload) == "{}")
            await letter.ack()
            try await waitUntil("dead-lettered file moved to processed/") {
                files(inbox.appendingPathComponent("processed")) == ["bad.json"]
            }
        }
    }
}
