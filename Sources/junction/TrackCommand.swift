import ArgumentParser
import Foundation
import Junction

/// `junction track`: the path of documents through their processes, from the tracking files.
struct TrackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "track",
        abstract: "Show where documents went: one block per document with one line per tracking event.",
        discussion: "Reads <data>/tracking/*.jsonl. Filters combine; --follow prints new events as they are written until Ctrl-C."
    )

    @Option(help: "Data folder (tracking logs).")
    var data = ".junction"

    @Option(help: "A document id (its split parts <id>.<n> match too).")
    var id: String?

    @Option(help: "Only documents of this process.")
    var process: String?

    @Option(name: .customLong("field"), help: "A tracking field value, name=value (repeatable).")
    var fields: [String] = []

    @Option(help: "Only documents with events in this recent period: 30s, 15m, 1h, 2d.")
    var since: String?

    @Flag(help: "Keep printing new events as they are written.")
    var follow = false

    @Flag(help: "JSON lines (one tracking event per line) instead of text.")
    var json = false

    func query() throws -> TrackQuery {
        var query = TrackQuery(id: id, process: process)
        for field in fields {
            guard let equals = field.firstIndex(of: "="), equals != field.startIndex else {
                throw ValidationError("--field must be name=value, got \"\(field)\"")
            }
            query.fields[String(field[..<equals])] = String(field[field.index(after: equals)...])
        }
        if let since {
            guard let interval = TrackReport.interval(since) else { throw ValidationError("--since must be like 30s, 15m, 1h or 2d") }
            query.since = Date().addingTimeInterval(-interval)
        }
        return query
    }

    func run() async throws {
        let query = try query()
        let directory = URL(fileURLWithPath: data).appendingPathComponent("tracking")
        let follower = TrackFollower(directory: directory, fromEnd: false)
        let documents = TrackReport.select(follower.poll(), query)
        let report = TrackReport.report(documents, json: json)
        if !report.isEmpty { print(report) }
        guard follow else { return }
        let encoder = TrackReport.makeEncoder()
        while !Task.isCancelled {
            try await Task.sleep(for: .milliseconds(250))
            for event in follower.poll() where query.matches(event) {
                print(json ? TrackReport.json(event, encoder: encoder) : "\(event.document)  \(event.process)  \(TrackReport.line(event))")
            }
            fflush(nil)
        }
    }
}
