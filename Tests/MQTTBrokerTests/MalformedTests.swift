import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// Malformed packets end only the offending connection (MQTT 5 §4.13; Mosquitto test/broker/
/// 01-connect-*-malformed, 03-publish-*-invalid, 12-prop-maximum-packet-size-publish-*).
@Suite("malformed packets", .timeLimit(.minutes(1)))
struct MalformedTests {
    static let maxPacketSize = 1024

    struct BadPacket: Sendable, CustomStringConvertible {
        var description: String
        /// Bytes sent after a successful CONNECT, per version (properties differ).
        var bytes: @Sendable (MQTTProtocolVersion) -> [UInt8]
        var reason: MQTTReasonCode
    }

    static let cases: [BadPacket] = [
        BadPacket(description: "PUBLISH with QoS 3", bytes: { version in
            // Topic "t", packet id 1, (5.0: no properties), payload "x".
            version == .v5 ? [0x36, 0x07, 0x00, 0x01, 0x74, 0x00, 0x01, 0x00, 0x78] : [0x36, 0x06, 0x00, 0x01, 0x74, 0x00, 0x01, 0x78]
        }, reason: .malformedPacket),
        BadPacket(description: "SUBSCRIBE with reserved flags 0000", bytes: { version in
            version == .v5 ? [0x80, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x74, 0x00] : [0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x74, 0x00]
        }, reason: .malformedPacket),
        BadPacket(description: "PUBREL with reserved flags 0000", bytes: { _ in [0x60, 0x02, 0x00, 0x01] }, reason: .malformedPacket),
        BadPacket(description: "remaining length of 5 bytes", bytes: { _ in [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01] },
                  reason: .malformedPacket),
        BadPacket(description: "packet type 0", bytes: { _ in [0x00, 0x00] }, reason: .malformedPacket),
        BadPacket(description: "SUBSCRIBE whose topic filter runs past the packet", bytes: { version in
            version == .v5 ? [0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x09, 0x74] : [0x82, 0x05, 0x00, 0x01, 0x00, 0x09, 0x74]
        }, reason: .malformedPacket),
        BadPacket(description: "PUBLISH larger than maxPacketSize", bytes: { version in
            var buffer = ByteBuffer()
            try! MQTTPacket.publish(MQTTPublishPacket(topic: "big", payload: ByteBuffer(repeating: 0x41, count: 2000)))
                .encode(into: &buffer, version: version)
            return Array(buffer.readableBytesView)
        }, reason: .packetTooLarge),
    ]

    @Test("the offending connection is closed (DISCONNECT with the decode error's reason on 5.0), its will is published, and another client keeps working",
          arguments: MQTTProtocolVersion.allCases, cases)
    func malformed(version: MQTTProtocolVersion, bad: BadPacket) async throws {
        try await withBroker(settings: .test.with { $0.maxPacketSize = Self.maxPacketSize }) { port in
            let topic = unique("good")
            let willTopic = unique("will")
            let good = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("good"))
            try await good.subscribe(willTopic)
            try await good.subscribe(topic, qos: .atLeastOnce)

            let offender = try await RawMQTTClient.open(port: port, version: version)
            let connack = try await offender.connect(clientID: unique("bad"),
                                                     will: MQTTWill(topic: willTopic, payload: ByteBuffer(string: "bad")))
            #expect(connack.reasonCode == .success)
            if version == .v5 { #expect(connack.properties.maximumPacketSize == UInt32(Self.maxPacketSize)) }
            try await offender.sendRaw(bad.bytes(version))
            let reason = try await offender.expectServerDisconnect()
            #expect(reason == (version == .v5 ? bad.reason : nil), "\(bad)")
            #expect(try await good.receivePublish().payloadString == "bad", "the will of a connection closed for a malformed packet")

            let later = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("later"))
            try await later.publish(topic, "still here", qos: .atLeastOnce)
            let message = try await good.receivePublish()
            #expect(message.payloadString == "still here")
            try await good.acknowledge(message)
            try await good.expectNothingPending()
        }
    }

    @Test("a malformed CONNECT closes the connection without CONNACK", arguments: [
        // Protocol name "MQTX".
        [0x10, 13, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x58, 0x04, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x78] as [UInt8],
        // Reserved connect flag bit 0 set.
        [0x10, 13, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x03, 0x00, 0x3C, 0x00, 0x01, 0x78],
        // Client id length runs past the packet.
        [0x10, 13, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3C, 0x00, 0x09, 0x78],
    ])
    func malformedConnect(bytes: [UInt8]) async throws {
        try await withBroker { port in
            let client = try await RawMQTTClient.open(port: port, version: .v311)
            try await client.sendRaw(bytes)
            let packets = try await client.expectClosed()
            #expect(packets.isEmpty, "got \(packets.map(\.brief))")
            let other = try await RawMQTTClient.connected(port: port, version: .v311, clientID: unique("ok"))
            try await other.expectNothingPending()
        }
    }
}
