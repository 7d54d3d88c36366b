import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One tracking event (DESIGN §4): what happened to a document at one hop.
public struct TrackingEvent: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable, Hashable {
        case received, step, sent, filtered, retried, failed, deadLettered = "dead-lettered", completed
    }

    public var time: Date
    public var event: Kind
    public var document: String
    public var process: String
    public var step: Int?
    public var connector: String?
    public var topic: String?
    public var qos: Int?
    public var bytes: Int?
    /// Milliseconds since the document was received.
    public var durationMs: Double?
    public var fields: [String: String]?
    public var error: String?

    public init(time: Date = Date(), event: Kind, document: String, process: String, step: Int? = nil,
                connector: String? = nil, topic: String? = nil, qos: Int? = nil, bytes: Int? = nil,
                durationMs: Double? = nil, fields: [String: String]? = nil, error: String? = nil) {
        self.time = time
        self.event = event
        self.document = document
        self.process = process
        self.step = step
        self.connector = connector
        self.topic = topic
        self.qos = qos
        self.bytes = bytes
        self.durationMs = durationMs
        self.fields = fields
        self.error = error
    }
}

/// Writes tracking events as JSON lines to `<data>/tracking/YYYY-MM-DD.jsonl` (UTC day) and as
/// structured log lines (debug level).
///
/// The engine's steps record from many tasks at once, so this is a lock, not an actor: the first
/// caller that finds no write in progress writes its line and then whatever others queued
/// meanwhile, in one `write` per batch; the others return at once. Every line is in the file
/// when `record` returns, or in the batch that the writing caller is about to write.
public final class TrackingLog: Sendable {
    public let directory: URL
    private let logger: Logger
    private let metrics: EngineMetrics?
    private let state = Mutex(State())

    private struct State: ~Copyable {
        var pending: [UInt8] = []
        var writing = false
        var day = ""
        var descriptor: Int32 = -1
        deinit { if descriptor >= 0 { _ = Glibc.close(descriptor) } }
    }

    public init(directory: URL, logger: Logger, metrics: EngineMetrics? = nil) {
        self.directory = directory
        self.logger = logger
        self.metrics = metrics
    }

    /// The file of a UTC day.
    public func file(for date: Date) -> URL {
        directory.appendingPathComponent(Self.dayString(date) + ".jsonl")
    }

    static func dayString(_ date: Date) -> String { String(Timestamp.iso8601(date).prefix(10)) }

    public func record(_ event: TrackingEvent) async {
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
        let time = Timestamp.iso8601(event.time)
        var line = TrackingLine.encode(event, time: time)
        line.append(0x0A)
        write(line, day: String(time.prefix(10)), document: event.document)
    }

    /// Queues `line`; writes the queue unless another caller is writing it.
    private func write(_ line: [UInt8], day: String, document: String) {
        let batch: (bytes: [UInt8], descriptor: Int32)? = state.withLock { state in
            // Lines queued behind a write go to the file open then (at midnight: the day before).
            state.pending += line
            if state.writing { return nil }
            state.writing = true
            if state.day != day || state.descriptor < 0 {
                if state.descriptor >= 0 { _ = Glibc.close(state.descriptor) }
                state.descriptor = openDay(day)
                state.day = day
            }
            let bytes = state.pending
            state.pending = []
            return (bytes, state.descriptor)
        }
        guard var batch else { return }
        while true {
            if !Self.writeAll(batch.bytes, to: batch.descriptor) {
                logger.error("cannot write tracking events", metadata: [
                    "error": "\(String(cString: strerror(errno)))", "message.id": "\(document)", "file": "\(directory.path)/\(day).jsonl",
                ])
            }
            let next: (bytes: [UInt8], descriptor: Int32)? = state.withLock { state in
                guard !state.pending.isEmpty else {
                    state.writing = false
                    return nil
                }
                let bytes = state.pending
                state.pending = []
                return (bytes, state.descriptor)
            }
            guard let next else { return }
            batch = next
        }
    }

    /// Opens (creating) the file of `day` for appending; -1 when it cannot be opened.
    private func openDay(_ day: String) -> Int32 {
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // O_APPEND: every batch lands at the end even if another process appends to the same day.
        return open(directory.appendingPathComponent(day + ".jsonl").path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
        guard descriptor >= 0 else { return false }
        return bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += written
            }
            return true
        }
    }

    /// Closes the current file (the next event opens it again).
    public func close() async {
        state.withLock { state in
            guard !state.writing, state.descriptor >= 0 else { return }
            _ = Glibc.close(state.descriptor)
            state.descriptor = -1
            state.day = ""
        }
    }
}
