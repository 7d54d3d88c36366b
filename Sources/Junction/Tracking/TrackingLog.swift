import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Writes tracking events as JSON lines to `<data>/tracking/YYYY-MM-DD.jsonl` (UTC day) and as
/// structured log lines (debug level).
///
/// The engine's steps record from many tasks at once, so this is a pair of locks, not an actor.
/// Lines wait in memory for at most ``flushDelay`` (or until ``flushBytes`` are pending) and are
/// then written with one `write`: a `write` per event was a fifth of the engine's CPU per
/// document. A crash can lose the lines of the last ``flushDelay``; `flush()` writes them now,
/// and the daemon flushes at shutdown (this is a `Service` for that).
public final class TrackingLog: Service, Sendable {
    public let directory: URL
    private let logger: Logger
    private let metrics: EngineMetrics?
    private let state = Mutex(Pending())
    private let writer = Mutex(Writer())

    /// The longest a recorded line waits before it is written.
    public static let flushDelay: Duration = .milliseconds(10)
    /// Pending bytes that are written at once, without waiting for the delay.
    public static let flushBytes = 64 * 1024

    private struct Pending: ~Copyable {
        /// Lines of an earlier day, queued before the day changed.
        var sealed: [(day: String, bytes: [UInt8])] = []
        /// The lines of `day` not written yet.
        var lines = TrackingLine.Writer(capacity: TrackingLog.flushBytes + 4096)
        var day = ""
        var flushScheduled = false
        /// The UTC second of the last line, as text up to the `.` of its milliseconds, and its day.
        var second = Int64.min
        var secondText: [UInt8] = []
        var secondDay = ""
    }

    private struct Writer: ~Copyable {
        var day = ""
        var descriptor: Int32 = -1
        deinit { if descriptor >= 0 { Platform.close(descriptor) } }
    }

    public init(directory: URL, logger: Logger, metrics: EngineMetrics? = nil) {
        self.directory = directory
        self.logger = logger
        self.metrics = metrics
    }

    deinit { flush() }

    /// The file of a UTC day.
    public func file(for date: Date) -> URL {
        directory.appendingPathComponent(Self.dayString(date) + ".jsonl")
    }

    static func dayString(_ date: Date) -> String { String(Timestamp.iso8601(date).prefix(10)) }

    public func record(_ event: TrackingEvent) {
        metrics?.record(event)
        if logger.logLevel <= .debug {
            var metadata: Logger.Metadata = [
                "tracking.event": "\(event.event.rawValue)", "message.id": "\(event.document)", "process.name": "\(event.process)",
            ]
            if let step = event.step { metadata["process.step"] = "\(step)" }
            if let topic = event.topic { metadata["mqtt.topic"] = "\(topic)" }
            if let connector = event.connector { metadata["connector.name"] = "\(connector)" }
            if let error = event.error { metadata["error"] = "\(error)" }
            logger.debug("tracking", metadata: metadata)
        }
        let milliseconds = Int64((event.time.timeIntervalSince1970 * 1000).rounded())
        var (second, millis) = milliseconds.quotientAndRemainder(dividingBy: 1000)
        if millis < 0 { (second, millis) = (second - 1, millis + 1000) }
        let (now, schedule) = state.withLock { [second, millis] pending -> (Bool, Bool) in
            // The text of the current second is made once per second, not once per line.
            if second != pending.second {
                let text = Timestamp.iso8601(Date(timeIntervalSince1970: Double(second)))
                pending.second = second
                pending.secondText = Array(text.utf8.prefix(20))
                pending.secondDay = String(text.prefix(10))
            }
            if pending.lines.count > 0 && pending.day != pending.secondDay {
                pending.sealed.append((pending.day, Array(pending.lines.written)))
                pending.lines.removeAll()
            }
            pending.day = pending.secondDay
            // Encoded in place, at the end of the pending lines.
            TrackingLine.encode(event, second: pending.secondText, millis: Int(millis), into: &pending.lines)
            if pending.lines.count >= Self.flushBytes { return (true, false) }
            if pending.flushScheduled { return (false, false) }
            pending.flushScheduled = true
            return (false, true)
        }
        if now { flush() }
        if schedule {
            Task {
                try? await Task.sleep(for: Self.flushDelay)
                self.state.withLock { $0.flushScheduled = false }
                self.flush()
            }
        }
    }

    /// Writes every line recorded so far; when it returns they are in the file.
    public func flush() {
        writer.withLock { writer in
            let batches = state.withLock { pending -> [(day: String, bytes: [UInt8])] in
                var batches = pending.sealed
                pending.sealed = []
                if pending.lines.count > 0 { batches.append((pending.day, Array(pending.lines.written))) }
                pending.lines.removeAll()
                return batches
            }
            for batch in batches {
                if writer.day != batch.day || writer.descriptor < 0 {
                    if writer.descriptor >= 0 { Platform.close(writer.descriptor) }
                    writer.descriptor = openDay(batch.day)
                    writer.day = batch.day
                }
                if !Self.writeAll(batch.bytes, to: writer.descriptor) {
                    logger.error("cannot write tracking events", metadata: [
                        "error": "\(Platform.lastErrorDescription)", "file": "\(directory.path)/\(batch.day).jsonl",
                    ])
                }
            }
        }
    }

    /// As a `Service`: waits for graceful shutdown, then writes what is pending.
    public func run() async throws {
        try? await gracefulShutdown()
        flush()
    }

    /// Opens (creating) the file of `day` for appending; -1 when it cannot be opened.
    private func openDay(_ day: String) -> Int32 {
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // O_APPEND: every batch lands at the end even if another process appends to the same day.
        return Platform.openForAppending(directory.appendingPathComponent(day + ".jsonl").path)
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
        guard descriptor >= 0 else { return false }
        return bytes.withUnsafeBytes { Platform.writeAll($0, to: descriptor) }
    }

    /// Removes the day files (`YYYY-MM-DD.jsonl`) whose whole day ended more than `retention`
    /// milliseconds before `now`; the current day's file always stays. Returns the names removed.
    @discardableResult
    public func purge(olderThan retention: Int64, now: Date = Date()) -> [String] {
        let cutoff = now.addingTimeInterval(-Double(retention) / 1000)
        let today = Self.dayString(now)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var removed: [String] = []
        for name in names.sorted() where name.hasSuffix(".jsonl") {
            let day = String(name.dropLast(6))
            guard day != today, day.count == 10,
                  let start = try? Date(day + "T00:00:00Z", strategy: .iso8601.year().month().day().time(includingFractionalSeconds: false))
            else { continue }
            guard start.addingTimeInterval(86_400) <= cutoff else { continue }
            if (try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))) != nil { removed.append(name) }
        }
        return removed
    }

    /// Writes what is pending and closes the current file (the next write opens it again).
    public func close() async {
        flush()
        writer.withLock { writer in
            if writer.descriptor >= 0 { Platform.close(writer.descriptor) }
            writer.descriptor = -1
            writer.day = ""
        }
    }
}
