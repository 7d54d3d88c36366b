import Foundation
import Junction
import Logging
import Testing

@Suite("Tracking log: the JSON lines written by hand read back as the events", .timeLimit(.minutes(1)))
final class TrackingLogTests {
    /// Each test gets a log of its own in a fresh directory, removed after the test.
    private let directory: URL
    private let log: TrackingLog

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("tracking-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        log = TrackingLog(directory: directory, logger: Logger(label: "test"))
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    /// Millisecond times, as the lines carry them.
    private func millis(_ seconds: Double) -> Date { Date(timeIntervalSince1970: (seconds * 1000).rounded() / 1000) }

    @Test("every field, escapes and Unicode round-trip through the file and TrackReport's decoder")
    func roundTrip() async throws {
        let time = millis(1_780_000_000.123)
        let events = [
            TrackingEvent(time: time, event: .received, document: "d1", process: "orders", topic: "orders/new", qos: 1, bytes: 42,
                          durationMs: 0, fields: ["order": "A-1", "note": "quote \" backslash \\ slash / tab \t nl \n nul \u{0} é ✓"]),
            TrackingEvent(time: time, event: .deadLettered, document: "d1", process: "orders", step: 2, connector: "ops-api",
                          durationMs: 12.345, error: "HTTP 503: \"busy\"\r\n"),
            TrackingEvent(time: time, event: .completed, document: "d2", process: "p/with/slashes"),
        ]
        for event in events { log.record(event) }
        log.flush()
        let lines = try String(contentsOf: log.file(for: time), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3)
        let decoder = TrackReport.makeDecoder()
        var decoded = try lines.map { try decoder.decode(TrackingEvent.self, from: Data($0.utf8)) }
        // Times go through millisecond text: equal to the millisecond, not to the last bit of a Double.
        for index in decoded.indices {
            #expect(abs(decoded[index].time.timeIntervalSince(events[index].time)) < 0.0005)
            decoded[index].time = events[index].time
        }
        #expect(decoded == events)
        #expect(lines[2] == #"{"document":"d2","event":"completed","process":"p/with/slashes","time":"2026-05-28T20:26:40.123Z"}"#)
    }

    @Test("a line longer than the pending buffer (a 200 KB error, every byte escaped) is written whole, and the lines around it too")
    func lineLargerThanTheBuffer() async throws {
        let time = millis(1_780_000_000.5)
        let long = String(repeating: "\"\u{1}", count: 100_000)
        let events = [TrackingEvent(time: time, event: .received, document: "a", process: "p", bytes: 12_345_678_901),
                      TrackingEvent(time: time, event: .failed, document: "a", process: "p", step: 3, error: long),
                      TrackingEvent(time: time, event: .completed, document: "b", process: "p", durationMs: -0.5)]
        for event in events { log.record(event) }
        log.flush()
        let lines = try String(contentsOf: log.file(for: time), encoding: .utf8).split(separator: "\n")
        let decoder = TrackReport.makeDecoder()
        let decoded = try lines.map { try decoder.decode(TrackingEvent.self, from: Data($0.utf8)) }
        #expect(decoded.map(\.error) == [nil, long, nil])
        #expect(decoded.map(\.bytes) == [12_345_678_901, nil, nil])
        #expect(decoded.last?.durationMs == -0.5)
    }

    @Test("a character that needs escaping is escaped wherever it sits in a string, and lines of interleaved seconds keep their times")
    func escapingAtEveryOffset() async throws {
        let base = 1_780_000_000.0
        // Seconds interleaved as concurrent recorders interleave them: each line keeps its own.
        let times = [millis(base + 0.999), millis(base + 1.0), millis(base + 0.001), millis(base + 59.5)]
        var events: [TrackingEvent] = []
        for special in ["\"", "\\", "\n", "\u{1}", "\u{1F}", " ", "!", "#", "[", "]", "\u{7F}", "é", "✓"] {
            for offset in 0..<20 {
                let text = String(repeating: "a", count: offset) + special + String(repeating: "b", count: 19 - offset)
                events.append(TrackingEvent(time: times[events.count % times.count], event: .step, document: "d\(events.count)",
                                            process: "p", topic: text))
            }
        }
        for event in events { log.record(event) }
        log.flush()
        let lines = try String(contentsOf: log.file(for: times[0]), encoding: .utf8).split(separator: "\n")
        let decoder = TrackReport.makeDecoder()
        let decoded = try lines.map { try decoder.decode(TrackingEvent.self, from: Data($0.utf8)) }
        #expect(decoded.map(\.topic) == events.map(\.topic))
        let milliseconds = { (event: TrackingEvent) in Int64((event.time.timeIntervalSince1970 * 1000).rounded()) }
        #expect(decoded.map(milliseconds) == events.map(milliseconds))
    }

    @Test("durations are written as the shortest text of the same number")
    func durations() async throws {
        let time = millis(1_780_000_000)
        let durations: [Double] = [0, 0.005, 0.01, 0.1, 1.5, 2, 10.25, 999.999, 1234.567, 86_400_000.001, -3.25, 0.0000001, 1e20]
        for (index, duration) in durations.enumerated() {
            log.record(TrackingEvent(time: time, event: .step, document: "d\(index)", process: "p", durationMs: duration))
        }
        log.flush()
        let lines = try String(contentsOf: log.file(for: time), encoding: .utf8).split(separator: "\n")
        let decoder = TrackReport.makeDecoder()
        let decoded = try lines.map { try decoder.decode(TrackingEvent.self, from: Data($0.utf8)).durationMs }
        #expect(decoded == durations)
        let texts = lines.map { line in line.split(separator: ",").first { $0.hasPrefix("\"durationMs\":") }.map { String($0.dropFirst(13)) } }
        #expect(texts.prefix(11) == ["0", "0.005", "0.01", "0.1", "1.5", "2", "10.25", "999.999", "1234.567", "86400000.001", "-3.25"])
    }

    @Test("a recorded line reaches the file by itself within the flush delay")
    func flushesByItself() async throws {
        let time = millis(1_780_000_000)
        log.record(TrackingEvent(time: time, event: .received, document: "alone", process: "p"))
        try await waitUntil("the line is in the file") {
            (try? String(contentsOf: log.file(for: time), encoding: .utf8))?.contains("\"alone\"") == true
        }
    }

    @Test("concurrent recorders: every line whole, none lost")
    func concurrentWriters() async throws {
        let time = millis(1_780_000_000)
        let log = self.log
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for index in 0..<250 {
                        log.record(TrackingEvent(time: time, event: .step, document: "t\(task)-\(index)", process: "p",
                                                       fields: ["payload": String(repeating: "x", count: index)]))
                    }
                }
            }
        }
        log.flush()
        let lines = try String(contentsOf: log.file(for: time), encoding: .utf8).split(separator: "\n")
        let decoder = TrackReport.makeDecoder()
        let documents = try Set(lines.map { try decoder.decode(TrackingEvent.self, from: Data($0.utf8)).document })
        #expect(lines.count == 2000)
        #expect(documents.count == 2000)
    }
}
