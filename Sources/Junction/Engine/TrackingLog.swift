import Foundation
import Logging

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
/// structured log lines. An actor: the engine's steps call it from many tasks.
public actor TrackingLog {
    public let directory: URL
    private let logger: Logger
    private var handle: FileHandle?
    private var day = ""
    private let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.iso8601(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    private let metrics: EngineMetrics?

    public init(directory: URL, logger: Logger, metrics: EngineMetrics? = nil) {
        self.directory = directory
        self.logger = logger
        self.metrics = metrics
    }

    /// The file of a UTC day.
    public nonisolated func file(for date: Date) -> URL {
        directory.appendingPathComponent(Self.dayString(date) + ".jsonl")
    }

    static func dayString(_ date: Date) -> String { String(Timestamp.iso8601(date).prefix(10)) }

    public func record(_ event: TrackingEvent) {
        metrics?.record(event)
        var metadata: Logger.Metadata = [
            "tracking.event": "\(event.event.rawValue)", "message.id": "\(event.document)", "process.name": "\(event.process)",
        ]
        if let step = event.step { metadata["process.step"] = "\(step)" }
        if let topic = event.topic { metadata["mqtt.topic"] = "\(topic)" }
        if let connector = event.connector { metadata["connector.name"] = "\(connector)" }
        if let error = event.error { metadata["error"] = "\(error)" }
        logger.debug("tracking", metadata: metadata)
        do {
            var line = try encoder.encode(event)
            line.append(0x0A)
            try handleFor(event.time).write(contentsOf: line)
        } catch {
            logger.error("cannot write tracking event", metadata: ["error": "\(error)", "message.id": "\(event.document)"])
        }
    }

    private func handleFor(_ date: Date) throws -> FileHandle {
        let today = Self.dayString(date)
        if let handle, today == day { return handle }
        try handle?.close()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let url = file(for: date)
        // O_APPEND: every line lands at the end even if another process appends to the same day.
        let descriptor = open(url.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path]) }
        let opened = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        handle = opened
        day = today
        return opened
    }

    /// Removes the day files (`YYYY-MM-DD.jsonl`) whose whole day ended more than `retention`
    /// milliseconds before `now`; the current day's file always stays. Returns the names removed.
    @discardableResult
    public nonisolated func purge(olderThan retention: Int64, now: Date = Date()) -> [String] {
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

    /// Flushes and closes the current file.
    public func close() {
        try? handle?.close()
        handle = nil
    }
}
