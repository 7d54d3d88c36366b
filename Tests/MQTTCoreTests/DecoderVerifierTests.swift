import MQTTCore
import NIOCore
import NIOTestUtils
import Testing

/// `ByteToMessageDecoderVerifier` drip-feeds, batches and splits the inputs; the verifier
/// shuffles the input pairs and keeps one decoder for all of them, so on a server decoder every
/// input starts with a CONNECT (a repeated CONNECT decodes like the first one).
@Suite("MQTTPacketDecoder under ByteToMessageDecoderVerifier")
struct DecoderVerifierTests {
    static func input(_ packets: [MQTTPacket], _ version: MQTTProtocolVersion) throws -> (ByteBuffer, [MQTTPacket]) {
        var buffer = ByteBuffer()
        for packet in packets { try packet.encode(into: &buffer, version: version) }
        return (buffer, packets)
    }

    static let connect5 = MQTTPacket.connect(MQTTConnectPacket(
        protocolVersion: .v5, clientIdentifier: "verifier", keepAlive: 15, username: "u", password: bytes("p"),
        will: MQTTWill(topic: "last/will", payload: bytes("gone"), qos: .atLeastOnce,
                       properties: [.willDelayInterval(3), .contentType("text/plain")]),
        properties: [.sessionExpiryInterval(60), .receiveMaximum(5), .userProperty("a", "b")]))

    @Test("server-side decoder: CONNECT first, then the version it announced")
    func serverSideV5() throws {
        let pairs = [
            try Self.input([
                Self.connect5,
                .subscribe(MQTTSubscribePacket(packetIdentifier: 1, subscriptions: [
                    MQTTSubscription(topicFilter: "a/+", qos: .exactlyOnce, noLocal: true, retainHandling: .doNotSend),
                ], properties: [.subscriptionIdentifier(7)])),
                .publish(MQTTPublishPacket(topic: "a/b", payload: bytes("x"), qos: .atLeastOnce, packetIdentifier: 2,
                                           properties: [.topicAlias(1), .messageExpiryInterval(10)])),
            ], .v5),
            try Self.input([
                .connect(MQTTConnectPacket(protocolVersion: .v5, clientIdentifier: "")),
                .pingreq,
                .unsubscribe(MQTTUnsubscribePacket(packetIdentifier: 3, topicFilters: ["a/+", "#"])),
                .publish(MQTTPublishPacket(topic: "", payload: ByteBuffer(repeating: 1, count: 300), properties: [.topicAlias(1)])),
            ], .v5),
            try Self.input([
                Self.connect5,
                .puback(MQTTPublishAckPacket(packetIdentifier: 4)),
                .pubrec(MQTTPublishAckPacket(packetIdentifier: 5, reasonCode: .noMatchingSubscribers)),
                .pubcomp(MQTTPublishAckPacket(packetIdentifier: 6, properties: [.reasonString("done")])),
                .auth(MQTTAuthPacket(reasonCode: .reAuthenticate, properties: [.authenticationMethod("m")])),
                .disconnect(MQTTDisconnectPacket(reasonCode: .disconnectWithWillMessage)),
            ], .v5),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { MQTTPacketDecoder() }
    }

    @Test("server-side decoder on a 3.1.1 connection")
    func serverSideV311() throws {
        let pairs = [
            try Self.input([
                .connect(MQTTConnectPacket(protocolVersion: .v311, clientIdentifier: "old", username: "u", password: bytes("p"),
                                           will: MQTTWill(topic: "w", payload: bytes("bye"), qos: .exactlyOnce, retain: true))),
                .publish(MQTTPublishPacket(topic: "t", payload: bytes("hello"), qos: .exactlyOnce, packetIdentifier: 1)),
                .pubrel(MQTTPublishAckPacket(packetIdentifier: 1)),
                .subscribe(MQTTSubscribePacket(packetIdentifier: 2, subscriptions: [MQTTSubscription(topicFilter: "#", qos: .atLeastOnce)])),
                .unsubscribe(MQTTUnsubscribePacket(packetIdentifier: 3, topicFilters: ["#"])),
                .pingreq,
                .disconnect(MQTTDisconnectPacket()),
            ], .v311),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { MQTTPacketDecoder() }
    }

    @Test("client-side decoder with version 5")
    func clientSideV5() throws {
        let pairs = [
            try Self.input([
                .connack(MQTTConnAckPacket(sessionPresent: true, properties: [.topicAliasMaximum(10), .assignedClientIdentifier("x")])),
                .suback(MQTTSubAckPacket(packetIdentifier: 1, reasonCodes: [.grantedQoS2, .notAuthorized])),
            ], .v5),
            try Self.input([
                .publish(MQTTPublishPacket(topic: "a/b", payload: bytes("1"), qos: .atLeastOnce, packetIdentifier: 9,
                                           properties: [.subscriptionIdentifier(7), .subscriptionIdentifier(8)])),
                .publish(MQTTPublishPacket(topic: "a/c", payload: ByteBuffer(), retain: true)),
                .pingresp,
            ], .v5),
            try Self.input([
                .pubrel(MQTTPublishAckPacket(packetIdentifier: 10, reasonCode: .packetIdentifierNotFound)),
                .unsuback(MQTTSubAckPacket(packetIdentifier: 11, reasonCodes: [.success, .noSubscriptionExisted])),
                .auth(MQTTAuthPacket(reasonCode: .continueAuthentication, properties: [.authenticationData(bytes([1, 2]))])),
            ], .v5),
            try Self.input([
                .publish(MQTTPublishPacket(topic: "big", payload: ByteBuffer(repeating: 0x5A, count: 2_000), qos: .exactlyOnce,
                                           packetIdentifier: 12)),
            ], .v5),
            try Self.input([
                .disconnect(MQTTDisconnectPacket(reasonCode: .serverShuttingDown, properties: [.serverReference("other")])),
            ], .v5),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { MQTTPacketDecoder(version: .v5) }
    }

    @Test("client-side decoder with version 3.1.1")
    func clientSideV311() throws {
        let pairs = [
            try Self.input([.connack(MQTTConnAckPacket(reasonCode: .success)), .pingresp], .v311),
            try Self.input([
                .suback(MQTTSubAckPacket(packetIdentifier: 1, reasonCodes: [.grantedQoS1, .unspecifiedError])),
                .unsuback(MQTTSubAckPacket(packetIdentifier: 2, reasonCodes: [])),
                .publish(MQTTPublishPacket(topic: "x", payload: bytes("y"), qos: .atLeastOnce, dup: true, packetIdentifier: 3)),
            ], .v311),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { MQTTPacketDecoder(version: .v311) }
    }

    @Test("an oversized packet fails once its fixed header is complete, before its body arrives")
    func oversizedFailsEarly() throws {
        // PUBLISH announcing 1000 bytes of remaining length (VBI E8 07), decoder maximum 100.
        let header: [UInt8] = [0x30, 0xE8, 0x07, 0x00, 0x03]
        var decoder = MQTTPacketDecoder(version: .v5, maximumPacketSize: 100)
        var buffer = ByteBuffer()
        buffer.writeBytes(header[0..<1])
        #expect(try decoder.decode(buffer: &buffer) == nil)
        buffer.writeBytes(header[1..<2])
        #expect(try decoder.decode(buffer: &buffer) == nil)
        buffer.writeBytes(header[2..<3])
        #expect(throws: MQTTDecodeError.packetTooLarge(size: 1003, maximum: 100)) { try decoder.decode(buffer: &buffer) }
    }

    @Test("the decoder hands out packets one at a time from a batch and keeps the partial tail")
    func batchWithPartialTail() throws {
        var buffer = ByteBuffer(bytes: [0xC0, 0x00, 0x40, 0x02, 0x00, 0x01, 0x30, 0x05, 0x00, 0x01])
        var decoder = MQTTPacketDecoder(version: .v311)
        #expect(try decoder.decode(buffer: &buffer) == .pingreq)
        #expect(try decoder.decode(buffer: &buffer) == .puback(MQTTPublishAckPacket(packetIdentifier: 1)))
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == 4)
        buffer.writeBytes([0x61, 0x68, 0x69])
        #expect(try decoder.decodeLast(buffer: &buffer, seenEOF: true)
            == .publish(MQTTPublishPacket(topic: "a", payload: bytes("hi"))))
        #expect(buffer.readableBytes == 0)
    }
}
