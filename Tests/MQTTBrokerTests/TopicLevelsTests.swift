import Logging
import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// Deep topics: the subscription tree walks them without recursion, and `maxTopicLevels`
/// refuses what is deeper than the broker allows, on both protocol levels.
@Suite("topic levels", .timeLimit(.minutes(2)))
struct TopicLevelsTests {
    /// A topic (or filter) of `count` levels: `l/l/.../l`.
    static func levels(_ count: Int, _ level: String = "l") -> String {
        Array(repeating: level, count: count).joined(separator: "/")
    }

    /// Broker settings with no practical limit on levels.
    static let unlimited = BrokerSettings.test.with { $0.maxTopicLevels = 65_536 }

    /// The byte sequence that once crashed the broker: CONNECT (3.1.1), SUBSCRIBE to a filter
    /// of 65,535 `/` (65,536 levels), DISCONNECT.
    static let deepConnect: [UInt8] = packet(0x10, string("MQTT") + [0x04, 0x02, 0x00, 0x3C] + string("deep"))
    static let deepSubscribe: [UInt8] = packet(0x82, [0x00, 0x01] + string(String(repeating: "/", count: 65_535)) + [0x00])

    static func packet(_ first: UInt8, _ body: [UInt8]) -> [UInt8] {
        var length = body.count
        var header = [first]
        repeat {
            var digit = UInt8(length % 128)
            length /= 128
            if length > 0 { digit |= 0x80 }
            header.append(digit)
        } while length > 0
        return header + body
    }

    static func string(_ text: String) -> [UInt8] {
        let bytes = Array(text.utf8)
        return [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes
    }

    /// A subscriber and a publisher exchange one QoS 1 message: the broker still serves.
    static func expectQoS1Pair(port: Int) async throws {
        let topic = unique("alive")
        let subscriber = try await RawMQTTClient.connected(port: port, version: .v311, clientID: unique("sub"))
        #expect(try await subscriber.subscribe(topic, qos: .atLeastOnce) == [.grantedQoS1])
        let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
        #expect(try await publisher.publish(topic, "still here", qos: .atLeastOnce) == .success)
        let message = try await subscriber.receivePublish()
        #expect(message.payloadString == "still here" && message.qos == .atLeastOnce)
        try await subscriber.acknowledge(message)
    }

    @Test("the 65,536-level filter packet: SUBACK 0x00 with the limit raised, the DISCONNECT that ends the session, then a QoS 1 pair")
    func deepFilterPacket() async throws {
        try await withBroker(settings: Self.unlimited) { port in
            let client = try await RawMQTTClient.open(port: port, version: .v311)
            try await client.sendRaw(Self.deepConnect)
            guard case .connack(let connack) = try await client.receive() else { Issue.record("no CONNACK"); return }
            #expect(connack.reasonCode == .success)
            try await client.sendRaw(Self.deepSubscribe)
            guard case .suback(let suback) = try await client.receive() else { Issue.record("no SUBACK"); return }
            #expect(suback.reasonCodes == [.grantedQoS0])
            try await client.sendRaw([0xE0, 0x00])
            try await client.expectClosed()
            try await Self.expectQoS1Pair(port: port)
        }
    }

    @Test("the same packet with the default limit (128): the 3.1.1 connection is closed, the broker keeps serving")
    func deepFilterPacketDefaultLimit() async throws {
        try await withBroker { port in
            let client = try await RawMQTTClient.open(port: port, version: .v311)
            try await client.sendRaw(Self.deepConnect)
            guard case .connack = try await client.receive() else { Issue.record("no CONNACK"); return }
            try await client.sendRaw(Self.deepSubscribe)
            #expect(try await client.expectClosed().isEmpty, "no SUBACK for a refused 3.1.1 filter")
            try await Self.expectQoS1Pair(port: port)
        }
    }

    @Test("deep filters are matched, removed and pruned without recursion: 65,536 empty levels, 32,001 levels of +, 30,001 literal levels ending in #",
          arguments: MQTTProtocolVersion.allCases)
    func deepMatching(version: MQTTProtocolVersion) async throws {
        try await withBroker(settings: Self.unlimited) { port in
            let cases: [(filter: String, topic: String)] = [
                (String(repeating: "/", count: 65_535), String(repeating: "/", count: 65_535)),
                (String(repeating: "+/", count: 32_000) + "#", String(repeating: "a/", count: 32_000) + "b"),
                (Self.levels(30_000, "x") + "/#", Self.levels(30_000, "x")),
            ]
            let subscriber = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("deep"))
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            for (index, item) in cases.enumerated() {
                #expect(try await subscriber.subscribe(item.filter, qos: .atLeastOnce) == [.grantedQoS1])
                #expect(try await publisher.publish(item.topic, "deep \(index)", qos: .atLeastOnce) == .success)
                let message = try await subscriber.receivePublish()
                #expect(message.topic == item.topic && message.payloadString == "deep \(index)")
                try await subscriber.acknowledge(message)
            }
            // Unsubscribing the + filter prunes its branch (nothing else matches its topic); the
            // others go with the clean session's end.
            let id = subscriber.packetID()
            try await subscriber.send(.unsubscribe(MQTTUnsubscribePacket(packetIdentifier: id, topicFilters: [cases[1].filter])))
            guard case .unsuback(let unsuback) = try await subscriber.receive() else { Issue.record("no UNSUBACK"); return }
            #expect(version == .v311 || unsuback.reasonCodes == [.success])
            #expect(try await publisher.publish(cases[1].topic, "after", qos: .atLeastOnce) == (version == .v5 ? .noMatchingSubscribers : .success))
            try await subscriber.disconnect()
            try await Self.expectQoS1Pair(port: port)
        }
    }

    @Test("5.0: a filter at the limit is granted; one level above and far above get 0x8F with a reason, and the connection stays")
    func filterLimitV5() async throws {
        try await withBroker(settings: .test.with { $0.maxTopicLevels = 8 }) { port in
            let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("lim"))
            let id = client.packetID()
            try await client.send(.subscribe(MQTTSubscribePacket(packetIdentifier: id, subscriptions: [
                MQTTSubscription(topicFilter: Self.levels(8)), MQTTSubscription(topicFilter: Self.levels(9)),
                MQTTSubscription(topicFilter: Self.levels(5_000)), MQTTSubscription(topicFilter: Self.levels(7) + "/#"),
                MQTTSubscription(topicFilter: "$share/g/" + Self.levels(9)),
            ])))
            guard case .suback(let suback) = try await client.receive() else { Issue.record("no SUBACK"); return }
            #expect(suback.reasonCodes == [.grantedQoS0, .topicFilterInvalid, .topicFilterInvalid, .grantedQoS0, .topicFilterInvalid])
            #expect(suback.properties.reasonString?.contains("more than 8 topic levels") == true)

            let unsubscribe = client.packetID()
            try await client.send(.unsubscribe(MQTTUnsubscribePacket(packetIdentifier: unsubscribe, topicFilters: [Self.levels(9), Self.levels(8)])))
            guard case .unsuback(let unsuback) = try await client.receive() else { Issue.record("no UNSUBACK"); return }
            #expect(unsuback.reasonCodes == [.topicFilterInvalid, .success])
            try await client.expectNothingPending()
        }
    }

    @Test("3.1.1: a filter above the limit closes the connection, in SUBSCRIBE and in UNSUBSCRIBE; at the limit it is granted")
    func filterLimitV311() async throws {
        try await withBroker(settings: .test.with { $0.maxTopicLevels = 8 }) { port in
            let client = try await RawMQTTClient.connected(port: port, version: .v311, clientID: unique("lim"))
            #expect(try await client.subscribe(Self.levels(8)) == [.grantedQoS0])
            try await client.send(.subscribe(MQTTSubscribePacket(packetIdentifier: client.packetID(),
                                                                 subscriptions: [MQTTSubscription(topicFilter: Self.levels(9))])))
            #expect(try await client.expectClosed().isEmpty)

            let other = try await RawMQTTClient.connected(port: port, version: .v311, clientID: unique("lim"))
            try await other.send(.unsubscribe(MQTTUnsubscribePacket(packetIdentifier: other.packetID(), topicFilters: [Self.levels(2_000)])))
            #expect(try await other.expectClosed().isEmpty)
        }
    }

    @Test("5.0 PUBLISH: at the limit delivered; above it QoS 1/2 get 0x90 and are not routed, QoS 0 ends the connection with DISCONNECT 0x90")
    func topicLimitV5() async throws {
        try await withBroker(settings: .test.with { $0.maxTopicLevels = 8 }) { port in
            let subscriber = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("sub"))
            #expect(try await subscriber.subscribe("#") == [.grantedQoS0])
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            #expect(try await publisher.publish(Self.levels(8), "at", qos: .atLeastOnce) == .success)
            #expect(try await subscriber.receivePublish().payloadString == "at")
            #expect(try await publisher.publish(Self.levels(9), "above", qos: .atLeastOnce) == .topicNameInvalid)
            #expect(try await publisher.publish(Self.levels(9_000), "far above", qos: .exactlyOnce) == .topicNameInvalid)
            try await subscriber.expectNothingPending()

            try await publisher.send(.publish(MQTTPublishPacket(topic: Self.levels(9), payload: ByteBuffer(string: "q0"), qos: .atMostOnce)))
            #expect(try await publisher.expectServerDisconnect() == .topicNameInvalid)
            try await subscriber.expectNothingPending()
        }
    }

    @Test("3.1.1 PUBLISH above the limit closes the connection, at every QoS; nothing is routed", arguments: [MQTTQoS.atMostOnce, .atLeastOnce, .exactlyOnce])
    func topicLimitV311(qos: MQTTQoS) async throws {
        try await withBroker(settings: .test.with { $0.maxTopicLevels = 8 }) { port in
            let subscriber = try await RawMQTTClient.connected(port: port, version: .v311, clientID: unique("sub"))
            #expect(try await subscriber.subscribe("#", qos: .exactlyOnce) == [.grantedQoS2])
            let publisher = try await RawMQTTClient.connected(port: port, version: .v311, clientID: unique("pub"))
            try await publisher.send(.publish(MQTTPublishPacket(topic: Self.levels(9), payload: ByteBuffer(string: "x"), qos: qos,
                                                                packetIdentifier: qos == .atMostOnce ? nil : 1)))
            #expect(try await publisher.expectClosed().isEmpty)
            try await subscriber.expectNothingPending()
        }
    }

    @Test("a Will topic above the limit: CONNACK 0x90 on 5.0, closed without CONNACK on 3.1.1", arguments: MQTTProtocolVersion.allCases)
    func willTopicLimit(version: MQTTProtocolVersion) async throws {
        try await withBroker(settings: .test.with { $0.maxTopicLevels = 8 }) { port in
            let client = try await RawMQTTClient.open(port: port, version: version)
            let will = MQTTWill(topic: Self.levels(9), payload: ByteBuffer(string: "w"))
            try await client.send(.connect(MQTTConnectPacket(protocolVersion: version, clientIdentifier: unique("w"), will: will)))
            let packets = try await client.expectClosed()
            if version == .v5 {
                guard case .connack(let connack)? = packets.first else { Issue.record("no CONNACK: \(packets)"); return }
                #expect(connack.reasonCode == .topicNameInvalid)
            } else {
                #expect(packets.isEmpty)
            }
            let fine = try await RawMQTTClient.open(port: port, version: version)
            let ack = try await fine.connect(clientID: unique("w"), will: MQTTWill(topic: Self.levels(8), payload: ByteBuffer(string: "w")))
            #expect(ack.reasonCode == .success)
        }
    }

    @Test("refusals are counted in the broker's statistics")
    func refusalsCounted() async throws {
        try await withStartedBroker(listeners: [BrokerListener(host: "127.0.0.1", port: 0)],
                                    settings: .test.with { $0.maxTopicLevels = 4 }, logger: testLogger) { broker, ports in
            let client = try await RawMQTTClient.connected(port: ports[0], version: .v5, clientID: unique("count"))
            #expect(try await client.subscribe(Self.levels(5)) == [.topicFilterInvalid])
            #expect(try await client.publish(Self.levels(6), "x", qos: .atLeastOnce) == .topicNameInvalid)
            #expect(try await client.subscribe(Self.levels(4)) == [.grantedQoS0])
            #expect(try await broker.statistics().topicLevelsRefused == 2)
        }
    }
}
