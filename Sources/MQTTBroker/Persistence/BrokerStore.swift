import Foundation
import GRDB
import MQTTCore
import NIOCore
import NIOPosix

/// The broker's durable state in one SQLite file (WAL mode) through GRDB: sessions with their
/// subscriptions, QoS 1/2 deliveries and inbound QoS 2 state, and retained messages.
///
/// Used from one thread at a time: the broker's writer thread (and the start-up load before it).
/// A file that is not a valid store, or was written by a newer schema, is refused before
/// anything is written to it.
final class BrokerStore: @unchecked Sendable {
    let path: String
    private let queue: DatabaseQueue
    private var fullSync = false
    /// The log's descriptor for ``syncLog(on:)``: used on the log-sync thread only, until ``close()``.
    private var walDescriptor: Int32 = -1
    /// Its own thread for the log's fsync (milliseconds on a busy disk), so the writer thread
    /// goes on committing meanwhile.
    private let logSyncThread = NIOThreadPool(numberOfThreads: 1)

    /// Opens (creating it if missing) and checks the store, then migrates it to the current schema.
    init(path: String) throws(BrokerStoreError) {
        self.path = path
        logSyncThread.start()
        var configuration = Configuration()
        configuration.foreignKeysEnabled = false
        configuration.label = "junction.broker.store"
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
        } catch {
            try? logSyncThread.syncShutdownGracefully()
            throw Self.refusal(path, error)
        }
        do {
            try queue.inDatabase { db in
                let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
                if version > BrokerStoreSchema.version {
                    throw BrokerStoreError(path: path, reason: "written by schema version \(version), newer than this Junction's \(BrokerStoreSchema.version)")
                }
                let check = try String.fetchAll(db, sql: "PRAGMA quick_check")
                if check != ["ok"] {
                    throw BrokerStoreError(path: path, reason: "corrupt (SQLite quick_check: \(check.prefix(3).joined(separator: "; ")))")
                }
                if try BrokerStoreSchema.migrator.hasBeenSuperseded(db) {
                    throw BrokerStoreError(path: path, reason: "written by a newer Junction (unknown schema migrations)")
                }
                // One broker per store: a second process gets SQLITE_BUSY below.
                try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE")
                let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
                if mode?.lowercased() != "wal" {
                    throw BrokerStoreError(path: path, reason: "cannot switch to WAL mode (journal_mode is \(mode ?? "unknown"))")
                }
                try db.execute(sql: "PRAGMA synchronous = NORMAL")
            }
            try BrokerStoreSchema.migrator.migrate(queue)
        } catch let error as BrokerStoreError {
            try? queue.close()
            try? logSyncThread.syncShutdownGracefully()
            throw error
        } catch {
            try? queue.close()
            try? logSyncThread.syncShutdownGracefully()
            throw Self.refusal(path, error)
        }
    }

    private static func refusal(_ path: String, _ error: any Error) -> BrokerStoreError {
        if let error = error as? DatabaseError {
            switch error.resultCode {
            case .SQLITE_NOTADB, .SQLITE_CORRUPT:
                return BrokerStoreError(path: path, reason: "not a valid SQLite database (\(error.message ?? "\(error.resultCode)"))")
            case .SQLITE_BUSY, .SQLITE_LOCKED:
                return BrokerStoreError(path: path, reason: "in use by another process")
            default:
                return BrokerStoreError(path: path, reason: "cannot be opened: \(error.message ?? "\(error)")")
            }
        }
        return BrokerStoreError(path: path, reason: "cannot be opened: \(error)")
    }

    /// Waits for a log sync under way, then closes the store. Not on an event loop.
    func close() {
        try? logSyncThread.syncShutdownGracefully()
        deliveryStatements = nil
        if walDescriptor >= 0 { Foundation.close(walDescriptor) }
        walDescriptor = -1
        try? queue.close()
    }

    // MARK: Loading

    /// Drops expired sessions and messages, then reads everything left.
    func load(now: Int64) throws -> StoreSnapshot {
        try queue.inDatabase { db in
            var snapshot = StoreSnapshot()
            try db.inTransaction(.immediate) {
                // A session connected at the crash counts as disconnected now.
                try db.execute(sql: "UPDATE session SET disconnected_at = ? WHERE disconnected_at IS NULL", arguments: [now])
                let expired = try String.fetchAll(db, sql: """
                    SELECT client_id FROM session
                    WHERE expiry_interval < 4294967295 AND disconnected_at + expiry_interval * 1000 <= ?
                    """, arguments: [now])
                for clientID in expired { try Self.deleteSession(clientID, db) }
                snapshot.expiredSessions = expired.count
                try db.execute(sql: "DELETE FROM delivery WHERE expires_at IS NOT NULL AND expires_at <= ?", arguments: [now])
                snapshot.expiredMessages = db.changesCount
                try db.execute(sql: "DELETE FROM retained WHERE expires_at IS NOT NULL AND expires_at <= ?", arguments: [now])
                snapshot.expiredMessages += db.changesCount
                // Rows of sessions that no longer exist (none are written that way; belt and braces).
                for table in ["subscription", "delivery", "awaiting_release"] {
                    try db.execute(sql: "DELETE FROM \(table) WHERE client_id NOT IN (SELECT client_id FROM session)")
                }
                return .commit
            }
            for row in try Row.fetchAll(db, sql: "SELECT client_id, protocol_version, expiry_interval, username, disconnected_at, in_process FROM session") {
                snapshot.sessions.append(StoredSession(clientID: row[0], protocolVersion: row[1], expiryInterval: row[2],
                                                       username: row[3], disconnectedAt: row[4], isInProcess: row[5]))
            }
            for row in try Row.fetchAll(db, sql: "SELECT client_id, filter, qos, no_local, retain_as_published, identifier FROM subscription") {
                snapshot.subscriptions.append(StoredSubscription(clientID: row[0], filter: row[1], qos: try Self.qos(row[2]),
                                                                 noLocal: row[3], retainAsPublished: row[4], identifier: row[5]))
            }
            for row in try Row.fetchAll(db, sql: "SELECT topic, payload, qos, properties, expires_at, publisher FROM retained") {
                snapshot.retained.append(StoredMessage(topic: row[0], payload: ByteBuffer(bytes: row[1] as Data), qos: try Self.qos(row[2]),
                                                       retain: true, properties: try Self.properties(row[3]),
                                                       expiresAt: row[4], publisher: row[5]))
            }
            let cursor = try Row.fetchCursor(db, sql: """
                SELECT id, client_id, topic, payload, message_qos, message_retain, properties, expires_at, publisher,
                       qos, retain, subscription_ids, packet_id, awaiting_complete
                FROM delivery ORDER BY id
                """)
            while let row = try cursor.next() {
                let message = StoredMessage(topic: row[2], payload: ByteBuffer(bytes: row[3] as Data), qos: try Self.qos(row[4]),
                                            retain: row[5], properties: try Self.properties(row[6]), expiresAt: row[7],
                                            publisher: row[8])
                let identifiers = (row[11] as String?).map { $0.split(separator: ",").compactMap { UInt32($0) } } ?? []
                snapshot.deliveries.append(StoredDelivery(id: row[0], clientID: row[1], message: message, qos: try Self.qos(row[9]),
                                                          retain: row[10], subscriptionIdentifiers: identifiers,
                                                          packetID: row[12], awaitingComplete: row[13]))
            }
            for row in try Row.fetchAll(db, sql: "SELECT client_id, packet_id FROM awaiting_release") {
                snapshot.awaitingRelease.append((row[0], row[1]))
            }
            snapshot.maxDeliveryID = try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM delivery") ?? 0
            return snapshot
        }
    }

    private static func qos(_ value: Int) throws -> MQTTQoS {
        guard let qos = MQTTQoS(rawValue: UInt8(clamping: value)) else {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "QoS \(value) in the store")
        }
        return qos
    }

    /// Properties are kept as an encoded MQTT 5 PUBLISH with an empty payload (the codec is the format).
    static func encode(_ properties: MQTTProperties) -> Data? {
        guard !properties.isEmpty else { return nil }
        var buffer = ByteBuffer()
        let packet = MQTTPublishPacket(topic: "p", payload: ByteBuffer(), properties: properties)
        guard (try? MQTTPacket.publish(packet).encode(into: &buffer, version: .v5)) != nil else { return nil }
        return Data(buffer.readableBytesView)
    }

    private static func properties(_ data: Data?) throws -> MQTTProperties {
        guard let data else { return [] }
        var buffer = ByteBuffer(bytes: data)
        guard case .publish(let packet)? = try MQTTPacket.decode(from: &buffer, version: .v5) else {
            throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "unreadable message properties in the store")
        }
        return packet.properties
    }

    // MARK: Writing

    /// Applies one group in one transaction; `fullSync` fsyncs the commit (durability `sync`).
    func apply(_ operations: [StoreOperation], fullSync: Bool) throws {
        try queue.inDatabase { db in
            if fullSync != self.fullSync {
                try db.execute(sql: fullSync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL")
                self.fullSync = fullSync
            }
            let statements: DeliveryStatements
            if let prepared = self.deliveryStatements {
                statements = prepared
            } else {
                statements = try DeliveryStatements(db)
                self.deliveryStatements = statements
            }
            try db.inTransaction(.immediate) {
                // Deletions go last, together: ids are never reused, so deleting a row after the
                // group's other changes to it ends the same; together, runs of ids are one range.
                var deleted: [Int64] = []
                for operation in operations {
                    if case .deleteDelivery(let id) = operation {
                        deleted.append(id)
                    } else {
                        try Self.apply(operation, db, statements)
                    }
                }
                try statements.delete(ids: deleted, db)
                return .commit
            }
        }
    }

    /// The statements of the per-message path, prepared once (no SQL lookup per operation).
    private var deliveryStatements: DeliveryStatements?

    private static func apply(_ operation: StoreOperation, _ db: Database, _ statements: DeliveryStatements) throws {
        switch operation {
        case .upsertSession(let s):
            try db.cachedStatement(sql: """
                INSERT INTO session (client_id, protocol_version, expiry_interval, username, disconnected_at, in_process)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT(client_id) DO UPDATE SET protocol_version = excluded.protocol_version,
                  expiry_interval = excluded.expiry_interval, username = excluded.username, disconnected_at = excluded.disconnected_at,
                  in_process = excluded.in_process
                """).execute(arguments: [s.clientID, s.protocolVersion, s.expiryInterval, s.username, s.disconnectedAt, s.isInProcess])
        case .deleteSession(let clientID):
            try deleteSession(clientID, db)
        case .upsertSubscription(let s):
            try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO subscription (client_id, filter, qos, no_local, retain_as_published, identifier)
                VALUES (?, ?, ?, ?, ?, ?)
                """).execute(arguments: [s.clientID, s.filter, s.qos.rawValue, s.noLocal, s.retainAsPublished, s.identifier])
        case .deleteSubscription(let clientID, let filter):
            try db.cachedStatement(sql: "DELETE FROM subscription WHERE client_id = ? AND filter = ?").execute(arguments: [clientID, filter])
        case .setRetained(let topic, let message?):
            try db.cachedStatement(sql: """
                INSERT OR REPLACE INTO retained (topic, payload, qos, properties, expires_at, publisher) VALUES (?, ?, ?, ?, ?, ?)
                """).execute(arguments: [topic, Data(message.payload.readableBytesView), message.qos.rawValue,
                                         encode(message.properties), message.expiresAt, message.publisher])
        case .setRetained(let topic, nil):
            try db.cachedStatement(sql: "DELETE FROM retained WHERE topic = ?").execute(arguments: [topic])
        case .insertDelivery(let delivery):
            try statements.insert(delivery, db)
        case .updateDelivery(let id, let packetID, let awaitingComplete):
            try statements.update(id: id, packetID: packetID, awaitingComplete: awaitingComplete, db)
        case .deleteDelivery(let id):
            try statements.delete(ids: [id], db)
        case .addAwaitingRelease(let clientID, let packetID):
            try db.cachedStatement(sql: "INSERT OR REPLACE INTO awaiting_release (client_id, packet_id) VALUES (?, ?)")
                .execute(arguments: [clientID, packetID])
        case .removeAwaitingRelease(let clientID, let packetID):
            try db.cachedStatement(sql: "DELETE FROM awaiting_release WHERE client_id = ? AND packet_id = ?")
                .execute(arguments: [clientID, packetID])
        }
    }

    private static func deleteSession(_ clientID: String, _ db: Database) throws {
        for table in ["session", "subscription", "delivery", "awaiting_release"] {
            try db.cachedStatement(sql: "DELETE FROM \(table) WHERE client_id = ?").execute(arguments: [clientID])
        }
    }

    /// fsyncs the write-ahead log on its own thread: commits made with `synchronous = NORMAL`
    /// before the call reach the disk. The writer thread goes on committing meanwhile (Linux
    /// lets one thread fsync a file while another appends to it).
    func syncLog(on loop: EventLoop) -> EventLoopFuture<Void> {
        logSyncThread.runIfActive(eventLoop: loop) { [self] in
            if walDescriptor < 0 { walDescriptor = open(path + "-wal", O_RDONLY) }
            if walDescriptor >= 0 { fsync(walDescriptor) }
        }
    }
}
