import MQTTCore
import NIOCore
import Testing

/// The QoS 2 exchange rules on both sides of the broker (MQTT 5 §4.3.3, §4.4;
/// Mosquitto test/broker/03-publish-qos2-*, 04-retain-qos2-*).
@Suite("QoS 2", .timeLimit(.minutes(1)))
struct QoS2Tests {
    @Test("receiver: a PUBLISH resent with DUP before PUBREL is acknowledged but not delivered twice",
          arguments: MQTTProtocolVersion.allCases)
    func duplicateBeforePubRel(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("qos2dup")
            let subscriber = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("sub"))
            try await subscriber.subscribe(topic, qos: .exactlyOnce)
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))

            var packet = MQTTPublishPacket(topic: topic, payload: ByteBuffer(string: "exactly once"), qos: .exactlyOnce,
                                           packetIdentifier: 7)
            try await publisher.send(.publish(packet))
            _ = try await publisher.expectAck(.pubrec, 7)
            packet.dup = true
            try await publisher.send(.publish(packet))
            _ = try await publisher.expectAck(.pubrec, 7)
            try await publisher.send(.pubrel(MQTTPublishAckPacket(packetIdentifier: 7)))
            #expect(try await publisher.expectAck(.pubcomp, 7).reasonCode == .success)

            let message = try await subscriber.receivePublish()
            #expect(message.payloadString == "exactly once")
            try await subscriber.acknowledge(message)
            try await subscriber.expectNothingPending()
        }
    }

    @Test("receiver: after PUBCOMP the packet id is free and a new message with it is delivered",
          arguments: MQTTProtocolVersion.allCases)
    func packetIDReuse(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("qos2reuse")
            let subscriber = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("sub"))
            try await subscriber.subscribe(topic, qos: .atLeastOnce)
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            for payload in ["first", "second"] {
                try await publisher.send(.publish(MQTTPublishPacket(topic: topic, payload: ByteBuffer(string: payload),
                                                                    qos: .exactlyOnce, packetIdentifier: 9)))
                _ = try await publisher.expectAck(.pubrec, 9)
                try await publisher.send(.pubrel(MQTTPublishAckPacket(packetIdentifier: 9)))
                _ = try await publisher.expectAck(.pubcomp, 9)
            }
            for payload in ["first", "second"] {
                let message = try await subscriber.receivePublish()
                #expect(message.payloadString == payload)
                try await subscriber.acknowledge(message)
            }
            try await subscriber.expectNothingPending()
        }
    }

    @Test("receiver: a persistent session keeps the QoS 2 state across reconnects (DUP not routed again, PUBREL completes)",
          arguments: MQTTProtocolVersion.allCases)
    func receiverStateSurvivesReconnect(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("qos2resume")
            let id = unique("pub")
            let persistent: MQTTProperties = version == .v5 ? [.sessionExpiryInterval(60)] : []
            let subscriber = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("sub"))
            try await subscriber.subscribe(topic, qos: .atLeastOnce)
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: id, cleanStart: false,
                                                              properties: persistent)
            let packet = MQTTPublishPacket(topic: topic, payload: ByteBuffer(string: "once"), qos: .exactlyOnce, packetIdentifier: 5)
            try await publisher.send(.publish(packet))
            _ = try await publisher.expectAck(.pubrec, 5)
            await publisher.closeAbruptly()  // before PUBREL

            let back = try await RawMQTTClient.open(port: port, version: version)
            #expect(try await back.connect(clientID: id, cleanStart: false, properties: persistent).sessionPresent)
            var again = packet
            again.dup = true
            try await back.send(.publish(again))
            _ = try await back.expectAck(.pubrec, 5)
            try await back.send(.pubrel(MQTTPublishAckPacket(packetIdentifier: 5)))
            #expect(try await back.expectAck(.pubcomp, 5).reasonCode == .success)

            let message = try await subscriber.receivePublish()
            #expect(message.payloadString == "once")
            try await subscriber.acknowledge(message)
            try await subscriber.expectNothingPending()
        }
    }

    @Test("receiver: PUBREL for an unknown packet id gets PUBCOMP (0x92 Packet Identifier not found on 5.0)",
          arguments: MQTTProtocolVersion.allCases)
    func pubRelUnknownID(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let client = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("c"))
            try await client.send(.pubrel(MQTTPublishAckPacket(packetIdentifier: 555)))
            let pubcomp = try await client.expectAck(.pubcomp, 555)
            #expect(pubcomp.reasonCode == (version == .v5 ? .packetIdentifierNotFound : .success))
            try await client.expectNothingPending()
        }
    }

    @Test("sender: a repeated PUBREC is answered with PUBREL again; PUBCOMP ends the exchange",
          arguments: MQTTProtocolVersion.allCases)
    func repeatedPubRec(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("qos2out")
            let subscriber = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("sub"))
            try await subscriber.subscribe(topic, qos: .exactlyOnce)
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            try await publisher.publish(topic, "m", qos: .exactlyOnce)

            let message = try await subscriber.receivePublish()
            let id = try #require(message.packetIdentifier)
            try await subscriber.send(.pubrec(MQTTPublishAckPacket(packetIdentifier: id)))
            _ = try await subscriber.expectAck(.pubrel, id)
            try await subscriber.send(.pubrec(MQTTPublishAckPacket(packetIdentifier: id)))
            _ = try await subscriber.expectAck(.pubrel, id)
            try await subscriber.send(.pubcomp(MQTTPublishAckPacket(packetIdentifier: id)))
            try await subscriber.expectNothingPending()
        }
    }

    @Test("5.0 sender: a PUBREC with a failure reason code ends the exchange without PUBREL")
    func pubRecFailure() async throws {
        try await withBroker { port in
            let topic = unique("qos2fail")
            let subscriber = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("sub"))
            try await subscriber.subscribe(topic, qos: .exactlyOnce)
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            try await publisher.publish(topic, "refused", qos: .exactlyOnce)
            let message = try await subscriber.receivePublish()
            let id = try #require(message.packetIdentifier)
            try await subscriber.send(.pubrec(MQTTPublishAckPacket(packetIdentifier: id, reasonCode: .implementationSpecificError)))
            try await subscriber.expectNothingPending()
            // The window slot is free again: the next message flows.
            try await publisher.publish(topic, "next", qos: .exactlyOnce)
            #expect(try await subscriber.receivePublish().payloadString == "next")
        }
    }
}
