import Foundation
import NIOCore

/// Archiving (DESIGN §4): the payload plus a `.meta.json` sidecar, each written atomically
/// (temporary file and rename) under the directory, named so they sort by time.
public struct Archiver: Sendable {
    public let directory: URL

    public init(directory: URL) { self.directory = directory }

    /// Writes the document; returns the payload file.
    @discardableResult
    public func archive(_ document: Document, process: String, now: Date = Date()) throws -> URL {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let stamp = Timestamp.iso8601(now).replacingOccurrences(of: ":", with: "").replacingOccurrences(of: "-", with: "")
        let base = "\(stamp)-\(document.id)"
        let payloadFile = directory.appendingPathComponent(base + (document.json() == nil ? ".bin" : ".json"))
        try Data(bytesOf: document.payload).write(to: payloadFile, options: .atomic)
        var meta: [String: String] = document.properties
        meta["id"] = document.id
        meta["process"] = process
        meta["time"] = Timestamp.iso8601(now)
        if let topic = document.topic { meta["topic"] = topic }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(meta).write(to: directory.appendingPathComponent(base + ".meta.json"), options: .atomic)
        return payloadFile
    }

    /// Removes archived files older than `retention` milliseconds; returns how many.
    @discardableResult
    public func purge(olderThan retention: Int64, now: Date = Date()) -> Int {
        let cutoff = now.addingTimeInterval(-Double(retention) / 1000)
        let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: [.contentModificationDateKey])) ?? []
        var removed = 0
        for file in files {
            let modified = (try? file.resourceValues(forKeys: [.contentModificationDateKey]))?.contentModificationDate ?? now
            if modified < cutoff, (try? FileManager.default.removeItem(at: file)) != nil { removed += 1 }
        }
        return removed
    }
}

extension Data {
    init(bytesOf buffer: ByteBuffer) {
        self = buffer.withUnsafeReadableBytes { Data($0) }
    }
}
