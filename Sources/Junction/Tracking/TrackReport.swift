import Foundation

/// Which documents `junction track` shows.
public struct TrackQuery: Sendable, Hashable {
    /// A document id; its split parts (`<id>.<n>`) match too.
    public var id: String?
    public var process: String?
    /// Tracking fields every shown document carries with these values.
    public var fields: [String: String]
    /// Only documents with an event at or after this time.
    public var since: Date?

    public init(id: String? = nil, process: String? = nil, fields: [String: String] = [:], since: Date? = nil) {
        self.id = id
        self.process = process
        self.fields = fields
        self.since = since
    }

    /// Whether one event belongs to what is asked (for `--follow`, event by event).
    public func matches(_ event: TrackingEvent) -> Bool {
        if let id, event.document != id, !event.document.hasPrefix(id + ".") { return false }
        if let process, event.process != process { return false }
        if let since, event.time < since { return false }
        for (name, value) in fields where event.fields?[name] != value { return false }
        return true
    }

    /// Whether a document's path (its events) is shown.
    public func matches(_ path: TrackedDocument) -> Bool {
        guard !path.events.isEmpty else { return false }
        if let id, path.id != id, !path.id.hasPrefix(id + ".") { return false }
        if let process, !path.events.contains(where: { $0.process == process }) { return false }
        if let since, !path.events.contains(where: { $0.time >= since }) { return false }
        for (name, value) in fields where !path.events.contains(where: { $0.fields?[name] == value }) { return false }
        return true
    }
}

/// The events of one document, in the order they happened.
public struct TrackedDocument: Sendable, Hashable {
    public var id: String
    public var events: [TrackingEvent]

    public init(id: String, events: [TrackingEvent]) {
        self.id = id
        self.events = events
    }

    public var process: String { events.first?.process ?? "" }
}

/// Reading and showing tracking files (`<data>/tracking/*.jsonl`) for `junction track`.
public enum TrackReport {
    /// Decodes the timestamps `TrackingLog` writes.
    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            return try Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true))
        }
        return decoder
    }

    public static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.iso8601(date))
        }
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// The tracking files of `directory`, oldest day first.
    public static func files(in directory: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".jsonl") }.sorted().map { directory.appendingPathComponent($0) }
    }

    /// The events of JSON lines; lines that do not decode (a line being written) are skipped.
    public static func events(fromLines text: String, decoder: JSONDecoder = makeDecoder()) -> [TrackingEvent] {
        text.split(separator: "\n").compactMap { try? decoder.decode(TrackingEvent.self, from: Data($0.utf8)) }
    }

    /// Every event of every tracking file in `directory`.
    public static func events(in directory: URL) -> [TrackingEvent] {
        let decoder = makeDecoder()
        return files(in: directory).flatMap { file in
            events(fromLines: (try? String(contentsOf: file, encoding: .utf8)) ?? "", decoder: decoder)
        }
    }

    /// Events grouped by document, documents in the order of their first event.
    public static func documents(_ events: [TrackingEvent]) -> [TrackedDocument] {
        var order: [String] = []
        var byID: [String: [TrackingEvent]] = [:]
        for event in events {
            if byID[event.document] == nil { order.append(event.document) }
            byID[event.document, default: []].append(event)
        }
        return order.map { id in
            // stable sort by time: events written in order keep it when times tie
            let sorted = byID[id, default: []].enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }.map(\.element)
            return TrackedDocument(id: id, events: sorted)
        }.sorted { ($0.events.first?.time ?? .distantPast) < ($1.events.first?.time ?? .distantPast) }
    }

    /// The documents `query` asks for.
    public static func select(_ events: [TrackingEvent], _ query: TrackQuery) -> [TrackedDocument] {
        documents(events).filter(query.matches)
    }

    /// One block per document: its id and process, then one line per event.
    public static func render(_ document: TrackedDocument) -> String {
        var lines = ["\(document.id)  process \(document.process)"]
        for event in document.events { lines.append("  " + line(event)) }
        return lines.joined(separator: "\n")
    }

    /// One event: time, event, step, connector/topic, QoS, bytes, duration, fields, error.
    public static func line(_ event: TrackingEvent) -> String {
        var parts = [Timestamp.iso8601(event.time), event.event.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)]
        if let step = event.step { parts.append("step \(step)") }
        switch (event.connector, event.topic) {
        case (let connector?, let topic?): parts.append("\(connector)/\(topic)")
        case (let connector?, nil): parts.append(connector)
        case (nil, let topic?): parts.append(topic)
        case (nil, nil): break
        }
        if let qos = event.qos { parts.append("qos \(qos)") }
        if let bytes = event.bytes { parts.append("\(bytes) B") }
        if let duration = event.durationMs { parts.append(String(format: "%.1f ms", duration)) }
        if let fields = event.fields, !fields.isEmpty {
            parts.append(fields.keys.sorted().map { "\($0)=\(fields[$0] ?? "")" }.joined(separator: " "))
        }
        if let error = event.error { parts.append("error: \(error)") }
        return parts.joined(separator: "  ")
    }

    /// One JSON line per event, in the tracking file's format.
    public static func json(_ event: TrackingEvent, encoder: JSONEncoder = makeEncoder()) -> String {
        (try? encoder.encode(event)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// The whole report: blocks separated by blank lines, or JSON lines.
    public static func report(_ documents: [TrackedDocument], json asJSON: Bool) -> String {
        if asJSON {
            let encoder = makeEncoder()
            return documents.flatMap(\.events).map { json($0, encoder: encoder) }.joined(separator: "\n")
        }
        return documents.map(render).joined(separator: "\n\n")
    }

    /// `30s`, `15m`, `1h`, `2d` (or plain seconds) as a time interval.
    public static func interval(_ text: String) -> TimeInterval? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        if let value = Double(text) { return value >= 0 ? value : nil }
        guard let unit = text.last, let scale = units[unit], let value = Double(text.dropLast()), value >= 0 else { return nil }
        return value * scale
    }
}
