import GRDB

/// The store's schema, one GRDB migration per version. `PRAGMA user_version` mirrors the number
/// of migrations applied, so a store written by a newer Junction is recognised (and refused)
/// before anything is written to it.
enum BrokerStoreSchema {
    /// The schema version this code writes: the number of migrations below.
    static let version = 3

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: sessions, subscriptions, retained messages, deliveries, inbound QoS 2") { db in
            try db.execute(sql: """
                CREATE TABLE session (
                  client_id TEXT PRIMARY KEY NOT NULL,
                  protocol_version INTEGER NOT NULL,
                  expiry_interval INTEGER NOT NULL,
                  username TEXT,
                  disconnected_at INTEGER
                ) WITHOUT ROWID;
                CREATE TABLE subscription (
                  client_id TEXT NOT NULL,
                  filter TEXT NOT NULL,
                  qos INTEGER NOT NULL,
                  no_local INTEGER NOT NULL,
                  retain_as_published INTEGER NOT NULL,
                  identifier INTEGER,
                  PRIMARY KEY (client_id, filter)
                ) WITHOUT ROWID;
                CREATE TABLE retained (
                  topic TEXT PRIMARY KEY NOT NULL,
                  payload BLOB NOT NULL,
                  qos INTEGER NOT NULL,
                  properties BLOB,
                  expires_at INTEGER,
                  publisher TEXT
                ) WITHOUT ROWID;
                CREATE TABLE delivery (
                  id INTEGER PRIMARY KEY,
                  client_id TEXT NOT NULL,
                  topic TEXT NOT NULL,
                  payload BLOB NOT NULL,
                  message_qos INTEGER NOT NULL,
                  message_retain INTEGER NOT NULL,
                  properties BLOB,
                  expires_at INTEGER,
                  publisher TEXT,
                  qos INTEGER NOT NULL,
                  retain INTEGER NOT NULL,
                  subscription_ids TEXT,
                  packet_id INTEGER,
                  awaiting_complete INTEGER NOT NULL
                );
                CREATE INDEX delivery_by_client ON delivery(client_id);
                CREATE TABLE awaiting_release (
                  client_id TEXT NOT NULL,
                  packet_id INTEGER NOT NULL,
                  PRIMARY KEY (client_id, packet_id)
                ) WITHOUT ROWID;
                PRAGMA user_version = 1;
                """)
        }
        migrator.registerMigration("v2: no index on delivery.client_id") { db in
            // Kept up on every insert and delete, it cost a quarter of each message's write; it
            // served only the deletion of a whole session's deliveries (clean start, expiry),
            // which now reads the table.
            try db.execute(sql: """
                DROP INDEX delivery_by_client;
                PRAGMA user_version = 2;
                """)
        }
        migrator.registerMigration("v3: session.in_process") { db in
            // Which kind of endpoint a session had, for its deliveries after a restart. Sessions
            // of stores before it were told apart by their client id, which network clients
            // may not use: that rule marks the rows once.
            try db.execute(sql: """
                ALTER TABLE session ADD COLUMN in_process INTEGER NOT NULL DEFAULT 0;
                UPDATE session SET in_process = 1 WHERE substr(client_id, 1, 9) = 'junction.';
                PRAGMA user_version = 3;
                """)
        }
        return migrator
    }
}
