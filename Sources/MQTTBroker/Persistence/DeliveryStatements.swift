import Foundation
import GRDB
import GRDBSQLite
import NIOCore

/// The store's per-message statements (a delivery inserted, moved in flight, deleted): prepared
/// once by GRDB, run through SQLite's C API. Binding a delivery's fourteen values through GRDB's
/// `StatementArguments` (an array of boxed values, the payload copied into `Data`) cost a
/// quarter of the writer thread's time per message. Used on the writer thread only.
struct DeliveryStatements {
    private let insert: Statement
    private let update: Statement
    private let delete: Statement
    private let deleteRange: Statement

    init(_ db: Database) throws {
        insert = try db.makeStatement(sql: """
            INSERT OR REPLACE INTO delivery (id, client_id, topic, payload, message_qos, message_retain, properties, expires_at,
              publisher, qos, retain, subscription_ids, packet_id, awaiting_complete)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        update = try db.makeStatement(sql: "UPDATE delivery SET packet_id = ?, awaiting_complete = ? WHERE id = ?")
        delete = try db.makeStatement(sql: "DELETE FROM delivery WHERE id = ?")
        deleteRange = try db.makeStatement(sql: "DELETE FROM delivery WHERE id BETWEEN ? AND ?")
    }

    func insert(_ delivery: StoredDelivery, _ db: Database) throws {
        let statement = insert.sqliteStatement
        let message = delivery.message
        sqlite3_bind_int64(statement, 1, delivery.id)
        Self.bind(delivery.clientID, statement, 2)
        Self.bind(message.topic, statement, 3)
        _ = message.payload.withUnsafeReadableBytes { bytes in
            // A NULL pointer would bind NULL: an empty payload is an empty blob.
            bytes.isEmpty ? sqlite3_bind_zeroblob(statement, 4, 0)
                : sqlite3_bind_blob(statement, 4, bytes.baseAddress, Int32(bytes.count), Self.transient)
        }
        sqlite3_bind_int(statement, 5, Int32(message.qos.rawValue))
        sqlite3_bind_int(statement, 6, message.retain ? 1 : 0)
        if let properties = BrokerStore.encode(message.properties) {
            _ = properties.withUnsafeBytes { sqlite3_bind_blob(statement, 7, $0.baseAddress, Int32($0.count), Self.transient) }
        } else {
            sqlite3_bind_null(statement, 7)
        }
        Self.bind(message.expiresAt, statement, 8)
        Self.bind(message.publisher, statement, 9)
        sqlite3_bind_int(statement, 10, Int32(delivery.qos.rawValue))
        sqlite3_bind_int(statement, 11, delivery.retain ? 1 : 0)
        Self.bind(delivery.subscriptionIdentifiers.isEmpty ? nil : delivery.subscriptionIdentifiers.map(String.init).joined(separator: ","),
                  statement, 12)
        Self.bind(delivery.packetID.map(Int64.init), statement, 13)
        sqlite3_bind_int(statement, 14, delivery.awaitingComplete ? 1 : 0)
        try Self.run(statement, db)
    }

    func update(id: Int64, packetID: UInt16?, awaitingComplete: Bool, _ db: Database) throws {
        let statement = update.sqliteStatement
        Self.bind(packetID.map(Int64.init), statement, 1)
        sqlite3_bind_int(statement, 2, awaitingComplete ? 1 : 0)
        sqlite3_bind_int64(statement, 3, id)
        try Self.run(statement, db)
    }

    /// Deletes the rows `ids` (in any order): each run of consecutive ids with one statement.
    /// Ids are given out in routing order, so a subscriber acknowledging in order (the engine's
    /// processes) frees runs of them, and a range costs SQLite far less than its rows one by one.
    func delete(ids: [Int64], _ db: Database) throws {
        let sorted = ids.sorted()
        var start = 0
        while start < sorted.count {
            var end = start
            while end + 1 < sorted.count, sorted[end + 1] == sorted[end] + 1 { end += 1 }
            if end == start {
                let statement = delete.sqliteStatement
                sqlite3_bind_int64(statement, 1, sorted[start])
                try Self.run(statement, db)
            } else {
                let statement = deleteRange.sqliteStatement
                sqlite3_bind_int64(statement, 1, sorted[start])
                sqlite3_bind_int64(statement, 2, sorted[end])
                try Self.run(statement, db)
            }
            start = end + 1
        }
    }

    /// SQLite copies bound text and blobs (the values do not outlive the call).
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private static func bind(_ text: String?, _ statement: OpaquePointer, _ index: Int32) {
        guard var text else {
            sqlite3_bind_null(statement, index)
            return
        }
        text.withUTF8 { bytes in
            // With an explicit length, so text with U+0000 is stored whole; "" is not NULL.
            _ = bytes.withMemoryRebound(to: CChar.self) { chars in
                if let start = chars.baseAddress {
                    sqlite3_bind_text(statement, index, start, Int32(chars.count), transient)
                } else {
                    sqlite3_bind_text(statement, index, "", 0, transient)
                }
            }
        }
    }

    private static func bind(_ value: Int64?, _ statement: OpaquePointer, _ index: Int32) {
        if let value { sqlite3_bind_int64(statement, index, value) } else { sqlite3_bind_null(statement, index) }
    }

    /// Steps the statement to its end, then resets it (bindings are all set again before each run).
    private static func run(_ statement: OpaquePointer, _ db: Database) throws {
        let code = sqlite3_step(statement)
        sqlite3_reset(statement)
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                                sql: String(cString: sqlite3_sql(statement)))
        }
    }
}
