import Foundation
import GRDB
import MQTTCore
import NIOCore
import Synchronization

/// One message waiting in the outbox: a PUBLISH for the external broker.
struct OutboxMessage: Sendable {
    /// Increasing in the order the messages were stored (SQLite rowid): the forwarding order.
    var id: Int64 = 0
    var topic: String
    var payload: ByteBuffer
    var qos: MQTTQoS
    var retain: Bool
    /// MQTT 5 properties (user properties, content type, message expiry...).
    var properties: MQTTProperties
    /// When it was stored: a Message Expiry Interval counts from here.
    var storedAt: Date = Date()

    /// What counts against `maxBytes`: topic and payload.
    var size: Int { topic.utf8.count + payload.readableBytes }

    /// The PUBLISH encoded as MQTT 5 (a packet identifier is needed for QoS > 0; it is not kept).
    func encoded() throws -> Data {
        var packet = MQTTPublishPacket(topic: topic, payload: payload, qos: qos, retain: retain, properties: properties)
        if qos != .atMostOnce { packet.packetIdentifier = 1 }
        var buffer = ByteBuffer()
        try MQTTPacket.publish(packet).encode(into: &buffer, version: .v5)
        return Data(buffer.readableBytesView)
    }

    init(topic: String, payload: ByteBuffer, qos: MQTTQoS, retain: Bool, properties: MQTTProperties) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }

    init(id: Int64, encoded: Data, storedAt: Date) throws {
        var buffer = ByteBuffer(bytes: encoded)
        guard case .publish(let packet)? = try MQTTPacket.decode(from: &buffer, version: .v5) else {
            throw OutboxError.corrupt("row \(id) does not hold a PUBLISH")
        }
        self.init(topic: packet.topic, payload: packet.payload, qos: packet.qos, retain: packet.retain, properties: packet.properties)
        self.id = id
        self.storedAt = storedAt
    }
}

enum OutboxError: Error, CustomStringConvertible {
    case corrupt(String)
    case unavailable(String)

    var description: String {
        switch self {
        case .corrupt(let detail): "the outbox is corrupt: \(detail)"
        case .unavailable(let detail): "the outbox cannot be opened: \(detail)"
        }
    }
}

/// The durable outbox of the engine: one SQLite database (WAL, synchronous FULL) through GRDB
/// at `<data>/outbox.sqlite`, holding the queues of every store-and-forward connector and bridge.
/// Opened on first use; a database written by a newer version is refused, never changed.
final class OutboxStore: Sendable {
    let file: URL
    private let pool = Mutex<Result<DatabasePool, OutboxError>?>(nil)

    init(file: URL) { self.file = file }

    static let migrator: DatabaseMigrator = {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE outbox (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    queue TEXT NOT NULL,
                    packet BLOB NOT NULL,
                    bytes INTEGER NOT NULL,
                    storedAt DOUBLE NOT NULL);
                CREATE INDEX outbox_queue ON outbox(queue, id);
                """)
        }
        return migrator
    }()

    /// The database, opened (and migrated) the first time.
    func database() throws(OutboxError) -> DatabasePool {
        try pool.withLock { (pool: inout Result<DatabasePool, OutboxError>?) throws(OutboxError) -> DatabasePool in
            if case .success(let opened)? = pool { return opened }
            do {
                try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
                var configuration = Configuration()
                configuration.label = "junction.outbox"
                configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
                let opened = try DatabasePool(path: file.path, configuration: configuration)
                try opened.write { db in
                    if try Self.migrator.hasBeenSuperseded(db) {
                        throw OutboxError.unavailable("\(file.path) was written by a newer version of junction")
                    }
                }
                try Self.migrator.migrate(opened)
                pool = .success(opened)
                return opened
            } catch let error as OutboxError {
                throw error
            } catch {
                throw .unavailable("\(file.path): \(error)")
            }
        }
    }

    /// Messages and bytes waiting in `queue`.
    func totals(_ queue: String) async throws -> (count: Int, bytes: Int) {
        let db = try database()
        return try await db.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM outbox WHERE queue = ?", arguments: [queue])
            return (row?[0] ?? 0, row?[1] ?? 0)
        }
    }

    /// Stores `message` at the end of `queue` durably and returns its id.
    func append(_ queue: String, _ message: OutboxMessage) async throws -> Int64 {
        let ids = try await append(queue, [message])
        return ids[0]
    }

    /// Stores `messages` at the end of `queue` durably, in order, and returns their ids.
    /// Messages stored while a commit is under way go together in the next transaction (group
    /// commit), in the order of the calls.
    func append(_ queue: String, _ messages: [OutboxMessage]) async throws -> [Int64] {
        let rows = try messages.map { message in
            PendingRow(queue: queue, packet: try message.encoded(), bytes: message.size, storedAt: message.storedAt.timeIntervalSince1970)
        }
        return try await withCheckedThrowingContinuation { continuation in
            let start = pending.withLock { pending in
                pending.groups.append((rows, continuation))
                defer { pending.writing = true }
                return !pending.writing
            }
            if start { Task { await self.commitPending() } }
        }
    }

    private struct PendingRow: Sendable {
        var queue: String
        var packet: Data
        var bytes: Int
        var storedAt: Double
    }

    private struct Pending {
        var groups: [([PendingRow], CheckedContinuation<[Int64], any Error>)] = []
        var writing = false
    }

    private let pending = Mutex(Pending())

    /// Writes what is pending, one transaction per round, until nothing is left.
    private func commitPending() async {
        while true {
            let batch = pending.withLock { pending in
                defer { pending.groups = [] }
                if pending.groups.isEmpty { pending.writing = false }
                return pending.groups
            }
            if batch.isEmpty { return }
            let groups = batch.map(\.0)
            do {
                let db = try database()
                let ids = try await db.write { db in
                    try groups.map { rows in
                        try rows.map { row in
                            try db.execute(sql: "INSERT INTO outbox (queue, packet, bytes, storedAt) VALUES (?, ?, ?, ?)",
                                           arguments: [row.queue, row.packet, row.bytes, row.storedAt])
                            return db.lastInsertedRowID
                        }
                    }
                }
                for ((_, continuation), group) in zip(batch, ids) { continuation.resume(returning: group) }
            } catch {
                for (_, continuation) in batch { continuation.resume(throwing: error) }
            }
        }
    }

    /// Up to `limit` messages of `queue` after `id`, oldest first.
    /// A row that does not decode comes back as a failure with its id and size, to be dropped.
    func messages(_ queue: String, after id: Int64, limit: Int) async throws -> [Result<OutboxMessage, UndecodableRow>] {
        let db = try database()
        // Decoded inside the read: rows are not Sendable, and the async read (off the caller's
        // thread) wants a Sendable result.
        return try await db.read { db in
            try Row.fetchAll(db, sql: "SELECT id, packet, bytes, storedAt FROM outbox WHERE queue = ? AND id > ? ORDER BY id LIMIT ?",
                             arguments: [queue, id, limit]).map { row -> Result<OutboxMessage, UndecodableRow> in
                let id: Int64 = row["id"]
                do {
                    return .success(try OutboxMessage(id: id, encoded: row["packet"], storedAt: Date(timeIntervalSince1970: row["storedAt"])))
                } catch {
                    return .failure(UndecodableRow(id: id, bytes: row["bytes"], reason: "\(error)"))
                }
            }
        }
    }

    struct UndecodableRow: Error, Sendable {
        var id: Int64
        var bytes: Int
        var reason: String
    }

    /// Removes forwarded messages.
    func delete(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        let db = try database()
        try await db.write { db in
            for id in ids { try db.execute(sql: "DELETE FROM outbox WHERE id = ?", arguments: [id]) }
        }
    }
}
