import Foundation
import GRDB
import Junction
import MQTTBroker
import MQTTCore
import NIOCore
import TestSupport
import Testing

/// An outbox file the engine cannot use (not a database, or written by a newer version) is
/// refused with a clear error and never overwritten.
@Suite("Engine: unusable outbox files", .timeLimit(.minutes(1)))
struct OutboxFileTests {
    func failedSend(prepare: (URL) throws -> Void) async throws -> (ForwardingHarness, String) {
        try await withPreparedMosquitto(persistence: .on(autosaveInterval: 0)) { up in try await failedSend(up, prepare: prepare) }  // never started
    }

    func failedSend(_ up: TestMosquitto, prepare: (URL) throws -> Void) async throws -> (ForwardingHarness, String) {
        let harness = try ForwardingHarness(connectors: ["local": StoreAndForwardTests.local, "up": StoreAndForwardTests.upstream(up.url)],
                                            processes: ["fwd": StoreAndForwardTests.forwarding(maxInFlight: 1)])
        let data = harness.root.appendingPathComponent(".junction")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try prepare(data.appendingPathComponent("outbox.sqlite"))
        try await harness.run(until: StoreAndForwardTests.processReady) { _, broker in
            try await StoreAndForwardTests.publish(broker, 1...1)
            try await waitUntil("the send failed") { try harness.count(.failed) == 1 }
            #expect(try await broker.session(clientID: "junction.process.fwd")?.inflight == 1, "not acknowledged")
        }
        let error = try harness.trackingEvents().first { $0.event == .failed }?.error ?? ""
        return (harness, error)
    }

    @Test("A file that is not a database: the send fails with the reason and the file is left as it was")
    func notADatabase() async throws {
        let garbage = Data(repeating: 0x5A, count: 4096)
        let (harness, error) = try await failedSend { try garbage.write(to: $0) }
        defer { harness.remove() }
        #expect(error.contains("the outbox cannot be opened") && error.contains("outbox.sqlite"), "\(error)")
        #expect(try Data(contentsOf: harness.root.appendingPathComponent(".junction/outbox.sqlite")) == garbage)
    }

    @Test("An unreadable row is dropped and does not hold up the messages behind it")
    func unreadableRow() async throws {
        try await withPreparedMosquitto(persistence: .on(autosaveInterval: 0)) { up in
            try await up.start()
            try await withUpstreamSubscriber(up, filter: "out/#") { _, received in
                let harness = try ForwardingHarness(connectors: ["local": StoreAndForwardTests.local, "up": StoreAndForwardTests.upstream(up.url)],
                                                    processes: ["fwd": StoreAndForwardTests.forwarding(maxInFlight: 1)])
                defer { harness.remove() }
                let file = harness.root.appendingPathComponent(".junction/outbox.sqlite")
                try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
                try await DatabasePool(path: file.path).write { db in
                    try db.execute(sql: """
                        CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                        INSERT INTO grdb_migrations VALUES ('v1');
                        CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, packet BLOB NOT NULL,
                                             bytes INTEGER NOT NULL, storedAt DOUBLE NOT NULL);
                        CREATE INDEX outbox_queue ON outbox(queue, id);
                        INSERT INTO outbox (queue, packet, bytes, storedAt) VALUES ('send:up', x'30FF', 2, 0);
                        """)
                }
                try await harness.run(until: StoreAndForwardTests.processReady) { _, broker in
                    try await StoreAndForwardTests.publish(broker, 1...2)
                    try await received.wait(for: 2)
                    #expect(received.payloads == ["m1", "m2"])
                }
                let rows = try await DatabaseQueue(path: file.path).read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM outbox") }
                #expect(rows == 0)
            }
        }
    }

    @Test("An outbox written by a newer version is refused and its rows stay")
    func newerVersion() async throws {
        let (harness, error) = try await failedSend { file in
            let db = try DatabasePool(path: file.path)
            try db.write { db in
                try db.execute(sql: """
                    CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY);
                    INSERT INTO grdb_migrations VALUES ('v1'), ('v2-from-the-future');
                    CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, packet BLOB NOT NULL,
                                         bytes INTEGER NOT NULL, storedAt DOUBLE NOT NULL, priority INTEGER);
                    INSERT INTO outbox (queue, packet, bytes, storedAt, priority) VALUES ('send:up', x'00', 1, 0, 7);
                    """)
            }
        }
        defer { harness.remove() }
        #expect(error.contains("written by a newer version of junction"), "\(error)")
        let db = try DatabaseQueue(path: harness.root.appendingPathComponent(".junction/outbox.sqlite").path)
        let migrations = try await db.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations ORDER BY identifier") }
        let priority = try await db.read { try Int.fetchOne($0, sql: "SELECT priority FROM outbox") }
        #expect(migrations == ["v1", "v2-from-the-future"])
        #expect(priority == 7)
    }
}
