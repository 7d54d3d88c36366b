import Foundation
import GRDB
import Logging
import NIOCore

/// The named caches of a process (docs/design.md): bounded by `maxEntries` (the oldest entry
/// goes first) and `ttl`, for the process's lifetime. Caches marked `"persist": true` are also
/// written through to SQLite (`<data>/caches/<process>.sqlite`, WAL, synchronous NORMAL) and loaded again at the
/// next start, without the entries whose TTL passed meanwhile.
public actor CacheStore {
    struct Entry {
        var payload: ByteBuffer
        var expires: Date?
        var order: UInt64
    }

    private let definitions: [String: CacheDefinition]
    private var caches: [String: [String: Entry]] = [:]
    private var counter: UInt64 = 0
    private let file: URL?
    private let logger: Logger?
    /// nil until the first access; `.failure` keeps the caches in memory only (logged once).
    private var database: Result<DatabaseQueue, any Error>?

    /// - Parameter file: where persisted caches live; nil keeps every cache in memory.
    public init(definitions: [String: CacheDefinition], file: URL? = nil, logger: Logger? = nil) {
        self.definitions = definitions
        self.file = definitions.values.contains(where: \.persist) ? file : nil
        self.logger = logger
    }

    public func put(_ cache: String, key: String, payload: ByteBuffer, now: Date = Date()) {
        guard let definition = definitions[cache] else { return }
        let db = openIfNeeded(now: now)
        counter += 1
        let expires = definition.ttlMilliseconds.map { now.addingTimeInterval(Double($0) / 1000) }
        var entries = caches[cache, default: [:]]
        entries[key] = Entry(payload: payload, expires: expires, order: counter)
        var evicted: String?
        if entries.count > definition.maxEntries, let oldest = entries.min(by: { $0.value.order < $1.value.order })?.key {
            entries[oldest] = nil
            evicted = oldest
        }
        caches[cache] = entries
        guard definition.persist, let db else { return }
        let position = Int64(bitPattern: counter)
        write(db) { db in
            try db.execute(sql: "INSERT OR REPLACE INTO entry (cache, key, payload, expires, position) VALUES (?, ?, ?, ?, ?)",
                           arguments: [cache, key, Data(payload.readableBytesView), expires?.timeIntervalSince1970, position])
            if let evicted { try db.execute(sql: "DELETE FROM entry WHERE cache = ? AND key = ?", arguments: [cache, evicted]) }
        }
    }

    public func get(_ cache: String, key: String, now: Date = Date()) -> ByteBuffer? {
        let db = openIfNeeded(now: now)
        guard let entry = caches[cache]?[key] else { return nil }
        if let expires = entry.expires, expires <= now {
            caches[cache]?[key] = nil
            if definitions[cache]?.persist == true, let db {
                write(db) { db in try db.execute(sql: "DELETE FROM entry WHERE cache = ? AND key = ?", arguments: [cache, key]) }
            }
            return nil
        }
        return entry.payload
    }

    public func count(_ cache: String) -> Int {
        _ = openIfNeeded(now: Date())
        return caches[cache]?.count ?? 0
    }

    private func write(_ db: DatabaseQueue, _ updates: (Database) throws -> Void) {
        do {
            try db.write(updates)
        } catch {
            logger?.error("cannot write the persisted cache", metadata: ["cache.file": "\(file?.path ?? "")", "error": "\(error)"])
        }
    }

    /// Opens the database and loads the persisted caches the first time.
    private func openIfNeeded(now: Date) -> DatabaseQueue? {
        guard let file else { return nil }
        if let database { return try? database.get() }
        do {
            let db = try Self.open(file)
            try load(db, now: now)
            database = .success(db)
            return db
        } catch {
            database = .failure(error)
            logger?.error("persisted caches unavailable; keeping them in memory only", metadata: ["cache.file": "\(file.path)", "error": "\(error)"])
            return nil
        }
    }

    static func open(_ file: URL) throws -> DatabaseQueue {
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.label = "junction.cache"
        // WAL with synchronous NORMAL: a commit survives the process dying (kill -9), not a power
        // cut, and costs no fsync per cached document.
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        let db = try DatabaseQueue(path: file.path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE entry (
                    cache TEXT NOT NULL, key TEXT NOT NULL, payload BLOB NOT NULL, expires DOUBLE, position INTEGER NOT NULL,
                    PRIMARY KEY (cache, key))
                """)
        }
        if try db.read({ try migrator.hasBeenSuperseded($0) }) {
            throw OutboxError.unavailable("\(file.path) was written by a newer version of junction")
        }
        try migrator.migrate(db)
        return db
    }

    /// Drops expired entries and those of caches no longer persisted, then loads the rest in
    /// their order, keeping the newest `maxEntries`.
    private func load(_ db: DatabaseQueue, now: Date) throws {
        let persisted = definitions.filter(\.value.persist).map(\.key)
        let rows = try db.write { db -> [Row] in
            try db.execute(sql: "DELETE FROM entry WHERE expires IS NOT NULL AND expires <= ?", arguments: [now.timeIntervalSince1970])
            for cache in try String.fetchAll(db, sql: "SELECT DISTINCT cache FROM entry") where !persisted.contains(cache) {
                try db.execute(sql: "DELETE FROM entry WHERE cache = ?", arguments: [cache])
            }
            return try Row.fetchAll(db, sql: "SELECT cache, key, payload, expires FROM entry ORDER BY position")
        }
        for row in rows {
            let cache: String = row["cache"]
            let key: String = row["key"]
            let payload: Data = row["payload"]
            let expires: Double? = row["expires"]
            counter += 1
            caches[cache, default: [:]][key] = Entry(payload: ByteBuffer(bytes: payload), expires: expires.map(Date.init(timeIntervalSince1970:)),
                                                     order: counter)
        }
        for (cache, definition) in definitions where (caches[cache]?.count ?? 0) > definition.maxEntries {
            let entries = caches[cache] ?? [:]
            let dropped = entries.sorted { $0.value.order < $1.value.order }.prefix(entries.count - definition.maxEntries).map(\.key)
            for key in dropped { caches[cache]?[key] = nil }
            try db.write { db in
                for key in dropped { try db.execute(sql: "DELETE FROM entry WHERE cache = ? AND key = ?", arguments: [cache, key]) }
            }
        }
        // Positions continue after the loaded ones.
        let highest = try db.read { db in try Int64.fetchOne(db, sql: "SELECT MAX(position) FROM entry") } ?? 0
        counter = max(counter, UInt64(bitPattern: highest))
    }
}

extension CacheDefinition {
    /// A cache bound by `ttl` milliseconds (nil: no expiry) and `maxEntries`, written through to
    /// SQLite when `persist` is set.
    public init(ttl milliseconds: Int64?, maxEntries: Int = 10_000, persist: Bool = false) {
        self.ttlMilliseconds = milliseconds
        self.maxEntries = maxEntries
        self.persist = persist
    }
}
