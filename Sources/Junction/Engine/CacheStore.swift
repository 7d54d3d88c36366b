import Foundation
import NIOCore

/// The named caches of a process (DESIGN §4 Caching): bounded by `maxEntries` (the oldest entry
/// goes first) and `ttl`, for the process's lifetime.
public actor CacheStore {
    struct Entry {
        var payload: ByteBuffer
        var expires: Date?
        var order: UInt64
    }

    private let definitions: [String: CacheDefinition]
    private var caches: [String: [String: Entry]] = [:]
    private var counter: UInt64 = 0

    public init(definitions: [String: CacheDefinition]) { self.definitions = definitions }

    public func put(_ cache: String, key: String, payload: ByteBuffer, now: Date = Date()) {
        guard let definition = definitions[cache] else { return }
        counter += 1
        let expires = definition.ttlMilliseconds.map { now.addingTimeInterval(Double($0) / 1000) }
        var entries = caches[cache, default: [:]]
        entries[key] = Entry(payload: payload, expires: expires, order: counter)
        if entries.count > definition.maxEntries, let oldest = entries.min(by: { $0.value.order < $1.value.order })?.key {
            entries[oldest] = nil
        }
        caches[cache] = entries
    }

    public func get(_ cache: String, key: String, now: Date = Date()) -> ByteBuffer? {
        guard let entry = caches[cache]?[key] else { return nil }
        if let expires = entry.expires, expires <= now {
            caches[cache]?[key] = nil
            return nil
        }
        return entry.payload
    }

    public func count(_ cache: String) -> Int { caches[cache]?.count ?? 0 }
}
