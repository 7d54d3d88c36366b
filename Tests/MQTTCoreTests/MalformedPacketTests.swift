import MQTTCore
import NIOCore
import Testing

/// Malformed fixed headers, framing, CONNECT and trailing bytes.
enum MalformedFraming {
    static let fixedHeader: [MalformedCase] = [
        bad("remaining length of 5 bytes", .v5, [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
            .malformedVariableByteInteger, .malformedPacket),
        bad("packet type 0", .v5, [0x00, 0x00], .invalidPacketType(0), .malformedPacket),
        bad("AUTH (type 15) on 3.1.1", .v311, [0xF0, 0x00], .invalidPacketType(15), .malformedPacket),
        bad("CONNECT flags 0010", nil, [0x12, 0x00], .invalidFixedHeaderFlags(.connect, flags: 0x2), .malformedPacket),
        bad("CONNACK flags 1000", .v5, [0x28, 0x03, 0x00, 0x00, 0x00], .invalidFixedHeaderFlags(.connack, flags: 0x8), .malformedPacket),
        bad("PUBACK flags 0001", .v5, [0x41, 0x02, 0x00, 0x01], .invalidFixedHeaderFlags(.puback, flags: 0x1), .malformedPacket),
        bad("PUBREC flags 0010", .v311, [0x52, 0x02, 0x00, 0x01], .invalidFixedHeaderFlags(.pubrec, flags: 0x2), .malformedPacket),
        bad("PUBREL flags 0000", .v311, [0x60, 0x02, 0x00, 0x01], .invalidFixedHeaderFlags(.pubrel, flags: 0x0), .malformedPacket),
        bad("PUBCOMP flags 0010", .v5, [0x72, 0x02, 0x00, 0x01], .invalidFixedHeaderFlags(.pubcomp, flags: 0x2), .malformedPacket),
        bad("SUBSCRIBE flags 0000", .v311, [0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00],
            .invalidFixedHeaderFlags(.subscribe, flags: 0x0), .malformedPacket),
        bad("SUBSCRIBE flags 0011", .v5, [0x83, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x00],
            .invalidFixedHeaderFlags(.subscribe, flags: 0x3), .malformedPacket),
        bad("SUBACK flags 0010", .v5, [0x92, 0x04, 0x00, 0x01, 0x00, 0x00], .invalidFixedHeaderFlags(.suback, flags: 0x2), .malformedPacket),
        bad("UNSUBSCRIBE flags 0000", .v5, [0xA0, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61],
            .invalidFixedHeaderFlags(.unsubscribe, flags: 0x0), .malformedPacket),
        bad("UNSUBACK flags 0100", .v311, [0xB4, 0x02, 0x00, 0x01], .invalidFixedHeaderFlags(.unsuback, flags: 0x4), .malformedPacket),
        bad("PINGREQ flags 0001", .v311, [0xC1, 0x00], .invalidFixedHeaderFlags(.pingreq, flags: 0x1), .malformedPacket),
        bad("PINGRESP flags 1000", .v5, [0xD8, 0x00], .invalidFixedHeaderFlags(.pingresp, flags: 0x8), .malformedPacket),
        bad("DISCONNECT flags 0010", .v5, [0xE2, 0x00], .invalidFixedHeaderFlags(.disconnect, flags: 0x2), .malformedPacket),
        bad("AUTH flags 0001", .v5, [0xF1, 0x00], .invalidFixedHeaderFlags(.auth, flags: 0x1), .malformedPacket),
        bad("PUBLISH QoS 3", .v5, [0x36, 0x04, 0x00, 0x01, 0x61, 0x00], .invalidQoS(3), .malformedPacket),
        bad("PUBLISH QoS 3 on 3.1.1", .v311, [0x37, 0x03, 0x00, 0x01, 0x61], .invalidQoS(3), .malformedPacket),
        bad("PUBLISH DUP on QoS 0", .v5, [0x38, 0x04, 0x00, 0x01, 0x61, 0x00], .dupFlagOnQoS0, .protocolError),
        // 1003 bytes announced, only the first 5 delivered: refused from the fixed header alone.
        bad("packet larger than the decoder's maximum", .v5, [0x30, 0xE8, 0x07, 0x00, 0x03],
            .packetTooLarge(size: 1003, maximum: 100), .packetTooLarge, maximumPacketSize: 100),
        bad("packet one byte over the maximum", .v311, [0x30, 0x09, 0x00, 0x01, 0x61, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36],
            .packetTooLarge(size: 11, maximum: 10), .packetTooLarge, maximumPacketSize: 10),
        bad("PINGREQ first on a server connection", nil, [0xC0, 0x00], .connectExpected(.pingreq), .protocolError),
        bad("PUBLISH first on a server connection", nil, [0x30, 0x03, 0x00, 0x01, 0x61], .connectExpected(.publish), .protocolError),
        bad("AUTH first on a server connection", nil, [0xF0, 0x00], .connectExpected(.auth), .protocolError),
    ]

    /// A field that runs past the remaining length: the frame is complete, its content is not.
    static let truncatedFields: [MalformedCase] = [
        bad("topic longer than the packet", .v311, [0x30, 0x03, 0x00, 0x05, 0x61], .truncated(field: "topic name"), .malformedPacket),
        bad("PUBACK with 1-byte packet identifier", .v5, [0x40, 0x01, 0x00], .truncated(field: "packet identifier"), .malformedPacket),
        bad("property length past the end", .v5, [0x30, 0x05, 0x00, 0x01, 0x61, 0x05, 0x01], .truncated(field: "properties"), .malformedPacket),
        bad("v5 CONNACK without property length", .v5, [0x20, 0x02, 0x00, 0x00], .truncated(field: "property length"), .malformedPacket),
        bad("property value cut short", .v5, [0x30, 0x06, 0x00, 0x01, 0x61, 0x02, 0x02, 0x00],
            .truncated(field: "messageExpiryInterval(0x2)"), .malformedPacket),
        bad("SUBSCRIBE without options byte", .v5, [0x82, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61],
            .truncated(field: "subscription options"), .malformedPacket),
        bad("CONNECT client identifier past the end", nil,
            [0x10, 0x0C] + mqttName + [0x04, 0x02, 0x00, 0x0A, 0x00, 0x05], .truncated(field: "client identifier"), .malformedPacket),
        bad("CONNECT password flag without password", nil,
            [0x10, 0x0F] + mqttName + [0x04, 0xC2, 0x00, 0x0A, 0x00, 0x00, 0x00, 0x01, 0x75], .truncated(field: "password"), .malformedPacket),
        bad("CONNECT without keep alive", nil, [0x10, 0x08] + mqttName + [0x04, 0x02], .truncated(field: "keep alive"), .malformedPacket),
        bad("property length with 5 bytes", .v5, [0x30, 0x08, 0x00, 0x01, 0x61, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
            .malformedVariableByteInteger, .malformedPacket),
    ]

    static let connect: [MalformedCase] = [
        bad("CONNECT reserved flag", nil, [0x10, 0x0C] + mqttName + [0x04, 0x03, 0x00, 0x0A, 0x00, 0x00],
            .invalidConnectFlags(0x03), .malformedPacket),
        bad("CONNECT will QoS without will flag", nil, [0x10, 0x0C] + mqttName + [0x04, 0x0A, 0x00, 0x0A, 0x00, 0x00],
            .invalidConnectFlags(0x0A), .malformedPacket),
        bad("CONNECT will retain without will flag", .v5, [0x10, 0x0D] + mqttName + [0x05, 0x22, 0x00, 0x0A, 0x00, 0x00, 0x00],
            .invalidConnectFlags(0x22), .malformedPacket),
        bad("CONNECT will QoS 3", nil, [0x10, 0x0C] + mqttName + [0x04, 0x1E, 0x00, 0x0A, 0x00, 0x00], .invalidQoS(3), .malformedPacket),
        bad("CONNECT password without user name on 3.1.1", nil,
            [0x10, 0x10] + mqttName + [0x04, 0x42, 0x00, 0x0A, 0x00, 0x00, 0x00, 0x02, 0x70, 0x77],
            .invalidConnectFlags(0x42), .malformedPacket),
        bad("protocol name MQTX", nil, [0x10, 0x0C, 0x00, 0x04, 0x4D, 0x51, 0x54, 0x58, 0x04, 0x02, 0x00, 0x0A, 0x00, 0x00],
            .invalidProtocolName("MQTX"), .protocolError),
        bad("protocol level 6", nil, [0x10, 0x0C] + mqttName + [0x06, 0x02, 0x00, 0x0A, 0x00, 0x00],
            .unsupportedProtocolVersion(6), .unsupportedProtocolVersion),
        bad("protocol level 3 MQIsdp", nil,
            [0x10, 0x0E, 0x00, 0x06, 0x4D, 0x51, 0x49, 0x73, 0x64, 0x70, 0x03, 0x02, 0x00, 0x0A, 0x00, 0x00],
            .unsupportedProtocolVersion(3), .unsupportedProtocolVersion),
        bad("protocol level 3 with name MQTT", nil, [0x10, 0x0C] + mqttName + [0x03, 0x02, 0x00, 0x0A, 0x00, 0x00],
            .unsupportedProtocolVersion(3), .unsupportedProtocolVersion),
        bad("CONNECT empty will topic", nil,
            [0x10, 0x10] + mqttName + [0x04, 0x06, 0x00, 0x0A, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00], .emptyTopicName, .protocolError),
        bad("CONNECT wildcard in will topic", nil,
            [0x10, 0x11] + mqttName + [0x04, 0x06, 0x00, 0x0A, 0x00, 0x00, 0x00, 0x01, 0x23, 0x00, 0x00],
            .wildcardInTopicName("#"), .malformedPacket),
        bad("CONNACK reserved acknowledge flags", .v5, [0x20, 0x03, 0x02, 0x00, 0x00], .invalidAcknowledgeFlags(0x02), .malformedPacket),
    ]

    static let trailingBytes: [MalformedCase] = [
        bad("PINGREQ with a body", .v5, [0xC0, 0x01, 0x00], .unexpectedTrailingBytes(.pingreq, count: 1), .malformedPacket),
        bad("PINGRESP with a body", .v311, [0xD0, 0x02, 0x00, 0x00], .unexpectedTrailingBytes(.pingresp, count: 2), .malformedPacket),
        bad("3.1.1 DISCONNECT with a body", .v311, [0xE0, 0x01, 0x00], .unexpectedTrailingBytes(.disconnect, count: 1), .malformedPacket),
        bad("v5 DISCONNECT with bytes after its properties", .v5, [0xE0, 0x03, 0x00, 0x00, 0xFF],
            .unexpectedTrailingBytes(.disconnect, count: 1), .malformedPacket),
        bad("CONNECT with bytes after the payload", nil,
            [0x10, 0x0E] + mqttName + [0x04, 0x02, 0x00, 0x0A, 0x00, 0x00, 0xAA, 0xBB],
            .unexpectedTrailingBytes(.connect, count: 2), .malformedPacket),
        bad("3.1.1 PUBACK with a reason code", .v311, [0x40, 0x03, 0x00, 0x01, 0x00],
            .unexpectedTrailingBytes(.puback, count: 1), .malformedPacket),
        bad("3.1.1 UNSUBACK with a payload", .v311, [0xB0, 0x03, 0x00, 0x01, 0x00],
            .unexpectedTrailingBytes(.unsuback, count: 1), .malformedPacket),
        bad("3.1.1 CONNACK with 3 bytes", .v311, [0x20, 0x03, 0x00, 0x00, 0x00],
            .unexpectedTrailingBytes(.connack, count: 1), .malformedPacket),
        bad("v5 PUBREL with bytes after its properties", .v5, [0x62, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00],
            .unexpectedTrailingBytes(.pubrel, count: 1), .malformedPacket),
    ]

    static let all = fixedHeader + truncatedFields + connect + trailingBytes
}

@Suite("Malformed packets: framing, CONNECT, trailing bytes")
struct MalformedPacketTests {
    @Test("refused with the right error and reason code", arguments: MalformedFraming.all)
    func refused(_ row: MalformedCase) {
        expectRefused(row)
    }

    @Test("the malformed tables hold at least 45 inputs")
    func tableSize() {
        #expect(MalformedFraming.all.count + MalformedContent.all.count >= 45)
    }

    @Test("an incomplete frame is not an error: nil, nothing consumed", arguments: [
        [UInt8](), [0x30], [0x30, 0x80], [0x30, 0xFF, 0xFF, 0xFF], [0x30, 0x05, 0x00, 0x01, 0x61],
        [0x10, 0x0C] + mqttName, [0xC0], [0xE0, 0x02, 0x00],
    ])
    func incompleteFrame(_ input: [UInt8]) throws {
        for version in [MQTTProtocolVersion.v311, .v5] {
            var buffer = ByteBuffer(bytes: input)
            #expect(try MQTTPacket.decode(from: &buffer, version: version) == nil)
            #expect(buffer.readableBytes == input.count)
        }
    }

    @Test("every proper prefix of a valid packet decodes to nil", arguments: ByteVectors.exact)
    func everyPrefixIsIncomplete(_ vector: ByteVector) throws {
        for length in 0..<vector.bytes.count {
            var buffer = ByteBuffer(bytes: vector.bytes[..<length])
            #expect(try MQTTPacket.decode(from: &buffer, version: vector.version) == nil, "prefix of \(length) bytes")
            #expect(buffer.readableBytes == length)
        }
    }

    @Test("a packet exactly at the maximum size is accepted")
    func packetAtMaximum() throws {
        // The 11-byte PUBLISH refused above with a maximum of 10.
        let input: [UInt8] = [0x30, 0x09, 0x00, 0x01, 0x61, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36]
        var buffer = ByteBuffer(bytes: input)
        let packet = try MQTTPacket.decode(from: &buffer, version: .v311, maximumPacketSize: 11)
        #expect(packet == .publish(MQTTPublishPacket(topic: "a", payload: bytes("123456"))))
    }

    @Test("AUTH before CONNECT and AUTH on v5 are framed; on 3.1.1 the first byte is refused")
    func authByVersion() throws {
        #expect(try decodedWhole([0xF0, 0x00], .v5) == .auth(MQTTAuthPacket()))
        #expect(decodeError([0xF0], .v311) == .invalidPacketType(15))
    }

    @Test("after CONNECT the server decoder accepts other packets")
    func serverAfterConnect() throws {
        var decoder = MQTTPacketDecoder()
        var buffer = bytes([0x10, 0x0C] + mqttName + [0x04, 0x02, 0x00, 0x0A, 0x00, 0x00] + [0xC0, 0x00])
        #expect(try decoder.decode(buffer: &buffer) == .connect(MQTTConnectPacket(protocolVersion: .v311, clientIdentifier: "", keepAlive: 10)))
        #expect(decoder.version == .v311)
        #expect(try decoder.decode(buffer: &buffer) == .pingreq)
        // On the 3.1.1 connection now established, AUTH is refused.
        var auth = bytes([0xF0, 0x00])
        #expect(throws: MQTTDecodeError.invalidPacketType(15)) { try decoder.decode(buffer: &auth) }
    }
}
