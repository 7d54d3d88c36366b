import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// Receive Maximum / inflight window, QoS 2 messages awaiting PUBREL, Maximum Packet Size
/// (MQTT 5 §3.1.2.11.3-4, §4.9; Mosquitto test/broker/03-publish-qos1-max-inflight*, 12-prop-maximum-packet-size-*).
@Suite("flow control", .timeLimit(.minutes(1)))
struct FlowControlTests {
    @Test("only Receive Maximum (5.0) / maxInflight (3.1.1) unacknowledged QoS 1 messages are in flight",
          arguments: MQTTProtocolVersion.allCases)
    func receiveMaximum(version: MQTTProtocolVersion) async throws {
        // 3.1.1 has no Receive Maximum: the broker's own maxInflight is the window there.
        let settings = version == .v311 ? BrokerSettings.test.with { $0.maxInflight = 2 } : .test
        try await withBroker(settings: settings) { port in
            let topic = unique("window")
            let subscriber = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("sub"),
                                                               properties: version == .v5 ? [.receiveMaximum(2)] : [])
            try await subscriber.subscribe(topic, qos: .atLeastOnce)
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            for n in 1...4 { try await publisher.publish(topic, "m\(n)", qos: .atLeastOnce) }

            let m1 = try await subscriber.receivePublish()
            let m2 = try await subscriber.receivePublish()
            #expect([m1.payloadString, m2.payloadString] == ["m1", "m2"])
            try await subscriber.expectNothingPending()  // m3 waits for an ack

            try await subscriber.acknowledge(m1)
            let m3 = try await subscriber.receivePublish()
            #expect(m3.payloadString == "m3")
            try await subscriber.expectNothingPending()

            try await subscriber.acknowledge(m2)
            let m4 = try await subscriber.receivePublish()
            #expect(m4.payloadString == "m4")
            try await subscriber.acknowledge(m3)
            try await subscriber.acknowledge(m4)
            try await subscriber.expectNothingPending()
        }
    }

    @Test("5.0: a QoS 2 message counts against Receive Maximum until its PUBCOMP")
    func receiveMaximumQoS2() async throws {
        try await withBroker { port in
            let topic = unique("window2")
            let subscriber = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("sub"),
                                                               properties: [.receiveMaximum(1)])
            try await subscriber.subscribe(topic, qos: .exactlyOnce)
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            try await publisher.publish(topic, "first", qos: .exactlyOnce)
            try await publisher.publish(topic, "second", qos: .exactlyOnce)

            let first = try await subscriber.receivePublish()
            let id = try #require(first.packetIdentifier)
            try await subscriber.send(.pubrec(MQTTPublishAckPacket(packetIdentifier: id)))
            _ = try await subscriber.expectAck(.pubrel, id)
            try await subscriber.expectNothingPending()  // PUBREC alone does not free the slot
            try await subscriber.send(.pubcomp(MQTTPublishAckPacket(packetIdentifier: id)))
            #expect(try await subscriber.receivePublish().payloadString == "second")
        }
    }

    @Test("more QoS 2 messages awaiting PUBREL than maxAwaitingRel: refused (DISCONNECT 0x93 on 5.0), and every message acknowledged with PUBREC is delivered",
          arguments: MQTTProtocolVersion.allCases)
    func awaitingRelLimit(version: MQTTProtocolVersion) async throws {
        // Mosquitto 2.0.11 acknowledged QoS 2 messages beyond its limit with PUBREC and dropped them.
        let settings = BrokerSettings.test.with {
            $0.maxAwaitingRel = 20
            $0.maxInflight = 100
        }
        try await withBroker(settings: settings) { port in
            let topic = unique("awaitrel")
            let subscriber = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("sub"))
            try await subscriber.subscribe(topic, qos: .atLeastOnce)

            let publisher = try await RawMQTTClient.open(port: port, version: version)
            let connack = try await publisher.connect(clientID: unique("flood"))
            if version == .v5 { #expect(connack.properties.receiveMaximum == 20) }
            try await publisher.sendBatch((UInt16(1)...64).map { id in
                .publish(MQTTPublishPacket(topic: topic, payload: ByteBuffer(string: "m\(id)"), qos: .exactlyOnce, packetIdentifier: id))
            })
            var acknowledged: [String] = []
            var disconnect: MQTTReasonCode?
            for packet in try await publisher.expectClosed() {
                switch packet {
                case .pubrec(let ack) where !ack.reasonCode.isFailure: acknowledged.append("m\(ack.packetIdentifier)")
                case .disconnect(let d): disconnect = d.reasonCode
                default: Issue.record("unexpected \(packet.brief)")
                }
            }
            #expect(disconnect == (version == .v5 ? .receiveMaximumExceeded : nil))
            #expect(acknowledged.count == 20)

            var delivered: [String] = []
            for _ in acknowledged {
                let message = try await subscriber.receivePublish()
                delivered.append(message.payloadString)
                try await subscriber.acknowledge(message)
            }
            try await subscriber.expectNothingPending()
            #expect(delivered == acknowledged, "every message the broker acknowledged reaches the subscriber, nothing else")
        }
    }

    @Test("5.0: a publisher keeping to the broker's Receive Maximum gets all 64 QoS 2 messages through")
    func awaitingRelWithinLimit() async throws {
        try await withBroker(settings: .test.with { $0.maxAwaitingRel = 20; $0.maxInflight = 100 }) { port in
            let topic = unique("window64")
            let subscriber = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("sub"))
            try await subscriber.subscribe(topic)
            let publisher = try await RawMQTTClient.open(port: port, version: .v5)
            let limit = Int(try #require(try await publisher.connect(clientID: unique("pub")).properties.receiveMaximum))
            var next: UInt16 = 1
            var completed = 0
            func sendNext() async throws {
                try await publisher.send(.publish(MQTTPublishPacket(topic: topic, payload: ByteBuffer(string: "m\(next)"),
                                                                    qos: .exactlyOnce, packetIdentifier: next)))
                next += 1
            }
            while next <= min(64, UInt16(limit)) { try await sendNext() }
            while completed < 64 {
                switch try await publisher.receive() {
                case .pubrec(let ack): try await publisher.send(.pubrel(MQTTPublishAckPacket(packetIdentifier: ack.packetIdentifier)))
                case .pubcomp:
                    completed += 1
                    if next <= 64 { try await sendNext() }
                case let other: throw RawClientError.unexpected(other, expected: "PUBREC or PUBCOMP")
                }
            }
            for n in 1...64 { #expect(try await subscriber.receivePublish().payloadString == "m\(n)") }
            try await subscriber.expectNothingPending()
        }
    }

    @Test("5.0: a message larger than a subscriber's Maximum Packet Size is not sent to it, but to others",
          arguments: [MQTTQoS.atMostOnce, .atLeastOnce])
    func maximumPacketSize(qos: MQTTQoS) async throws {
        try await withBroker { port in
            let topic = unique("mps")
            let small = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("small"),
                                                          properties: [.maximumPacketSize(128), .receiveMaximum(1)])
            try await small.subscribe(topic, qos: qos)
            let large = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("large"))
            try await large.subscribe(topic, qos: qos)
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))

            let big = String(repeating: "x", count: 300)
            try await publisher.publish(topic, big, qos: qos)
            let received = try await large.receivePublish()
            #expect(received.payloadString == big)
            try await large.acknowledge(received)
            try await small.expectNothingPending()

            // The dropped message does not hold a slot of the (1-message) window.
            try await publisher.publish(topic, "fits", qos: qos)
            let fits = try await small.receivePublish()
            #expect(fits.payloadString == "fits")
            try await small.acknowledge(fits)
            try await small.expectNothingPending()
        }
    }
}
