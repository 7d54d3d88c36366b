import MQTTCore
import NIOCore
import Testing

/// Persistent sessions, redelivery and session expiry (MQTT 5 §4.1, §4.4;
/// Mosquitto test/broker/03-publish-*-queued, 05-clean-session-*, 07-session-expiry-*).
@Suite("sessions", .timeLimit(.minutes(1)))
struct SessionTests {
    static func persistent(_ version: MQTTProtocolVersion, expiry: UInt32 = 60) -> MQTTProperties {
        version == .v5 ? [.sessionExpiryInterval(expiry)] : []
    }

    @Test("offline QoS 1 messages are queued and delivered in order on reconnect, with session present",
          arguments: MQTTProtocolVersion.allCases)
    func offlineQueue(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("queued")
            let id = unique("sleeper")
            let sleeper = try await RawMQTTClient.connected(port: port, version: version, clientID: id, cleanStart: false,
                                                            properties: Self.persistent(version))
            try await sleeper.subscribe(topic, qos: .atLeastOnce)
            try await sleeper.disconnect()

            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            for n in 1...3 {
                #expect(try await publisher.publish(topic, "m\(n)", qos: .atLeastOnce) == .success)
            }

            let back = try await RawMQTTClient.open(port: port, version: version)
            let ack = try await back.connect(clientID: id, cleanStart: false, properties: Self.persistent(version))
            #expect(ack.sessionPresent)
            for n in 1...3 {
                let message = try await back.receivePublish()
                #expect(message.payloadString == "m\(n)")
                #expect(message.qos == .atLeastOnce)
                try await back.acknowledge(message)
            }
            try await back.expectNothingPending()
        }
    }

    @Test("an unacknowledged QoS 1 message is sent again with DUP and the same packet id on reconnect",
          arguments: MQTTProtocolVersion.allCases)
    func unackedQoS1Redelivered(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("redeliver")
            let id = unique("forgetful")
            let client = try await RawMQTTClient.connected(port: port, version: version, clientID: id, cleanStart: false,
                                                           properties: Self.persistent(version))
            try await client.subscribe(topic, qos: .atLeastOnce)
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            try await publisher.publish(topic, "again", qos: .atLeastOnce)
            let first = try await client.receivePublish()
            #expect(!first.dup)
            await client.closeAbruptly()  // no PUBACK

            let back = try await RawMQTTClient.open(port: port, version: version)
            #expect(try await back.connect(clientID: id, cleanStart: false, properties: Self.persistent(version)).sessionPresent)
            let again = try await back.receivePublish()
            #expect(again.payloadString == "again")
            #expect(again.dup)
            #expect(again.packetIdentifier == first.packetIdentifier)
            try await back.acknowledge(again)
            try await back.expectNothingPending()
        }
    }

    @Test("a QoS 2 message whose PUBCOMP did not come gets PUBREL again on reconnect", arguments: MQTTProtocolVersion.allCases)
    func unackedPubRelResent(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("pubrel")
            let id = unique("halfway")
            let client = try await RawMQTTClient.connected(port: port, version: version, clientID: id, cleanStart: false,
                                                           properties: Self.persistent(version))
            try await client.subscribe(topic, qos: .exactlyOnce)
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            try await publisher.publish(topic, "q2", qos: .exactlyOnce)
            let message = try await client.receivePublish()
            let packetID = try #require(message.packetIdentifier)
            try await client.send(.pubrec(MQTTPublishAckPacket(packetIdentifier: packetID)))
            _ = try await client.expectAck(.pubrel, packetID)
            await client.closeAbruptly()  // no PUBCOMP

            let back = try await RawMQTTClient.open(port: port, version: version)
            #expect(try await back.connect(clientID: id, cleanStart: false, properties: Self.persistent(version)).sessionPresent)
            _ = try await back.expectAck(.pubrel, packetID)
            try await back.send(.pubcomp(MQTTPublishAckPacket(packetIdentifier: packetID)))
            try await back.expectNothingPending()
        }
    }

    @Test("3.1.1: QoS 0 messages are queued for an offline session only with mqueueStoreQos0", arguments: [true, false])
    func offlineQoS0(storeQoS0: Bool) async throws {
        try await withBroker(settings: .test.with { $0.mqueueStoreQos0 = storeQoS0 }) { port in
            let topic = unique("q0")
            let id = unique("sleeper")
            let sleeper = try await RawMQTTClient.connected(port: port, version: .v311, clientID: id, cleanStart: false)
            try await sleeper.subscribe(topic, qos: .atLeastOnce)
            try await sleeper.disconnect()
            let publisher = try await RawMQTTClient.connected(port: port, version: .v311, clientID: unique("pub"))
            try await publisher.publish(topic, "zero", qos: .atMostOnce)
            try await publisher.publish(topic, "one", qos: .atLeastOnce)

            let back = try await RawMQTTClient.open(port: port, version: .v311)
            #expect(try await back.connect(clientID: id, cleanStart: false).sessionPresent)
            if storeQoS0 {
                let zero = try await back.receivePublish()
                #expect(zero.payloadString == "zero" && zero.qos == .atMostOnce)
            }
            let one = try await back.receivePublish()
            #expect(one.payloadString == "one")
            try await back.acknowledge(one)
            try await back.expectNothingPending()
        }
    }

    @Test("a full offline queue drops its oldest message (maxMqueueLen)", arguments: MQTTProtocolVersion.allCases)
    func queueLimit(version: MQTTProtocolVersion) async throws {
        try await withBroker(settings: .test.with { $0.maxMqueueLen = 3 }) { port in
            let topic = unique("full")
            let id = unique("sleeper")
            let sleeper = try await RawMQTTClient.connected(port: port, version: version, clientID: id, cleanStart: false,
                                                            properties: Self.persistent(version))
            try await sleeper.subscribe(topic, qos: .atLeastOnce)
            try await sleeper.disconnect()
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            for n in 1...5 { try await publisher.publish(topic, "m\(n)", qos: .atLeastOnce) }

            let back = try await RawMQTTClient.open(port: port, version: version)
            #expect(try await back.connect(clientID: id, cleanStart: false, properties: Self.persistent(version)).sessionPresent)
            var payloads: [String] = []
            for _ in 1...3 {
                let message = try await back.receivePublish()
                payloads.append(message.payloadString)
                try await back.acknowledge(message)
            }
            #expect(payloads == ["m3", "m4", "m5"])
            try await back.expectNothingPending()
        }
    }

    @Test("clean start discards a stored session and the messages queued for it", arguments: MQTTProtocolVersion.allCases)
    func cleanStartDiscardsQueue(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("discard")
            let id = unique("sleeper")
            let sleeper = try await RawMQTTClient.connected(port: port, version: version, clientID: id, cleanStart: false,
                                                            properties: Self.persistent(version))
            try await sleeper.subscribe(topic, qos: .atLeastOnce)
            try await sleeper.disconnect()
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            try await publisher.publish(topic, "stale", qos: .atLeastOnce)

            let fresh = try await RawMQTTClient.open(port: port, version: version)
            #expect(try await fresh.connect(clientID: id, cleanStart: true).sessionPresent == false)
            try await fresh.expectNothingPending()
            // ...and the old subscription is gone with it.
            try await publisher.publish(topic, "after", qos: .atLeastOnce)
            try await fresh.expectNothingPending()
        }
    }

    @Test("unacknowledged messages are resent while connected only on 3.1.1 (retryInterval); 5.0 resends only on reconnect")
    func retryWhileConnected() async throws {
        try await withBroker(settings: .test.with { $0.retryInterval = .milliseconds(300) }) { port in
            let topic = unique("retry")
            let old = try await RawMQTTClient.connected(port: port, version: .v311, clientID: unique("v311"))
            try await old.subscribe(topic, qos: .atLeastOnce)
            let new = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("v5"))
            try await new.subscribe(topic, qos: .atLeastOnce)
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            try await publisher.publish(topic, "unacked", qos: .atLeastOnce)

            let first = try await old.receivePublish()
            #expect(!first.dup)
            _ = try await new.receivePublish()
            // The 3.1.1 client's copies mark the time: two retry rounds have passed after the second.
            for _ in 0..<2 {
                let again = try await old.receivePublish(timeout: .seconds(15))
                #expect(again.dup && again.packetIdentifier == first.packetIdentifier && again.payloadString == "unacked")
            }
            try await new.expectNothingPending()  // MQTT 5 §4.4: no resend on an open connection
        }
    }

    @Test("5.0: the session is gone after its expiry interval")
    func sessionExpiry() async throws {
        try await withBroker { port in
            let topic = unique("expiry")
            let id = unique("brief")
            let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: id, cleanStart: true,
                                                           properties: [.sessionExpiryInterval(2)])
            try await client.subscribe(topic, qos: .atLeastOnce)
            let disconnected = ContinuousClock.now  // the broker's expiry timer cannot start before this
            try await client.disconnect()

            // While the session lives, its subscription matches (PUBACK 0x00); once it expired,
            // nothing does (0x10). Polling publishes does not touch the session.
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            let kept = try await publisher.publish(topic, "kept", qos: .atLeastOnce)
            // The expiry timer cannot start before `disconnected`: a PUBACK within 2 s of it must
            // find the session. (A machine too loaded to publish in time can only check the rest.)
            if ContinuousClock.now - disconnected < .milliseconds(1900) {
                #expect(kept == .success, "the session's subscription matched while it lived")
            }
            try await poll(timeout: .seconds(15), interval: .milliseconds(100), "session expiry") {
                try await publisher.publish(topic, "probe", qos: .atLeastOnce) == .noMatchingSubscribers ? true : nil
            }
            #expect(ContinuousClock.now - disconnected >= .milliseconds(1900), "expired before its 2 s interval")

            let back = try await RawMQTTClient.open(port: port, version: .v5)
            let ack = try await back.connect(clientID: id, cleanStart: false, properties: [.sessionExpiryInterval(2)])
            #expect(ack.reasonCode == .success)
            #expect(!ack.sessionPresent)
            try await back.expectNothingPending()  // and none of the messages published meanwhile
        }
    }

    @Test("5.0: DISCONNECT may shorten the session expiry to 0, which ends the session")
    func disconnectEndsSession() async throws {
        try await withBroker { port in
            let id = unique("short")
            let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: id, cleanStart: true,
                                                           properties: [.sessionExpiryInterval(300)])
            try await client.disconnect(properties: [.sessionExpiryInterval(0)])
            let back = try await RawMQTTClient.open(port: port, version: .v5)
            #expect(try await back.connect(clientID: id, cleanStart: false).sessionPresent == false)
        }
    }

    @Test("5.0: a non-zero expiry in DISCONNECT after CONNECT with 0 is a protocol error (0x82), and the will is sent")
    func disconnectExpiryProtocolError() async throws {
        try await withBroker { port in
            let topic = unique("experr")
            let watcher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("watch"))
            try await watcher.subscribe(topic)
            let client = try await RawMQTTClient.connected(
                port: port, version: .v5, clientID: unique("c"),
                will: MQTTWill(topic: topic, payload: ByteBuffer(string: "will")))
            try await client.send(.disconnect(MQTTDisconnectPacket(properties: [.sessionExpiryInterval(60)])))
            #expect(try await client.expectServerDisconnect() == .protocolError)
            #expect(try await watcher.receivePublish().payloadString == "will",
                    "an invalid DISCONNECT is not a normal disconnection: the will goes out")
        }
    }
}
