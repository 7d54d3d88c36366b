import Foundation
import Junction
import Logging
import MQTTBroker
import MQTTCore
import NIOCore
import Testing

@Suite("Retention: archives and tracking files", .timeLimit(.minutes(1)))
struct RetentionTests {
    static let day: TimeInterval = 86_400

    func temporaryFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("retention-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    func names(_ folder: URL) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])
    }

    func setModified(_ file: URL, _ date: Date) throws {
        try FileManager.default.setAttributes([.modificationDate: date], ofItemAtPath: file.path)
    }

    @Test("An archive purge removes the payload and sidecar of documents older than the retention, by the time in their names")
    func archivePurge() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let archiver = Archiver(directory: folder)
        let now = Date()
        let old = try archiver.archive(Document(payload: ByteBuffer(string: #"{"a": 1}"#)), process: "p", now: now - 31 * Self.day)
        let recent = try archiver.archive(Document(payload: ByteBuffer(string: "bytes")), process: "p", now: now - 29 * Self.day)
        // A stray file without a time in its name is judged by its modification time.
        let stray = folder.appendingPathComponent("notes.txt")
        try Data("x".utf8).write(to: stray)
        try setModified(stray, now - 40 * Self.day)
        let strayRecent = folder.appendingPathComponent("readme.txt")
        try Data("y".utf8).write(to: strayRecent)
        // The old document's files were just written: their modification time is now, their name says 31 days.
        #expect(archiver.purge(olderThan: 30 * 86_400_000, now: now) == 3)
        let recentBase = recent.deletingPathExtension().lastPathComponent
        #expect(names(folder) == [recent.lastPathComponent, recentBase + ".meta.json", "readme.txt"])
        #expect(!FileManager.default.fileExists(atPath: old.path))
    }

    @Test("Tracking day files older than the retention are removed; today's file stays")
    func trackingPurge() async throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let log = TrackingLog(directory: folder, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let now = try Date("2026-03-10T08:00:00Z", strategy: .iso8601)
        for day in ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-09"] {
            try Data("{}\n".utf8).write(to: folder.appendingPathComponent("\(day).jsonl"))
        }
        log.record(TrackingEvent(time: now, event: .received, document: "d", process: "p"))
        log.flush()
        try Data("keep".utf8).write(to: folder.appendingPathComponent("other.txt"))
        // 7 days before 2026-03-10T08:00 is 2026-03-03T08:00: the 3rd had not ended yet.
        #expect(log.purge(olderThan: 7 * 86_400_000, now: now) == ["2026-03-01.jsonl", "2026-03-02.jsonl"])
        #expect(names(folder) == ["2026-03-03.jsonl", "2026-03-09.jsonl", "2026-03-10.jsonl", "other.txt"])
        #expect(log.purge(olderThan: 1, now: now) == ["2026-03-03.jsonl", "2026-03-09.jsonl"])
        #expect(names(folder) == ["2026-03-10.jsonl", "other.txt"])
        await log.close()
    }

    @Test("The engine purges at start and then periodically: archives by their retention, tracking by the daemon's")
    func engineRetention() async throws {
        let root = try temporaryFolder()
        for folder in ["Connectors", "Processes"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try Data(#"{"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}}"#.utf8).write(to: root.appendingPathComponent("Connectors/local.json"))
        try Data(#"{"type": "file", "directory": "out"}"#.utf8).write(to: root.appendingPathComponent("Connectors/out.json"))
        try Data("""
            {"listen": {"connector": "local", "topic": "a", "qos": 1, "archiving": {"directory": "archive/in", "retention": "2d"}},
             "steps": [{"send": {"connector": "out", "name": "x", "archiving": {"directory": "archive/out", "retention": "1h"}}}]}
            """.utf8).write(to: root.appendingPathComponent("Processes/keep.json"))
        let definitions = DefinitionLoader.load(processes: root.appendingPathComponent("Processes").path,
                                                connectors: root.appendingPathComponent("Connectors").path)
        #expect(definitions.problems.isEmpty, "\(definitions.problems)")
        let now = Date()
        let archiveIn = Archiver(directory: root.appendingPathComponent("archive/in"))
        let archiveOut = Archiver(directory: root.appendingPathComponent("archive/out"))
        let oldIn = try archiveIn.archive(Document(payload: ByteBuffer(string: "old")), process: "keep", now: now - 3 * Self.day)
        let newIn = try archiveIn.archive(Document(payload: ByteBuffer(string: "new")), process: "keep", now: now - Self.day)
        let oldOut = try archiveOut.archive(Document(payload: ByteBuffer(string: "old")), process: "keep", now: now - 7200)
        let tracking = root.appendingPathComponent(".junction/tracking")
        try FileManager.default.createDirectory(at: tracking, withIntermediateDirectories: true)
        try Data("{}\n".utf8).write(to: tracking.appendingPathComponent("2020-01-01.jsonl"))

        let harness = try EngineHarness(definitions: definitions, root: root, listeners: [], trackingRetention: 86_400_000, retentionInterval: .milliseconds(50))
        try await harness.run { h in
            try await waitUntil("old files purged at start") {
                !FileManager.default.fileExists(atPath: oldIn.path) && !FileManager.default.fileExists(atPath: oldOut.path)
                    && !FileManager.default.fileExists(atPath: tracking.appendingPathComponent("2020-01-01.jsonl").path)
            }
            #expect(FileManager.default.fileExists(atPath: newIn.path))
            // A file that turns old while the daemon runs goes at a later pass.
            let later = try archiveOut.archive(Document(payload: ByteBuffer(string: "later")), process: "keep", now: now - 3601)
            try await waitUntil("a later file purged periodically") { !FileManager.default.fileExists(atPath: later.path) }
            try await h.broker.publish(topic: "a", payload: ByteBuffer(string: "fresh"), qos: .atLeastOnce)
            try await waitUntil("fresh document archived and kept") { try await h.session("keep")?.inflight == 0 }
            #expect(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("archive/out").path).count == 2)
        }
    }

    @Test("archiving.retention must be a duration above zero")
    func retentionParsing() {
        let connectors = DefinitionLoader.load(processes: ShippedExamples.repository.appendingPathComponent("Processes").path,
                                               connectors: ShippedExamples.repository.appendingPathComponent("Connectors").path).connectors
        for (retention, message) in [
            (#""0d""#, #"expected a duration above zero, like "30d"; leave it out to keep every file"#),
            (#""month""#, #"expected a duration like "500ms", "10s", "5m", "1h" or "30d", found "month""#),
            ("30", #"expected a duration like "500ms", "10s", "5m", "1h" or "30d", found 30"#),
        ] {
            let json = #"{"listen": {"connector": "local-broker", "topic": "a", "archiving": {"directory": "d", "retention": \#(retention)}}}"#
            let reader = DefinitionReader(file: "Processes/p.json")
            _ = ProcessDefinition.parse(name: "p", reader.parse(Data(json.utf8)), reader: reader, connectors: connectors)
            #expect(reader.problems.map { "\($0.path): \($0.message)" } == ["listen.archiving.retention: \(message)"])
        }
    }
}
