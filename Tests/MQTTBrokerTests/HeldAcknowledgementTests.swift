import Foundation
import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// What a publisher's PUBACK waits for with a data directory: its own message's deliveries to
/// persistent sessions, durable or already acknowledged by them, and the PUBACKs before it.
@Suite("Held acknowledgements (batch durability)", .serialized)
struct HeldAcknowledgementTests {
    static let persistent: MQTTProperties = [.sessionExpiryInterval(600)]

    /// A v5 client with a persistent session, subscribed to `filter` with `qos` granted.
    func persistentSubscriber(_ port: Int, _ clientID: String, _ filter: String, qos: MQTTQoS) async throws -> RawMQTTClient {
        let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: clientID, properties: Self.persistent)
        let granted = try await client.subscribe(filter, qos: qos)
        #expect(granted.map(\.rawValue) == [qos.rawValue], "SUBACK for \(filter)")
        return client
    }

    /// A durable broker whose groups may wait a minute (`durabilityMaxWait`): an acknowledgement
    /// that waited for a held group's commit would time out in these tests.
    func withMinuteHold(_ body: (_ port: Int, _ broker: MQTTBroker) async throws -> Void) async throws {
        try await withTemporaryDirectory { data in
            let settings = BrokerSettings.test.with { $0.durabilityMaxWait = .seconds(60) }
            try await withDurableBroker(data: data, settings: settings) { port, broker in try await body(port, broker) }
        }
    }

    /// Sends one QoS 1 PUBLISH without waiting for its PUBACK; returns its packet id.
    func sendQoS1(_ client: RawMQTTClient, _ topic: String, _ payload: String) async throws -> UInt16 {
        let id = client.packetID()
        try await client.send(.publish(MQTTPublishPacket(topic: topic, payload: ByteBuffer(string: payload), qos: .atLeastOnce,
                                                         packetIdentifier: id)))
        return id
    }

    /// A persistent subscriber that acknowledges at once (`<tag>/#`), one that does not
    /// (`slow<tag>/#`), both connected before groups are held (a session row or subscription
    /// waits for its commit), and a publisher.
    func quickSlowAndPublisher(_ port: Int, _ tag: String) async throws -> (quick: RawMQTTClient, slow: RawMQTTClient, publisher: RawMQTTClient) {
        let quick = try await persistentSubscriber(port, unique("\(tag)-sub"), "\(tag)/#", qos: .atLeastOnce)
        let slow = try await persistentSubscriber(port, unique("\(tag)-slow"), "slow\(tag)/#", qos: .atLeastOnce)
        return (quick, slow, try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("\(tag)-pub")))
    }

    /// Publishes `count` QoS 1 messages to `<tag>/x` one at a time, each acknowledged by `quick`
    /// as it arrives and PUBACKed to the publisher with success.
    func publishAcknowledged(_ count: Int, _ tag: String, _ quick: RawMQTTClient, _ publisher: RawMQTTClient) async throws {
        for i in 0..<count {
            let id = try await sendQoS1(publisher, "\(tag)/x", "m\(i)")
            let delivery = try await quick.receivePublish()
            #expect(delivery.payloadString == "m\(i)")
            try await quick.acknowledge(delivery)
            #expect(try await publisher.expectAck(.puback, id, timeout: .seconds(20)).reasonCode == .success)
        }
    }

    @Test("A message the persistent subscriber acknowledged before its group was written is PUBACKed at once and never stored")
    func acknowledgedBeforeWriteSkipsTheStore() async throws {
        try await withMinuteHold { port, broker in
            let (subscriber, slow, publisher) = try await quickSlowAndPublisher(port, "held")
            let count = 20
            try await publishAcknowledged(count, "held", subscriber, publisher)
            let stats = try await broker.statistics()
            // The first delivery is written (nothing has shown yet that deliveries are short-lived); the rest never are.
            #expect(stats.deliveriesStored <= 1, "stored \(stats.deliveriesStored)")
            #expect(stats.deliveriesSkipped >= count - 1, "skipped \(stats.deliveriesSkipped)")

            // A message published after it still waits for `slow`, which does not acknowledge:
            // the earlier PUBACK does not wait for that one's write.
            let quickID = try await sendQoS1(publisher, "held/x", "quick")
            _ = try await sendQoS1(publisher, "slowheld/x", "slow")
            #expect(try await slow.receivePublish().payloadString == "slow")
            try await subscriber.acknowledge(try await subscriber.receivePublish())
            #expect(try await publisher.expectAck(.puback, quickID, timeout: .seconds(20)).reasonCode == .success)
        }
    }

    @Test("While a group is held back, a persistent client's CONNACK and SUBACK do not wait for it: the group is written at once")
    func sessionControlDoesNotWaitForHeldGroups() async throws {
        try await withMinuteHold { port, broker in
            let (subscriber, slow, publisher) = try await quickSlowAndPublisher(port, "held3")
            // Deliveries acknowledged at once: the broker holds groups back from now on.
            try await publishAcknowledged(5, "held3", subscriber, publisher)
            // A delivery nobody acknowledges: the open group would wait its minute for it.
            _ = try await sendQoS1(publisher, "slowheld3/x", "slow")
            #expect(try await slow.receivePublish().payloadString == "slow")
            // A new persistent session and its subscription are changes of their own; their
            // CONNACK and SUBACK (15 s limit each) come once they are written, not a minute later.
            let late = try await persistentSubscriber(port, unique("held-late3"), "late3/#", qos: .atLeastOnce)
            try await late.disconnect()
            #expect(try await broker.statistics().deliveriesStored >= 1, "the slow delivery was written with the session")
        }
    }

    @Test("QoS 2 deliveries, which wait for their commit, never make the broker hold groups back")
    func qos2FlowIsNotHeld() async throws {
        // Held groups would wait a minute, and every QoS 2 PUBLISH to the subscriber with them.
        try await withMinuteHold { port, _ in
            let subscriber = try await persistentSubscriber(port, unique("held-sub2"), "held2/#", qos: .exactlyOnce)
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("held-pub2"))
            for i in 0..<10 {
                let id = publisher.packetID()
                try await publisher.send(.publish(MQTTPublishPacket(topic: "held2/x", payload: ByteBuffer(string: "m\(i)"),
                                                                    qos: .exactlyOnce, packetIdentifier: id)))
                _ = try await publisher.expectAck(.pubrec, id, timeout: .seconds(20))
                try await publisher.send(.pubrel(MQTTPublishAckPacket(packetIdentifier: id)))
                _ = try await publisher.expectAck(.pubcomp, id, timeout: .seconds(20))
                let delivery = try await subscriber.receivePublish(timeout: .seconds(20))
                #expect(delivery.payloadString == "m\(i)" && delivery.qos == .exactlyOnce)
                try await subscriber.acknowledge(delivery)
            }
        }
    }

    @Test("A PUBACK never overtakes an earlier one still waiting for its message to be written, and that message is stored")
    func pubacksKeepTheirOrder() async throws {
        try await withTemporaryDirectory { data in
            let settings = BrokerSettings.test.with { $0.durabilityMaxWait = .milliseconds(300) }
            let lateID = unique("held-late")
            try await withDurableBroker(data: data, settings: settings) { port, broker in
                let quick = try await persistentSubscriber(port, unique("held-quick"), "quick/#", qos: .atLeastOnce)
                let late = try await persistentSubscriber(port, lateID, "late/#", qos: .atLeastOnce)
                let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("held-pub"))
                // Short-lived deliveries first, so that groups are held.
                for i in 0..<3 {
                    let id = try await sendQoS1(publisher, "quick/x", "q\(i)")
                    try await quick.acknowledge(try await quick.receivePublish())
                    _ = try await publisher.expectAck(.puback, id)
                }
                let before = try await broker.statistics().deliveriesStored
                // `late` never acknowledges m1; `quick` acknowledges m2 at once.
                let first = try await sendQoS1(publisher, "late/x", "m1")
                let second = try await sendQoS1(publisher, "quick/x", "m2")
                #expect(try await late.receivePublish().payloadString == "m1")
                let m2 = try await quick.receivePublish()
                #expect(m2.payloadString == "m2")
                try await quick.acknowledge(m2)
                _ = try await publisher.expectAck(.puback, first)
                _ = try await publisher.expectAck(.puback, second)
                #expect(try await broker.statistics().deliveriesStored > before, "m1 was written before its PUBACK")
                await late.closeAbruptly()
            }
            // m1 was acknowledged to the publisher, so it is in the store: it comes again.
            try await withDurableBroker(data: data, settings: settings) { port, _ in
                let late = try await RawMQTTClient.open(port: port, version: .v5)
                #expect(try await late.connect(clientID: lateID, cleanStart: false, properties: Self.persistent).sessionPresent)
                let again = try await late.receivePublish()
                #expect(again.payloadString == "m1" && again.dup)
            }
        }
    }
}
