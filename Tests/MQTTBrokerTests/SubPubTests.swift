import MQTTCore
import NIOCore
import Testing

/// Publish/subscribe flows, QoS, topic matching (Mosquitto test/broker/02-subpub-*, 03-publish-*).
@Suite("subpub", .timeLimit(.minutes(1)))
struct SubPubTests {
    @Test("QoS 0/1/2 in both directions with the exact packet sequences",
          arguments: MQTTProtocolVersion.allCases, MQTTQoS.allCases)
    func qosFlows(version: MQTTProtocolVersion, qos: MQTTQoS) async throws {
        try await withBroker { port in
            let topic = unique("flow") + "/t"
            let subscriber = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("sub"))
            #expect(try await subscriber.subscribe(topic, qos: qos) == [MQTTReasonCode(rawValue: qos.rawValue)])
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))

            // Publisher side, step by step: PUBLISH → PUBACK, or PUBLISH → PUBREC, PUBREL → PUBCOMP.
            let id: UInt16 = 4242
            try await publisher.send(.publish(MQTTPublishPacket(topic: topic, payload: ByteBuffer(string: "payload-\(qos)"),
                                                                qos: qos, packetIdentifier: qos == .atMostOnce ? nil : id)))
            switch qos {
            case .atMostOnce: break
            case .atLeastOnce:
                #expect(try await publisher.expectAck(.puback, id).reasonCode == .success)
            case .exactlyOnce:
                #expect(try await publisher.expectAck(.pubrec, id).reasonCode == .success)
                try await publisher.send(.pubrel(MQTTPublishAckPacket(packetIdentifier: id)))
                #expect(try await publisher.expectAck(.pubcomp, id).reasonCode == .success)
            }
            try await publisher.expectNothingPending()

            // Subscriber side: PUBLISH → PUBACK, or PUBLISH → PUBREC → PUBREL → PUBCOMP.
            let message = try await subscriber.receivePublish()
            #expect(message.topic == topic)
            #expect(message.payloadString == "payload-\(qos)")
            #expect(message.qos == qos)
            #expect(!message.retain)
            #expect(!message.dup)
            #expect((message.packetIdentifier == nil) == (qos == .atMostOnce))
            if let outID = message.packetIdentifier {
                switch qos {
                case .atMostOnce: break
                case .atLeastOnce:
                    try await subscriber.send(.puback(MQTTPublishAckPacket(packetIdentifier: outID)))
                case .exactlyOnce:
                    try await subscriber.send(.pubrec(MQTTPublishAckPacket(packetIdentifier: outID)))
                    #expect(try await subscriber.expectAck(.pubrel, outID).reasonCode == .success)
                    try await subscriber.send(.pubcomp(MQTTPublishAckPacket(packetIdentifier: outID)))
                }
            }
            try await subscriber.expectNothingPending()
        }
    }

    @Test("delivered at the lower of the published and the granted QoS",
          arguments: MQTTProtocolVersion.allCases, [(MQTTQoS, MQTTQoS)](MQTTQoS.allCases.flatMap { p in MQTTQoS.allCases.map { (p, $0) } }))
    func qosDowngrade(version: MQTTProtocolVersion, qos: (MQTTQoS, MQTTQoS)) async throws {
        let (published, granted) = qos
        try await withBroker { port in
            let topic = unique("downgrade")
            let subscriber = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("sub"))
            try await subscriber.subscribe(topic, qos: granted)
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            try await publisher.publish(topic, "m", qos: published)
            let message = try await subscriber.receivePublish()
            #expect(message.qos == min(published, granted))
            try await subscriber.acknowledge(message)
            try await subscriber.expectNothingPending()
        }
    }

    @Test("overlapping subscriptions: delivered once, highest QoS, every subscription identifier (5.0)",
          arguments: MQTTProtocolVersion.allCases)
    func overlappingSubscriptions(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let base = unique("overlap")
            let subscriber = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("sub"))
            let v5 = version == .v5
            try await subscriber.subscribe(base + "/+", qos: .atLeastOnce, identifier: v5 ? 1 : nil)
            try await subscriber.subscribe(base + "/#", qos: .exactlyOnce, identifier: v5 ? 2 : nil)
            try await subscriber.subscribe(base + "/x", qos: .atMostOnce, identifier: v5 ? 3 : nil)
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            try await publisher.publish(base + "/x", "once", qos: .exactlyOnce)

            let message = try await subscriber.receivePublish()
            #expect(message.payloadString == "once")
            #expect(message.qos == .exactlyOnce)
            if v5 {
                #expect(message.properties.subscriptionIdentifiers.sorted() == [1, 2, 3])
            }
            try await subscriber.acknowledge(message)
            try await subscriber.expectNothingPending()
        }
    }

    @Test("subscribing again to the same filter replaces the subscription (its QoS), no duplicate",
          arguments: MQTTProtocolVersion.allCases)
    func resubscribeReplaces(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("resub")
            let subscriber = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("sub"))
            try await subscriber.subscribe(topic, qos: .atMostOnce)
            try await subscriber.subscribe(topic, qos: .exactlyOnce)
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            try await publisher.publish(topic, "m", qos: .exactlyOnce)
            let message = try await subscriber.receivePublish()
            #expect(message.qos == .exactlyOnce)
            try await subscriber.acknowledge(message)
            try await subscriber.expectNothingPending()
        }
    }

    struct MatchCase: Sendable, CustomStringConvertible {
        var filter: String
        var matching: [String]
        var notMatching: [String]
        var description: String { filter }
    }

    static let matchCases: [MatchCase] = [
        MatchCase(filter: "sport/tennis/+", matching: ["sport/tennis/player1", "sport/tennis/", "sport/tennis/🎾 ünïcode"],
                  notMatching: ["sport/tennis", "sport/tennis/player1/ranking", "sport/golf/x"]),
        MatchCase(filter: "sport/#", matching: ["sport", "sport/tennis", "sport/tennis/player1"],
                  notMatching: ["sports", "other/sport"]),
        MatchCase(filter: "+/+", matching: ["a/b", "/finance"], notMatching: ["a", "a/b/c"]),
        MatchCase(filter: "/+", matching: ["/finance"], notMatching: ["finance", "/a/b"]),
        MatchCase(filter: "+", matching: ["a"], notMatching: ["/a", "a/b", "$app"]),
        MatchCase(filter: "#", matching: ["a", "a/b", "/x"], notMatching: ["$app/x", "$internal"]),
        MatchCase(filter: "+/monitor/Clients", matching: ["x/monitor/Clients"], notMatching: ["$app/monitor/Clients"]),
        MatchCase(filter: "$app/#", matching: ["$app/x", "$app/a/b"], notMatching: ["app/x"]),
        MatchCase(filter: "a/+/c/#", matching: ["a/b/c", "a//c/d/e"], notMatching: ["a/b/d", "a/c"]),
    ]

    @Test("+ and # matching; $ topics are not matched by a leading wildcard",
          arguments: MQTTProtocolVersion.allCases, matchCases)
    func wildcardMatching(version: MQTTProtocolVersion, match: MatchCase) async throws {
        try await withBroker { port in
            let subscriber = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("sub"))
            #expect(try await subscriber.subscribe(match.filter) == [.grantedQoS0])
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            for topic in match.notMatching + match.matching {
                try await publisher.publish(topic, topic)
            }
            for topic in match.matching {
                let message = try await subscriber.receivePublish()
                #expect(message.topic == topic, "filter \(match.filter)")
            }
            try await subscriber.expectNothingPending()
        }
    }

    @Test("UNSUBSCRIBE stops delivery", arguments: MQTTProtocolVersion.allCases)
    func unsubscribe(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("unsub")
            let client = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("sub"))
            try await client.subscribe(topic)
            try await client.send(.unsubscribe(MQTTUnsubscribePacket(packetIdentifier: 77, topicFilters: [topic, "never/subscribed"])))
            let packet = try await client.receive()
            guard case .unsuback(let unsuback) = packet, unsuback.packetIdentifier == 77 else {
                Issue.record("expected UNSUBACK 77, got \(packet.brief)")
                return
            }
            if version == .v5 { #expect(unsuback.reasonCodes == [.success, .noSubscriptionExisted]) }
            try await client.publish(topic, "after")
            try await client.expectNothingPending()
        }
    }

    @Test("5.0: No Local keeps a client's own messages from it")
    func noLocal() async throws {
        try await withBroker { port in
            let topic = unique("nolocal")
            let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("self"))
            try await client.subscribe([MQTTSubscription(topicFilter: topic, noLocal: true)])
            try await client.publish(topic, "own")
            try await client.expectNothingPending()
            let other = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("other"))
            try await other.publish(topic, "foreign")
            #expect(try await client.receivePublish().payloadString == "foreign")
        }
    }

    @Test("5.0: PUBLISH properties are forwarded unchanged")
    func propertiesForwarded() async throws {
        try await withBroker { port in
            let topic = unique("props")
            let subscriber = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("sub"))
            try await subscriber.subscribe(topic, qos: .atLeastOnce)
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            let sent: MQTTProperties = [
                .payloadFormatIndicator(.utf8), .contentType("application/json"), .responseTopic("reply/here"),
                .correlationData(ByteBuffer(bytes: [0, 1, 2, 0xFF])), .userProperty("k", "v1"), .userProperty("k", "v2"),
            ]
            try await publisher.publish(topic, "{}", qos: .atLeastOnce, properties: sent)
            let message = try await subscriber.receivePublish()
            #expect(message.properties.payloadFormat == .utf8)
            #expect(message.properties.contentType == "application/json")
            #expect(message.properties.responseTopic == "reply/here")
            #expect(message.properties.correlationData == ByteBuffer(bytes: [0, 1, 2, 0xFF]))
            #expect(message.properties.userProperties.map { "\($0.name)=\($0.value)" } == ["k=v1", "k=v2"])
            try await subscriber.acknowledge(message)
        }
    }

    @Test("5.0: PUBACK carries 0x10 No matching subscribers when nobody subscribed")
    func noMatchingSubscribers() async throws {
        try await withBroker { port in
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            #expect(try await publisher.publish(unique("nobody"), "x", qos: .atLeastOnce) == .noMatchingSubscribers)
            #expect(try await publisher.publish(unique("nobody"), "x", qos: .exactlyOnce) == .noMatchingSubscribers)
        }
    }
}
