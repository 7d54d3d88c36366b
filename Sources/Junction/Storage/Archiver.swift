import Foundation
import NIOCore

/// Archiving (docs/design.md): the payload plus a `.meta.json` sidecar, each written atomically
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

    /// Removes archived documents older than `retention` milliseconds and returns how many
    /// files went. A file's age is the time at the start of its name (archive files are named
    /// `20240501T123456.789Z-<id>…`, so a payload and its `.meta.json` go together); a file
    /// whose name carries no time is judged by its modification time. Folders are left alone.
    @discardableResult
    public func purge(olderThan retention: Int64, now: Date = Date()) -> Int {
        let cutoff = now.addingTimeInterval(-Double(retention) / 1000)
        let keys: [URLResourceKey] = [.contentModificationDateKey, .isRegularFileKey]
        let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: keys)) ?? []
        var removed = 0
        for file in files {
            guard let values = try? file.resourceValues(forKeys: Set(keys)), values.isRegularFile == true else { continue }
            let time = Self.time(inName: file.lastPathComponent) ?? values.contentModificationDate ?? now
            if time < cutoff, (try? FileManager.default.removeItem(at: file)) != nil { removed += 1 }
        }
        return removed
    }

    /// The time an archive file name starts with (`20240501T123456.789Z`), or nil.
    static func time(inName name: String) -> Date? {
        let stamp = name.prefix(20)
        guard stamp.count == 20 else { return nil }
        var text = String(stamp)
        // 20240501T123456.789Z → 2024-05-01T12:34:56.789Z
        for (offset, mark) in [(4, "-"), (7, "-"), (13, ":"), (16, ":")] {
            text.insert(contentsOf: mark, at: text.index(text.startIndex, offsetBy: offset))
        }
        return try? Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true))
    }
}

extension Data {
    init(bytesOf buffer: ByteBuffer) {
        self = buffer.withUnsafeReadableBytes { Data($0) }
    }
}
