import Foundation
import GRDB
import Logging
import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// Starts an in-process broker with `data` as its data directory on port 0, runs `body`, and
/// always shuts it down (which commits what is pending and closes the store).
func withDurableBroker<T>(data: URL, settings: BrokerSettings = .test,
                          _ body: (_ port: Int, _ broker: MQTTBroker) async throws -> T) async throws -> T {
    let broker = MQTTBroker(listeners: [BrokerListener(host: "127.0.0.1", port: 0)], settings: settings, dataDirectory: data,
                            logger: Logger(label: "junction.broker.test", factory: { _ in SwiftLogNoOpLogHandler() }))
    let addresses = try await broker.start()
    do {
        let result = try await body(addresses.first?.port ?? 0, broker)
        try await broker.shutdown()
        return result
    } catch {
        try? await broker.shutdown()
        throw error
    }
}

/// Runs SQL on a stopped broker's store, as an older or newer Junction (or a disk fault) would leave it.
func editStore(_ data: URL, _ sql: String) throws {
    let queue = try DatabaseQueue(path: data.appendingPathComponent(MQTTBroker.storeFileName).path)
    try queue.writeWithoutTransaction { try $0.execute(sql: sql) }
    try queue.close()
}

@Suite("Durable broker store (in process)", .serialized)
struct DurableStoreTests {
    @Test("Restart restores in-flight packet ids, QoS 2 progress both ways and the queue", arguments: [BrokerDurability.batch, .sync])
    func restoresInflightState(durability: BrokerDurability) async throws {
        try await withTemporaryDirectory { data in
            let settings = BrokerSettings.test.with { $0.durability = durability }
            let (sub, pub) = (unique("inflight-sub"), unique("inflight-pub"))
            let persistent: MQTTProperties = [.sessionExpiryInterval(600)]
            var ids: [UInt16] = []
            try await withDurableBroker(data: data, settings: settings) { port, _ in
                let subscriber = try await RawMQTTClient.connected(port: port, version: .v5, clientID: sub, properties: persistent)
                try await subscriber.subscribe("inflight/#", qos: .exactlyOnce)
                let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: pub, cleanStart: false,
                                                                  properties: persistent)
                for i in 0..<3 { try await publisher.publish("inflight/x", "m\(i)", qos: .exactlyOnce) }
                for _ in 0..<3 { ids.append(try #require(try await subscriber.receivePublish().packetIdentifier)) }
                // m0: PUBREC sent, so the broker owes PUBREL; m1, m2: not acknowledged at all.
                try await subscriber.send(.pubrec(MQTTPublishAckPacket(packetIdentifier: ids[0])))
                _ = try await subscriber.expectAck(.pubrel, ids[0])
                // The publisher's own QoS 2 message 77 got its PUBREC; its PUBREL has not been sent yet.
                try await publisher.send(.publish(MQTTPublishPacket(topic: "elsewhere", payload: ByteBuffer(string: "p"),
                                                                    qos: .exactlyOnce, packetIdentifier: 77)))
                _ = try await publisher.expectAck(.pubrec, 77)
                await subscriber.closeAbruptly()
                await publisher.closeAbruptly()
            }
            try await withDurableBroker(data: data, settings: settings) { port, broker in
                let info = try #require(try await broker.session(clientID: sub))
                #expect(info.subscriptions == ["inflight/#"] && info.inflight == 3 && !info.connected)
                let subscriber = try await RawMQTTClient.open(port: port, version: .v5)
                #expect(try await subscriber.connect(clientID: sub, cleanStart: false, properties: persistent).sessionPresent)
                _ = try await subscriber.expectAck(.pubrel, ids[0])
                for (index, payload) in [(1, "m1"), (2, "m2")] {
                    let again = try await subscriber.receivePublish()
                    #expect(again.packetIdentifier == ids[index] && again.dup && again.payloadString == payload)
                }
                let publisher = try await RawMQTTClient.open(port: port, version: .v5)
                #expect(try await publisher.connect(clientID: pub, cleanStart: false, properties: persistent).sessionPresent)
                try await publisher.send(.pubrel(MQTTPublishAckPacket(packetIdentifier: 77)))
                #expect(try await publisher.expectAck(.pubcomp, 77).reasonCode == .success, "inbound QoS 2 state was restored")
            }
        }
    }

    @Test("Sessions and messages that expired while the broker was down are dropped on load")
    func expiryOnLoad() async throws {
        try await withTemporaryDirectory { data in
            let (old, fresh) = (unique("old"), unique("fresh"))
            try await withDurableBroker(data: data) { port, _ in
                for id in [old, fresh] {
                    let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: id,
                                                                   properties: [.sessionExpiryInterval(600)])
                    try await client.subscribe("expiry/#", qos: .atLeastOnce)
                    try await client.disconnect()
                }
                let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("expiry-pub"))
                try await publisher.publish("expiry/short", "gone", qos: .atLeastOnce, properties: [.messageExpiryInterval(600)])
                try await publisher.publish("expiry/long", "kept", qos: .atLeastOnce)
                try await publisher.publish("expiry/retained", "gone too", qos: .atLeastOnce, retain: true,
                                            properties: [.messageExpiryInterval(600)])
            }
            // As if the broker had been down for an hour: the session of `old` disconnected an hour
            // ago (expiry 10 minutes), and the messages with an expiry ran out.
            try editStore(data, """
                UPDATE session SET disconnected_at = disconnected_at - 3600000 WHERE client_id = '\(old)';
                UPDATE delivery SET expires_at = expires_at - 3600000 WHERE expires_at IS NOT NULL;
                UPDATE retained SET expires_at = expires_at - 3600000 WHERE expires_at IS NOT NULL;
                """)
            try await withDurableBroker(data: data) { port, broker in
                #expect(try await broker.session(clientID: old) == nil)
                #expect(try await broker.session(clientID: fresh)?.queued == 1)
                let client = try await RawMQTTClient.open(port: port, version: .v5)
                #expect(try await client.connect(clientID: fresh, cleanStart: false, properties: [.sessionExpiryInterval(600)]).sessionPresent)
                #expect(try await collectDeliveries(client) { !$0.isEmpty } == ["kept"])
                let reader = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("expiry-reader"))
                try await reader.subscribe("expiry/#")
                try await reader.expectNothingPending()
            }
        }
    }

    @Test("An empty file is migrated to the current schema; a store from a newer schema is refused and left unchanged")
    func schemaVersions() async throws {
        try await withTemporaryDirectory { data in
            let file = data.appendingPathComponent(MQTTBroker.storeFileName)
            try Data().write(to: file)
            try await withDurableBroker(data: data) { _, _ in }
            let queue = try DatabaseQueue(path: file.path)
            let (version, migrations) = try await queue.read { db in
                (try Int.fetchOne(db, sql: "PRAGMA user_version"), try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"))
            }
            try queue.close()
            #expect(version == 3 && migrations.count == 3)

            try editStore(data, "PRAGMA user_version = 99")
            let before = try Data(contentsOf: file)
            let error = await #expect(throws: BrokerStoreError.self) { try await withDurableBroker(data: data) { _, _ in } }
            #expect(error?.description == "broker store \(file.path): written by schema version 99, newer than this Junction's 3; refusing to start, the file is left unchanged")
            #expect(try Data(contentsOf: file) == before)

            try editStore(data, "PRAGMA user_version = 3; INSERT INTO grdb_migrations VALUES ('v4: from the future')")
            let unknown = await #expect(throws: BrokerStoreError.self) { try await withDurableBroker(data: data) { _, _ in } }
            #expect(unknown?.reason == "written by a newer Junction (unknown schema migrations)")
        }
    }

    @Test("A second broker on the same data directory is refused while the first runs")
    func secondBrokerRefused() async throws {
        try await withTemporaryDirectory { data in
            try await withDurableBroker(data: data) { _, _ in
                let error = await #expect(throws: BrokerStoreError.self) { try await withDurableBroker(data: data) { _, _ in } }
                #expect(error?.reason == "in use by another process")
            }
        }
    }

    @Test("A corrupt store is refused with its path, and never overwritten")
    func corruptRefused() async throws {
        try await withTemporaryDirectory { data in
            try await withDurableBroker(data: data) { port, _ in
                let client = try await RawMQTTClient.connected(port: port, version: .v311, clientID: unique("c"), cleanStart: false)
                try await client.subscribe("a/#", qos: .atLeastOnce)
            }
            let file = data.appendingPathComponent(MQTTBroker.storeFileName)
            var bytes = try Data(contentsOf: file)
            // Keep the header, overwrite the pages after it.
            for index in 100..<min(bytes.count, 8192) { bytes[index] = 0xA5 }
            try bytes.write(to: file)
            let error = await #expect(throws: BrokerStoreError.self) { try await withDurableBroker(data: data) { _, _ in } }
            #expect(error?.path == file.path)
            #expect(error?.description.contains("refusing to start") == true, "\(String(describing: error))")
            #expect(try Data(contentsOf: file) == bytes)
        }
    }
}
