import MQTTCore
import NIOCore
import Testing

@Suite("Round trip: encode then decode gives the packet back")
struct RoundTripTests {
    @Test("round trip", arguments: RoundTripFixtures.all)
    func roundTrip(_ fixture: VersionedPacket) throws {
        var buffer = ByteBuffer()
        try fixture.packet.encode(into: &buffer, version: fixture.version)
        let written = buffer.readableBytes
        #expect(try fixture.packet.encodedLength(version: fixture.version) == written)

        // A PINGREQ after the packet: decoding must stop exactly at the packet's end.
        buffer.writeBytes([0xC0, 0x00])
        let decoded = try MQTTPacket.decode(from: &buffer, version: fixture.version)
        #expect(decoded == fixture.packet)
        #expect(buffer.readerIndex == written)
        #expect(try MQTTPacket.decode(from: &buffer, version: fixture.version) == .pingreq)
        #expect(buffer.readableBytes == 0)
    }

    @Test("round trip through MQTTPacketDecoder and MQTTPacketEncoder", arguments: RoundTripFixtures.all)
    func roundTripThroughHandlers(_ fixture: VersionedPacket) throws {
        var buffer = ByteBuffer()
        try MQTTPacketEncoder(version: fixture.version).encode(data: fixture.packet, out: &buffer)
        #expect(Array(buffer.readableBytesView) == (try encoded(fixture.packet, fixture.version)))
        var decoder = MQTTPacketDecoder(version: fixture.version)
        #expect(try decoder.decode(buffer: &buffer) == fixture.packet)
        #expect(buffer.readableBytes == 0)
        #expect(try decoder.decode(buffer: &buffer) == nil)
    }

    @Test("the MQTT 5 fixtures use all 27 properties")
    func everyPropertyIsCovered() {
        #expect(MQTTProperty.Identifier.allCases.count == 27)
        let used = RoundTripFixtures.v5.reduce(into: Set<MQTTProperty.Identifier>()) { $0.formUnion(identifiers(in: $1.packet)) }
        #expect(used == Set(MQTTProperty.Identifier.allCases), "missing: \(Set(MQTTProperty.Identifier.allCases).subtracting(used))")
    }

    @Test("each fixture property is allowed where it is placed")
    func fixturePropertiesAreAllowed() {
        let placed: [(MQTTProperties, MQTTPropertyContext)] = [
            (RoundTripFixtures.willProperties, .will), (RoundTripFixtures.connectProperties, .connect),
            (RoundTripFixtures.connackProperties, .connack), (RoundTripFixtures.publishProperties, .publish),
        ]
        for (properties, context) in placed {
            for property in properties {
                #expect(property.identifier.isAllowed(in: context), "\(property.identifier) in \(context)")
            }
        }
    }

    @Test("AUTH does not exist in 3.1.1")
    func authNotInV311() throws {
        let auth = MQTTPacket.auth(MQTTAuthPacket(reasonCode: .continueAuthentication))
        var buffer = ByteBuffer()
        #expect(throws: MQTTEncodeError.notInVersion(.auth, .v311)) {
            try auth.encode(into: &buffer, version: .v311)
        }
        #expect(buffer.readableBytes == 0)
        #expect(throws: MQTTEncodeError.notInVersion(.auth, .v311)) {
            try auth.encodedLength(version: .v311)
        }
        #expect(throws: MQTTEncodeError.self) {
            try MQTTPacketEncoder(version: .v311).encode(data: auth, out: &buffer)
        }
        #expect(try encoded(auth, .v5) == [0xF0, 0x01, 0x18])
    }

    @Test("decoded properties keep their order and repetitions")
    func propertyAccessors() throws {
        let fixture = RoundTripFixtures.v5.first { $0.name == "PUBLISH QoS 1 all properties" }!
        guard case .publish(let publish) = try decodedWhole(try encoded(fixture.packet, .v5), .v5) else {
            Issue.record("not a PUBLISH")
            return
        }
        #expect(publish.properties.subscriptionIdentifiers == [1, 268_435_455])
        #expect(publish.properties.userProperties.map(\.name) == ["a", "a"])
        #expect(publish.properties.userProperties.map(\.value) == ["1", "2"])
        #expect(publish.properties.topicAlias == 3)
        #expect(publish.properties.payloadFormat == .bytes)
        #expect(publish.properties.correlationData == bytes("req-42"))
        #expect(publish.properties.sessionExpiryInterval == nil)
        #expect(Array(publish.payload.readableBytesView) == [0xDE, 0xAD, 0xBE, 0xEF])
    }

    @Test("property identifiers print their name and number", arguments: MQTTProperty.Identifier.allCases)
    func identifierDescription(_ identifier: MQTTProperty.Identifier) {
        let hex = "0x" + String(identifier.rawValue, radix: 16, uppercase: true)
        #expect(identifier.description.hasSuffix("(\(hex))"))
        #expect(identifier.description.count > hex.count + 2)
    }

    @Test("properties and v5-only fields are dropped on 3.1.1")
    func v5FieldsDroppedOnV311() throws {
        let publish = MQTTPacket.publish(MQTTPublishPacket(
            topic: "t", payload: bytes("p"), qos: .atLeastOnce, packetIdentifier: 1, properties: [.messageExpiryInterval(5)]))
        // 32 06 | 00 01 't' | 00 01 | 'p'  (no property length)
        #expect(try encoded(publish, .v311) == [0x32, 0x06, 0x00, 0x01, 0x74, 0x00, 0x01, 0x70])
        let puback = MQTTPacket.puback(MQTTPublishAckPacket(
            packetIdentifier: 1, reasonCode: .quotaExceeded, properties: [.reasonString("x")]))
        #expect(try encoded(puback, .v311) == [0x40, 0x02, 0x00, 0x01])
        let disconnect = MQTTPacket.disconnect(MQTTDisconnectPacket(reasonCode: .serverShuttingDown))
        #expect(try encoded(disconnect, .v311) == [0xE0, 0x00])
        // 3.1.1 SUBACK has only 0x00-0x02 and 0x80: any failure is sent as 0x80.
        let suback = MQTTPacket.suback(MQTTSubAckPacket(packetIdentifier: 2, reasonCodes: [.grantedQoS1, .notAuthorized]))
        #expect(try encoded(suback, .v311) == [0x90, 0x04, 0x00, 0x02, 0x01, 0x80])
        // 3.1.1 UNSUBACK has no payload.
        let unsuback = MQTTPacket.unsuback(MQTTSubAckPacket(packetIdentifier: 3, reasonCodes: [.success]))
        #expect(try encoded(unsuback, .v311) == [0xB0, 0x02, 0x00, 0x03])
        // 3.1.1 SUBSCRIBE options carry only the QoS.
        let subscribe = MQTTPacket.subscribe(MQTTSubscribePacket(packetIdentifier: 4, subscriptions: [
            MQTTSubscription(topicFilter: "a", qos: .atLeastOnce, noLocal: true, retainAsPublished: true, retainHandling: .doNotSend),
        ]))
        #expect(try encoded(subscribe, .v311) == [0x82, 0x06, 0x00, 0x04, 0x00, 0x01, 0x61, 0x01])
    }

    @Test("3.1.1 CONNACK maps reason codes onto return codes", arguments: [
        (MQTTReasonCode.success, UInt8(0x00)), (.unsupportedProtocolVersion, 0x01), (.clientIdentifierNotValid, 0x02),
        (.serverUnavailable, 0x03), (.serverBusy, 0x03), (.badUserNameOrPassword, 0x04), (.notAuthorized, 0x05),
        (.banned, 0x05),
    ])
    func v311ConnackReturnCodes(reason: MQTTReasonCode, returnCode: UInt8) throws {
        let packet = MQTTPacket.connack(MQTTConnAckPacket(reasonCode: reason))
        #expect(try encoded(packet, .v311) == [0x20, 0x02, 0x00, returnCode])
    }
}
