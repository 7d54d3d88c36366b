import Foundation
import GRDB
import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// The engine's in-process sessions in the broker's store: what survives a restart.
@Suite("In-process sessions in the durable store", .serialized)
struct InProcessSessionStoreTests {
    /// Subscribes `clientID`, takes `count` deliveries (acknowledging those `acknowledge` says),
    /// closes, and returns them.
    func take(_ count: Int, from broker: MQTTBroker, clientID: String, filter: String, receiveMaximum: Int,
              acknowledge: (BrokerDelivery) -> Bool = { _ in true }) async throws -> [BrokerDelivery] {
        let subscription = try await broker.subscribe(clientID: clientID, subscriptions: [MQTTSubscription(topicFilter: filter, qos: .atLeastOnce)],
                                                      receiveMaximum: receiveMaximum)
        var taken: [BrokerDelivery] = []
        if count > 0 {
            for await delivery in subscription {
                if acknowledge(delivery) { await delivery.ack() }
                taken.append(delivery)
                if taken.count == count { break }
            }
        }
        await subscription.close()
        return taken
    }

    func publish(_ topics: [String], to broker: MQTTBroker) async throws {
        for topic in topics { try await broker.publish(topic: topic, payload: ByteBuffer(string: topic), qos: .atLeastOnce) }
    }

    /// An in-process session is one by the kind of its endpoint: a client id without the
    /// reserved prefix, attached through the in-process API, is treated the same.
    @Test("Unacknowledged messages, in flight or queued, come back after a restart in order, marked dup",
          arguments: [BrokerDurability.batch, .sync], [true, false])
    func restored(durability: BrokerDurability, reservedClientID: Bool) async throws {
        try await withTemporaryDirectory { data in
            let settings = BrokerSettings.test.with { $0.durability = durability }
            let clientID = reservedClientID ? MQTTBroker.inProcessClientID("process", unique("restored")) : unique("plain")
            try await withDurableBroker(data: data, settings: settings) { _, broker in
                // Window 2: j0 and j1 in flight; j0 acknowledged lets j2 in (after its insert was
                // durable), j1 and j2 are never finished, j3...j5 still queued at the stop.
                let subscription = try await broker.subscribe(clientID: clientID, subscriptions: [MQTTSubscription(topicFilter: "jobs/#", qos: .atLeastOnce)],
                                                              receiveMaximum: 2)
                try await publish((0..<6).map { "jobs/\($0)" }, to: broker)
                var iterator = subscription.makeAsyncIterator()
                await (try #require(await iterator.next())).ack()
                _ = try #require(await iterator.next())
                _ = try #require(await iterator.next())
                let info = try #require(try await broker.session(clientID: clientID))
                #expect(info.inflight == 2 && info.queued == 3)
                await subscription.close()
            }
            try await withDurableBroker(data: data, settings: settings) { _, broker in
                let again = try await take(5, from: broker, clientID: clientID, filter: "jobs/#", receiveMaximum: 8)
                #expect(again.map(\.topic) == ["jobs/1", "jobs/2", "jobs/3", "jobs/4", "jobs/5"])
                #expect(again.allSatisfy { $0.dup }, "each may have been taken before the restart")
                let info = try #require(try await broker.session(clientID: clientID))
                #expect(info.inflight == 0 && info.queued == 0)
            }
        }
    }

    @Test("Acknowledged messages are deleted from the store, runs and single ones alike; the rest come back after a restart", arguments: [BrokerDurability.batch, .sync])
    func deletesRunsAndSingles(durability: BrokerDurability) async throws {
        try await withTemporaryDirectory { data in
            let settings = BrokerSettings.test.with { $0.durability = durability }
            let clientID = MQTTBroker.inProcessClientID("process", unique("deletes"))
            let topics = (0..<20).map { "d/\($0)" }
            // Acknowledged: a run (3...9), single ones (12, 15, 17), and the last one.
            let acknowledged = Set([3, 4, 5, 6, 7, 8, 9, 12, 15, 17, 19].map { "d/\($0)" })
            try await withDurableBroker(data: data, settings: settings) { _, broker in
                _ = try await take(0, from: broker, clientID: clientID, filter: "d/#", receiveMaximum: 20)
                try await publish(topics, to: broker)
                _ = try await take(20, from: broker, clientID: clientID, filter: "d/#", receiveMaximum: 20) { acknowledged.contains($0.topic) }
            }
            try await withDurableBroker(data: data, settings: settings) { _, broker in
                let rest = topics.filter { !acknowledged.contains($0) }
                let again = try await take(rest.count, from: broker, clientID: clientID, filter: "d/#", receiveMaximum: 20)
                #expect(again.map(\.topic) == rest)
                let info = try #require(try await broker.session(clientID: clientID))
                #expect(info.inflight == 0 && info.queued == 0, "nothing acknowledged came back")
            }
        }
    }

    @Test("A store of schema 1 is migrated to 3 (its delivery index dropped, in-process sessions marked by their reserved client id) and keeps its messages")
    func migratesSchemaOne() async throws {
        try await withTemporaryDirectory { data in
            let clientID = MQTTBroker.inProcessClientID("process", unique("migrated"))
            try await withDurableBroker(data: data) { _, broker in
                _ = try await take(0, from: broker, clientID: clientID, filter: "m/#", receiveMaximum: 16)
                try await publish(["m/0", "m/1", "m/2"], to: broker)
            }
            // What schema 1 left: the index, no session kind, one migration, user_version 1.
            try editStore(data, """
                CREATE INDEX delivery_by_client ON delivery(client_id);
                ALTER TABLE session DROP COLUMN in_process;
                DELETE FROM grdb_migrations WHERE identifier LIKE 'v2:%' OR identifier LIKE 'v3:%';
                PRAGMA user_version = 1;
                """)
            // Read while no broker has the store open: before the migration and after it.
            func read() async throws -> (version: Int?, indexes: [String], inProcess: [Bool]) {
                let queue = try DatabaseQueue(path: data.appendingPathComponent(MQTTBroker.storeFileName).path)
                defer { try? queue.close() }
                return try await queue.read { db in
                    let columns = try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info('session')")
                    return (try Int.fetchOne(db, sql: "PRAGMA user_version"),
                            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'delivery'"),
                            columns.contains("in_process") ? try Bool.fetchAll(db, sql: "SELECT in_process FROM session") : [])
                }
            }
            #expect(try await read().version == 1)
            try await withDurableBroker(data: data) { _, broker in
                let again = try await take(3, from: broker, clientID: clientID, filter: "m/#", receiveMaximum: 16)
                #expect(again.map(\.topic) == ["m/0", "m/1", "m/2"])
                #expect(again.allSatisfy { $0.dup }, "the migrated session is in process: its deliveries come back as redeliveries")
            }
            let after = try await read()
            #expect(after.version == 3 && after.indexes.isEmpty && after.inProcess == [true])
        }
    }
}
