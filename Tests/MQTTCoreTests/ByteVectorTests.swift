import MQTTCore
import NIOCore
import Testing

/// Byte-exact packets written out from the field layouts of MQTT 3.1.1 §3 and MQTT 5.0 §3.
struct ByteVector: Sendable, CustomTestStringConvertible {
    var name: String
    var version: MQTTProtocolVersion
    var bytes: [UInt8]
    var packet: MQTTPacket
    var testDescription: String { "\(name) (\(version))" }
}

enum ByteVectors {
    static let exact: [ByteVector] = [
        ByteVector(name: "CONNECT minimal", version: .v311, bytes: [
            0x10, 0x0C,                          // CONNECT, remaining length 12
            0x00, 0x04, 0x4D, 0x51, 0x54, 0x54,  // protocol name "MQTT"
            0x04,                                // protocol level 4
            0x02,                                // flags: clean session
            0x00, 0x0A,                          // keep alive 10
            0x00, 0x00,                          // client identifier ""
        ], packet: .connect(MQTTConnectPacket(protocolVersion: .v311, clientIdentifier: "", keepAlive: 10))),
        ByteVector(name: "CONNECT will user password", version: .v311, bytes: [
            0x10, 0x1F,                          // CONNECT, remaining length 31
            0x00, 0x04, 0x4D, 0x51, 0x54, 0x54,  // "MQTT"
            0x04,                                // level 4
            0xCE,                                // user | password | will QoS 1 | will | clean session
            0x00, 0x3C,                          // keep alive 60
            0x00, 0x02, 0x63, 0x31,              // client identifier "c1"
            0x00, 0x03, 0x77, 0x2F, 0x74,        // will topic "w/t"
            0x00, 0x03, 0x62, 0x79, 0x65,        // will payload "bye"
            0x00, 0x01, 0x75,                    // user name "u"
            0x00, 0x02, 0x70, 0x77,              // password "pw"
        ], packet: .connect(MQTTConnectPacket(
            protocolVersion: .v311, clientIdentifier: "c1", username: "u", password: bytes("pw"),
            will: MQTTWill(topic: "w/t", payload: bytes("bye"), qos: .atLeastOnce)))),
        ByteVector(name: "CONNECT will user password properties", version: .v5, bytes: [
            0x10, 0x37,                          // CONNECT, remaining length 55
            0x00, 0x04, 0x4D, 0x51, 0x54, 0x54,  // "MQTT"
            0x05,                                // level 5
            0xF6,                                // user | password | will retain | will QoS 2 | will | clean start
            0x00, 0x3C,                          // keep alive 60
            0x0F,                                // property length 15
            0x11, 0x00, 0x00, 0x0E, 0x10,        //   session expiry interval 3600
            0x21, 0x00, 0x0A,                    //   receive maximum 10
            0x26, 0x00, 0x01, 0x6B, 0x00, 0x01, 0x76,  // user property "k" = "v"
            0x00, 0x02, 0x63, 0x31,              // client identifier "c1"
            0x07,                                // will property length 7
            0x18, 0x00, 0x00, 0x00, 0x05,        //   will delay interval 5
            0x01, 0x01,                          //   payload format indicator: UTF-8
            0x00, 0x03, 0x77, 0x2F, 0x74,        // will topic "w/t"
            0x00, 0x03, 0x62, 0x79, 0x65,        // will payload "bye"
            0x00, 0x01, 0x75,                    // user name "u"
            0x00, 0x02, 0x70, 0x77,              // password "pw"
        ], packet: .connect(MQTTConnectPacket(
            protocolVersion: .v5, clientIdentifier: "c1", username: "u", password: bytes("pw"),
            will: MQTTWill(topic: "w/t", payload: bytes("bye"), qos: .exactlyOnce, retain: true,
                           properties: [.willDelayInterval(5), .payloadFormatIndicator(.utf8)]),
            properties: [.sessionExpiryInterval(3600), .receiveMaximum(10), .userProperty("k", "v")]))),
        ByteVector(name: "CONNACK session present", version: .v311, bytes: [
            0x20, 0x02,                          // CONNACK, remaining length 2
            0x01,                                // session present
            0x00,                                // return code 0: accepted
        ], packet: .connack(MQTTConnAckPacket(sessionPresent: true))),
        ByteVector(name: "CONNACK not authorized", version: .v311, bytes: [
            0x20, 0x02, 0x00,
            0x05,                                // return code 5: not authorized
        ], packet: .connack(MQTTConnAckPacket(reasonCode: .notAuthorized))),
        ByteVector(name: "CONNACK properties", version: .v5, bytes: [
            0x20, 0x0B,                          // CONNACK, remaining length 11
            0x00,                                // no session present
            0x00,                                // reason code success
            0x08,                                // property length 8
            0x22, 0x00, 0x0A,                    //   topic alias maximum 10
            0x12, 0x00, 0x02, 0x69, 0x64,        //   assigned client identifier "id"
        ], packet: .connack(MQTTConnAckPacket(properties: [.topicAliasMaximum(10), .assignedClientIdentifier("id")]))),
        ByteVector(name: "CONNACK not authorized", version: .v5, bytes: [
            0x20, 0x03, 0x00,
            0x87,                                // reason code not authorized
            0x00,                                // property length 0
        ], packet: .connack(MQTTConnAckPacket(reasonCode: .notAuthorized))),
        ByteVector(name: "PUBLISH QoS 0", version: .v311, bytes: [
            0x30, 0x07,                          // PUBLISH QoS 0, remaining length 7
            0x00, 0x03, 0x61, 0x2F, 0x62,        // topic "a/b" (no packet identifier at QoS 0)
            0x68, 0x69,                          // payload "hi"
        ], packet: .publish(MQTTPublishPacket(topic: "a/b", payload: bytes("hi")))),
        ByteVector(name: "PUBLISH QoS 0 property", version: .v5, bytes: [
            0x30, 0x0A,                          // PUBLISH QoS 0, remaining length 10
            0x00, 0x03, 0x61, 0x2F, 0x62,        // topic "a/b"
            0x02,                                // property length 2
            0x01, 0x01,                          //   payload format indicator: UTF-8
            0x68, 0x69,                          // payload "hi"
        ], packet: .publish(MQTTPublishPacket(topic: "a/b", payload: bytes("hi"), properties: [.payloadFormatIndicator(.utf8)]))),
        ByteVector(name: "PUBLISH QoS 1 retain", version: .v311, bytes: [
            0x33, 0x09,                          // PUBLISH QoS 1 retain, remaining length 9
            0x00, 0x03, 0x61, 0x2F, 0x62,        // topic "a/b"
            0x00, 0x0A,                          // packet identifier 10
            0x68, 0x69,                          // payload "hi"
        ], packet: .publish(MQTTPublishPacket(topic: "a/b", payload: bytes("hi"), qos: .atLeastOnce, retain: true,
                                              packetIdentifier: 10))),
        ByteVector(name: "PUBLISH QoS 1 dup retain properties", version: .v5, bytes: [
            0x3B, 0x12,                          // PUBLISH DUP QoS 1 retain, remaining length 18
            0x00, 0x03, 0x61, 0x2F, 0x62,        // topic "a/b"
            0x00, 0x0A,                          // packet identifier 10
            0x08,                                // property length 8
            0x23, 0x00, 0x01,                    //   topic alias 1
            0x02, 0x00, 0x00, 0x00, 0x1E,        //   message expiry interval 30
            0x68, 0x69,                          // payload "hi"
        ], packet: .publish(MQTTPublishPacket(topic: "a/b", payload: bytes("hi"), qos: .atLeastOnce, retain: true, dup: true,
                                              packetIdentifier: 10, properties: [.topicAlias(1), .messageExpiryInterval(30)]))),
        ByteVector(name: "SUBSCRIBE", version: .v311, bytes: [
            0x82, 0x0E,                          // SUBSCRIBE (flags 0010), remaining length 14
            0x00, 0x02,                          // packet identifier 2
            0x00, 0x03, 0x61, 0x2F, 0x2B,        // filter "a/+"
            0x01,                                //   requested QoS 1
            0x00, 0x03, 0x62, 0x2F, 0x23,        // filter "b/#"
            0x02,                                //   requested QoS 2
        ], packet: .subscribe(MQTTSubscribePacket(packetIdentifier: 2, subscriptions: [
            MQTTSubscription(topicFilter: "a/+", qos: .atLeastOnce), MQTTSubscription(topicFilter: "b/#", qos: .exactlyOnce),
        ]))),
        ByteVector(name: "SUBSCRIBE options and identifier", version: .v5, bytes: [
            0x82, 0x10,                          // SUBSCRIBE, remaining length 16
            0x00, 0x01,                          // packet identifier 1
            0x03,                                // property length 3
            0x0B, 0xAC, 0x02,                    //   subscription identifier 300 (VBI AC 02)
            0x00, 0x03, 0x61, 0x2F, 0x2B,        // filter "a/+"
            0x2E,                                //   retain handling 2 | RAP | no local | QoS 2
            0x00, 0x01, 0x62,                    // filter "b"
            0x10,                                //   retain handling 1, QoS 0
        ], packet: .subscribe(MQTTSubscribePacket(packetIdentifier: 1, subscriptions: [
            MQTTSubscription(topicFilter: "a/+", qos: .exactlyOnce, noLocal: true, retainAsPublished: true, retainHandling: .doNotSend),
            MQTTSubscription(topicFilter: "b", qos: .atMostOnce, retainHandling: .sendOnNewSubscribe),
        ], properties: [.subscriptionIdentifier(300)]))),
        ByteVector(name: "SUBACK", version: .v5, bytes: [
            0x90, 0x05,                          // SUBACK, remaining length 5
            0x00, 0x01,                          // packet identifier 1
            0x00,                                // property length 0
            0x02, 0x80,                          // granted QoS 2, unspecified error
        ], packet: .suback(MQTTSubAckPacket(packetIdentifier: 1, reasonCodes: [.grantedQoS2, .unspecifiedError]))),
        ByteVector(name: "PUBACK success short form", version: .v5, bytes: [
            0x40, 0x02,                          // PUBACK, remaining length 2: no reason code, no properties
            0x00, 0x01,                          // packet identifier 1
        ], packet: .puback(MQTTPublishAckPacket(packetIdentifier: 1))),
        ByteVector(name: "PUBACK reason code only", version: .v5, bytes: [
            0x40, 0x03, 0x00, 0x01,
            0x10,                                // no matching subscribers; property length omitted
        ], packet: .puback(MQTTPublishAckPacket(packetIdentifier: 1, reasonCode: .noMatchingSubscribers))),
        ByteVector(name: "PUBREL", version: .v311, bytes: [0x62, 0x02, 0x00, 0x07],
                   packet: .pubrel(MQTTPublishAckPacket(packetIdentifier: 7))),
        ByteVector(name: "UNSUBACK", version: .v311, bytes: [0xB0, 0x02, 0x00, 0x07],
                   packet: .unsuback(MQTTSubAckPacket(packetIdentifier: 7, reasonCodes: []))),
        ByteVector(name: "DISCONNECT normal short form", version: .v5, bytes: [0xE0, 0x00],
                   packet: .disconnect(MQTTDisconnectPacket())),
        ByteVector(name: "DISCONNECT reason code only", version: .v5, bytes: [0xE0, 0x01, 0x8E],
                   packet: .disconnect(MQTTDisconnectPacket(reasonCode: .sessionTakenOver))),
        ByteVector(name: "AUTH success short form", version: .v5, bytes: [0xF0, 0x00], packet: .auth(MQTTAuthPacket())),
        ByteVector(name: "PUBLISH remaining length in two bytes", version: .v311,
                   bytes: [0x30, 0x83, 0x01,               // PUBLISH, remaining length 131 (VBI 83 01)
                           0x00, 0x01, 0x74]               // topic "t"
                       + [UInt8](repeating: 0x41, count: 128),  // payload
                   packet: .publish(MQTTPublishPacket(topic: "t", payload: ByteBuffer(repeating: 0x41, count: 128)))),
        ByteVector(name: "PINGREQ", version: .v311, bytes: [0xC0, 0x00], packet: .pingreq),
        ByteVector(name: "PINGRESP", version: .v5, bytes: [0xD0, 0x00], packet: .pingresp),
    ]

    /// Longer spellings a receiver must accept, which the encoder writes in the short form.
    static let decodeOnly: [ByteVector] = [
        ByteVector(name: "PUBACK explicit success and empty properties", version: .v5,
                   bytes: [0x40, 0x04, 0x00, 0x01, 0x00, 0x00], packet: .puback(MQTTPublishAckPacket(packetIdentifier: 1))),
        ByteVector(name: "PUBCOMP explicit success", version: .v5,
                   bytes: [0x70, 0x03, 0x00, 0x01, 0x00], packet: .pubcomp(MQTTPublishAckPacket(packetIdentifier: 1))),
        ByteVector(name: "DISCONNECT explicit normal and empty properties", version: .v5,
                   bytes: [0xE0, 0x02, 0x00, 0x00], packet: .disconnect(MQTTDisconnectPacket())),
        ByteVector(name: "AUTH explicit success", version: .v5,
                   bytes: [0xF0, 0x01, 0x00], packet: .auth(MQTTAuthPacket())),
        ByteVector(name: "CONNACK return code 3", version: .v311,
                   bytes: [0x20, 0x02, 0x00, 0x03], packet: .connack(MQTTConnAckPacket(reasonCode: .serverUnavailable))),
    ]
}

@Suite("Byte vectors from the specification's field layouts")
struct ByteVectorTests {
    @Test("decode(bytes) == packet", arguments: ByteVectors.exact + ByteVectors.decodeOnly)
    func decodes(_ vector: ByteVector) throws {
        #expect(try decodedWhole(vector.bytes, vector.version) == vector.packet)
    }

    @Test("encode(packet) == bytes", arguments: ByteVectors.exact)
    func encodes(_ vector: ByteVector) throws {
        #expect(try encoded(vector.packet, vector.version) == vector.bytes)
        #expect(try vector.packet.encodedLength(version: vector.version) == vector.bytes.count)
    }

    @Test("a server decoder learns the version from CONNECT", arguments: ByteVectors.exact.filter { $0.packet.type == .connect })
    func serverLearnsVersion(_ vector: ByteVector) throws {
        var decoder = MQTTPacketDecoder()
        #expect(decoder.version == nil)
        var buffer = bytes(vector.bytes)
        #expect(try decoder.decode(buffer: &buffer) == vector.packet)
        #expect(decoder.version == vector.version)
    }

    @Test("v5 short forms: PUBACK success is 4 bytes, DISCONNECT normal is E0 00")
    func shortForms() throws {
        let puback = MQTTPacket.puback(MQTTPublishAckPacket(packetIdentifier: 0x1234))
        #expect(try encoded(puback, .v5) == [0x40, 0x02, 0x12, 0x34])
        #expect(try puback.encodedLength(version: .v5) == 4)
        #expect(try encoded(.disconnect(MQTTDisconnectPacket()), .v5) == [0xE0, 0x00])
        // A success code with properties must be written out in full.
        let withProperty = MQTTPacket.pubrec(MQTTPublishAckPacket(packetIdentifier: 1, properties: [.reasonString("r")]))
        #expect(try encoded(withProperty, .v5) == [0x50, 0x08, 0x00, 0x01, 0x00, 0x04, 0x1F, 0x00, 0x01, 0x72])
        let disconnect = MQTTPacket.disconnect(MQTTDisconnectPacket(properties: [.sessionExpiryInterval(1)]))
        #expect(try encoded(disconnect, .v5) == [0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x01])
    }

    @Test("remaining length boundaries use 1 to 4 bytes", arguments: [
        (0, [UInt8]([0x00])), (127, [0x7F]), (128, [0x80, 0x01]), (16_383, [0xFF, 0x7F]),
        (16_384, [0x80, 0x80, 0x01]), (2_097_151, [0xFF, 0xFF, 0x7F]), (2_097_152, [0x80, 0x80, 0x80, 0x01]),
    ])
    func remainingLengthEncoding(payloadBodyLength: Int, expected: [UInt8]) throws {
        // PUBLISH QoS 0 on 3.1.1 with topic "t": body = 3 + payload.
        guard payloadBodyLength >= 3 else {
            // A zero remaining length: PINGREQ.
            #expect(try encoded(.pingreq, .v311) == [0xC0] + expected)
            return
        }
        let packet = MQTTPacket.publish(MQTTPublishPacket(topic: "t", payload: ByteBuffer(repeating: 0, count: payloadBodyLength - 3)))
        let out = try encoded(packet, .v311)
        #expect(Array(out[1...expected.count]) == expected)
        #expect(out.count == 1 + expected.count + payloadBodyLength)
        #expect(try packet.encodedLength(version: .v311) == out.count)
        #expect(try decodedWhole(out, .v311) == packet)
    }
}
