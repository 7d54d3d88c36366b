import Foundation

/// Follows tracking files as they grow: each call returns the complete lines appended since
/// the previous one (a partial last line waits for its newline), new day files included.
public final class TrackFollower {
    public let directory: URL
    private var offsets: [String: UInt64] = [:]
    private let decoder = TrackReport.makeDecoder()

    /// Starts at the end of the files there now when `fromEnd`, else at their beginning.
    public init(directory: URL, fromEnd: Bool) {
        self.directory = directory
        if fromEnd {
            for file in TrackReport.files(in: directory) {
                let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.uint64Value ?? 0
                offsets[file.lastPathComponent] = size
            }
        }
    }

    public func poll() -> [TrackingEvent] {
        var events: [TrackingEvent] = []
        for file in TrackReport.files(in: directory) {
            let name = file.lastPathComponent
            guard let handle = try? FileHandle(forReadingFrom: file) else { continue }
            defer { try? handle.close() }
            let offset = offsets[name] ?? 0
            do {
                try handle.seek(toOffset: offset)
                guard let data = try handle.readToEnd(), let end = data.lastIndex(of: 0x0A) else { continue }
                let complete = data[data.startIndex...end]
                offsets[name] = offset + UInt64(complete.count)
                events += TrackReport.events(fromLines: String(decoding: complete, as: UTF8.self), decoder: decoder)
            } catch {
                continue
            }
        }
        return events
    }
}
