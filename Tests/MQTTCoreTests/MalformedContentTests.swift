import MQTTCore
import NIOCore
import Testing

/// Malformed content: strings, properties, topics, packet identifiers, subscriptions, reason codes.
enum MalformedContent {
    static let strings: [MalformedCase] = [
        bad("overlong UTF-8 (C0 AF for '/')", .v311, [0x30, 0x04, 0x00, 0x02, 0xC0, 0xAF], .invalidUTF8(field: "topic name"), .malformedPacket),
        bad("overlong NUL (C0 80)", .v5, [0x30, 0x05, 0x00, 0x02, 0xC0, 0x80, 0x00], .invalidUTF8(field: "topic name"), .malformedPacket),
        bad("lone continuation byte", .v311, [0x30, 0x03, 0x00, 0x01, 0x80], .invalidUTF8(field: "topic name"), .malformedPacket),
        bad("surrogate U+D800 (ED A0 80)", .v311, [0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80], .invalidUTF8(field: "topic name"), .malformedPacket),
        bad("truncated multi-byte sequence", .v311, [0x30, 0x04, 0x00, 0x02, 0x61, 0xE2], .invalidUTF8(field: "topic name"), .malformedPacket),
        bad("U+0000 in a topic", .v311, [0x30, 0x05, 0x00, 0x03, 0x61, 0x00, 0x62], .nullCharacter(field: "topic name"), .malformedPacket),
        bad("invalid UTF-8 in a client identifier", nil, [0x10, 0x0D] + mqttName + [0x04, 0x02, 0x00, 0x0A, 0x00, 0x01, 0xFE],
            .invalidUTF8(field: "client identifier"), .malformedPacket),
        bad("invalid UTF-8 in a user property name", .v5,
            [0x40, 0x0B, 0x00, 0x01, 0x00, 0x07, 0x26, 0x00, 0x01, 0xFF, 0x00, 0x01, 0x76],
            .invalidUTF8(field: "user property name"), .malformedPacket),
        bad("U+0000 in a topic filter", .v311, [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00],
            .nullCharacter(field: "topic filter"), .malformedPacket),
    ]

    static let properties: [MalformedCase] = [
        bad("duplicate message expiry", .v5,
            [0x30, 0x0E, 0x00, 0x01, 0x61, 0x0A, 0x02, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x02],
            .duplicateProperty(.messageExpiryInterval, in: .publish), .protocolError),
        bad("duplicate subscription identifier in SUBSCRIBE", .v5,
            [0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, 0x61, 0x00],
            .duplicateProperty(.subscriptionIdentifier, in: .subscribe), .protocolError),
        bad("duplicate receive maximum in CONNECT", nil,
            [0x10, 0x13] + mqttName + [0x05, 0x02, 0x00, 0x0A, 0x06, 0x21, 0x00, 0x01, 0x21, 0x00, 0x02, 0x00, 0x00],
            .duplicateProperty(.receiveMaximum, in: .connect), .protocolError),
        bad("topic alias in CONNECT", nil, [0x10, 0x10] + mqttName + [0x05, 0x02, 0x00, 0x0A, 0x03, 0x23, 0x00, 0x01, 0x00, 0x00],
            .propertyNotAllowed(.topicAlias, in: .connect), .malformedPacket),
        bad("session expiry in PUBLISH", .v5, [0x30, 0x09, 0x00, 0x01, 0x61, 0x05, 0x11, 0x00, 0x00, 0x00, 0x0A],
            .propertyNotAllowed(.sessionExpiryInterval, in: .publish), .malformedPacket),
        bad("will delay in CONNECT properties", nil,
            [0x10, 0x12] + mqttName + [0x05, 0x02, 0x00, 0x0A, 0x05, 0x18, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00],
            .propertyNotAllowed(.willDelayInterval, in: .connect), .malformedPacket),
        bad("subscription identifier in will properties", nil,
            [0x10, 0x15] + mqttName + [0x05, 0x06, 0x00, 0x0A, 0x00, 0x00, 0x00, 0x02, 0x0B, 0x01, 0x00, 0x01, 0x77, 0x00, 0x00],
            .propertyNotAllowed(.subscriptionIdentifier, in: .will), .malformedPacket),
        bad("reason string in PUBLISH", .v5, [0x30, 0x08, 0x00, 0x01, 0x61, 0x04, 0x1F, 0x00, 0x01, 0x78],
            .propertyNotAllowed(.reasonString, in: .publish), .malformedPacket),
        bad("server keep alive in DISCONNECT", .v5, [0xE0, 0x05, 0x00, 0x03, 0x13, 0x00, 0x0A],
            .propertyNotAllowed(.serverKeepAlive, in: .disconnect), .malformedPacket),
        bad("unknown property 0x04", .v5, [0x30, 0x06, 0x00, 0x01, 0x61, 0x02, 0x04, 0x00], .unknownProperty(0x04), .malformedPacket),
        bad("unknown property 0x00", .v5, [0x40, 0x05, 0x00, 0x01, 0x00, 0x01, 0x00], .unknownProperty(0x00), .malformedPacket),
        bad("topic alias 0", .v5, [0x30, 0x07, 0x00, 0x01, 0x61, 0x03, 0x23, 0x00, 0x00], .topicAliasZero, .topicAliasInvalid),
        bad("subscription identifier 0", .v5, [0x30, 0x06, 0x00, 0x01, 0x61, 0x02, 0x0B, 0x00],
            .invalidPropertyValue(.subscriptionIdentifier, value: 0), .protocolError),
        bad("receive maximum 0", .v5, [0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0x00, 0x00],
            .invalidPropertyValue(.receiveMaximum, value: 0), .protocolError),
        bad("maximum packet size 0", nil,
            [0x10, 0x12] + mqttName + [0x05, 0x02, 0x00, 0x0A, 0x05, 0x27, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00],
            .invalidPropertyValue(.maximumPacketSize, value: 0), .protocolError),
        bad("request problem information 2", nil, [0x10, 0x0F] + mqttName + [0x05, 0x02, 0x00, 0x0A, 0x02, 0x17, 0x02, 0x00, 0x00],
            .invalidPropertyValue(.requestProblemInformation, value: 2), .protocolError),
        bad("maximum QoS 2", .v5, [0x20, 0x05, 0x00, 0x00, 0x02, 0x24, 0x02], .invalidPropertyValue(.maximumQoS, value: 2), .protocolError),
        bad("response topic with a wildcard", .v5, [0x30, 0x08, 0x00, 0x01, 0x61, 0x04, 0x08, 0x00, 0x01, 0x23],
            .invalidResponseTopic("#"), .protocolError),
        bad("empty response topic", .v5, [0x30, 0x07, 0x00, 0x01, 0x61, 0x03, 0x08, 0x00, 0x00],
            .invalidResponseTopic(""), .protocolError),
    ]

    static let topics: [MalformedCase] = [
        bad("zero-length topic without alias", .v5, [0x30, 0x03, 0x00, 0x00, 0x00], .emptyTopicName, .protocolError),
        bad("zero-length topic on 3.1.1", .v311, [0x30, 0x02, 0x00, 0x00], .emptyTopicName, .protocolError),
        bad("'+' in a PUBLISH topic", .v311, [0x30, 0x05, 0x00, 0x03, 0x61, 0x2F, 0x2B], .wildcardInTopicName("a/+"), .malformedPacket),
        bad("'#' in a PUBLISH topic", .v5, [0x30, 0x04, 0x00, 0x01, 0x23, 0x00], .wildcardInTopicName("#"), .malformedPacket),
    ]

    static let identifiersAndSubscriptions: [MalformedCase] = [
        bad("PUBLISH QoS 1 packet identifier 0", .v311, [0x32, 0x05, 0x00, 0x01, 0x61, 0x00, 0x00],
            .packetIdentifierZero(.publish), .protocolError),
        bad("PUBACK packet identifier 0", .v5, [0x40, 0x02, 0x00, 0x00], .packetIdentifierZero(.puback), .protocolError),
        bad("SUBSCRIBE packet identifier 0", .v311, [0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 0x61, 0x00],
            .packetIdentifierZero(.subscribe), .protocolError),
        bad("UNSUBACK packet identifier 0", .v5, [0xB0, 0x04, 0x00, 0x00, 0x00, 0x00], .packetIdentifierZero(.unsuback), .protocolError),
        bad("SUBSCRIBE without filters", .v5, [0x82, 0x03, 0x00, 0x01, 0x00], .noTopicFilters(.subscribe), .protocolError),
        bad("SUBSCRIBE without filters on 3.1.1", .v311, [0x82, 0x02, 0x00, 0x01], .noTopicFilters(.subscribe), .protocolError),
        bad("UNSUBSCRIBE without filters", .v5, [0xA2, 0x03, 0x00, 0x01, 0x00], .noTopicFilters(.unsubscribe), .protocolError),
        bad("UNSUBSCRIBE without filters on 3.1.1", .v311, [0xA2, 0x02, 0x00, 0x01], .noTopicFilters(.unsubscribe), .protocolError),
        bad("subscription options bit 6", .v5, [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x40],
            .invalidSubscriptionOptions(0x40), .malformedPacket),
        bad("no local bit on 3.1.1", .v311, [0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x04],
            .invalidSubscriptionOptions(0x04), .malformedPacket),
        bad("retain handling 3", .v5, [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x30], .invalidRetainHandling(3), .protocolError),
        bad("subscription QoS 3", .v5, [0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x03], .invalidQoS(3), .malformedPacket),
    ]

    static let reasonCodes: [MalformedCase] = [
        bad("PUBACK reason code 0x92", .v5, [0x40, 0x03, 0x00, 0x01, 0x92], .invalidReasonCode(0x92, in: .puback), .protocolError),
        bad("PUBREC reason code 0x01", .v5, [0x50, 0x03, 0x00, 0x01, 0x01], .invalidReasonCode(0x01, in: .pubrec), .protocolError),
        bad("PUBREL reason code 0x10", .v5, [0x62, 0x03, 0x00, 0x01, 0x10], .invalidReasonCode(0x10, in: .pubrel), .protocolError),
        bad("SUBACK reason code 0x03", .v5, [0x90, 0x04, 0x00, 0x01, 0x00, 0x03], .invalidReasonCode(0x03, in: .suback), .protocolError),
        bad("3.1.1 SUBACK return code 0x81", .v311, [0x90, 0x03, 0x00, 0x01, 0x81], .invalidReasonCode(0x81, in: .suback), .protocolError),
        bad("UNSUBACK reason code 0x01", .v5, [0xB0, 0x04, 0x00, 0x01, 0x00, 0x01], .invalidReasonCode(0x01, in: .unsuback), .protocolError),
        bad("DISCONNECT reason code 0x01", .v5, [0xE0, 0x01, 0x01], .invalidReasonCode(0x01, in: .disconnect), .protocolError),
        bad("DISCONNECT reason code 0x84", .v5, [0xE0, 0x01, 0x84], .invalidReasonCode(0x84, in: .disconnect), .protocolError),
        bad("CONNACK reason code 0x04", .v5, [0x20, 0x03, 0x00, 0x04, 0x00], .invalidReasonCode(0x04, in: .connack), .protocolError),
        bad("3.1.1 CONNACK return code 6", .v311, [0x20, 0x02, 0x00, 0x06], .invalidReasonCode(0x06, in: .connack), .protocolError),
        bad("AUTH reason code 0x80", .v5, [0xF0, 0x02, 0x80, 0x00], .invalidReasonCode(0x80, in: .auth), .protocolError),
    ]

    static let all = strings + properties + topics + identifiersAndSubscriptions + reasonCodes
}

@Suite("Malformed packets: strings, properties, topics, identifiers, reason codes")
struct MalformedContentTests {
    @Test("refused with the right error and reason code", arguments: MalformedContent.all)
    func refused(_ row: MalformedCase) {
        expectRefused(row)
    }

    @Test("an empty topic with a topic alias is accepted on 5.0")
    func emptyTopicWithAlias() throws {
        let input: [UInt8] = [0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x05, 0x78]
        #expect(try decodedWhole(input, .v5)
            == .publish(MQTTPublishPacket(topic: "", payload: bytes("x"), properties: [.topicAlias(5)])))
    }

    @Test("valid multi-byte UTF-8 is accepted", arguments: ["é", "日本/語", "😀", "\u{FFFF}", "\u{10FFFF}"])
    func validUTF8(_ topic: String) throws {
        let packet = MQTTPacket.publish(MQTTPublishPacket(topic: topic, payload: ByteBuffer()))
        #expect(try decodedWhole(try encoded(packet, .v311), .v311) == packet)
    }

    @Test("every reason code MQTT 5 allows in DISCONNECT is accepted, others refused", arguments: 0...255)
    func disconnectReasonCodes(_ code: Int) throws {
        let allowed: Set<Int> = [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95,
                                 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2]
        let input: [UInt8] = [0xE0, 0x01, UInt8(code)]
        if allowed.contains(code) {
            #expect(try decodedWhole(input, .v5) == .disconnect(MQTTDisconnectPacket(reasonCode: MQTTReasonCode(rawValue: UInt8(code)))))
        } else {
            #expect(decodeError(input, .v5) == .invalidReasonCode(UInt8(code), in: .disconnect))
        }
    }
}
