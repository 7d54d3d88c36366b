import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// ACL rules of the broker definition (and the Paho test_subscribe_failure setting).
@Suite("access control", .timeLimit(.minutes(1)))
struct AccessControlTests {
    static let rules: [BrokerACLRule] = [
        BrokerACLRule(.deny, .subscribe, topic: "test/nosubscribe"),
        BrokerACLRule(.allow, .all, topic: "users/%u/#"),
        BrokerACLRule(.deny, .publish, topic: "readonly/#"),
        BrokerACLRule(.deny, .receive, topic: "hidden/#", clientID: "watcher"),
        BrokerACLRule(.allow, .all, topic: "#"),
    ]

    func client(_ port: Int, _ version: MQTTProtocolVersion, _ id: String, username: String? = nil) async throws -> RawMQTTClient {
        let client = try await RawMQTTClient.open(port: port, version: version)
        try await client.send(.connect(MQTTConnectPacket(protocolVersion: version, clientIdentifier: id, username: username)))
        guard case .connack(let connack) = try await client.receive(), connack.reasonCode == .success else {
            throw RawClientError(description: "connection refused")
        }
        return client
    }

    @Test("A denied subscription gets 0x87 (0x80 on 3.1.1); the other filters of the SUBACK are granted",
          arguments: MQTTProtocolVersion.allCases)
    func subscribeDenied(version: MQTTProtocolVersion) async throws {
        try await withBroker(settings: .test.with { $0.acl = Self.rules }) { port in
            let c = try await client(port, version, unique("c"))
            let codes = try await c.subscribe([MQTTSubscription(topicFilter: "test/nosubscribe", qos: .exactlyOnce),
                                               MQTTSubscription(topicFilter: "other/+", qos: .atLeastOnce),
                                               MQTTSubscription(topicFilter: "$share/g/test/nosubscribe")])
            let denied: MQTTReasonCode = version == .v5 ? .notAuthorized : .unspecifiedError
            #expect(codes == [denied, .grantedQoS1, denied])
        }
    }

    @Test("A denied PUBLISH: 0x87 on 5.0; acknowledged on 3.1.1 (it cannot say no); never delivered",
          arguments: MQTTProtocolVersion.allCases, [MQTTQoS.atLeastOnce, .exactlyOnce])
    func publishDenied(version: MQTTProtocolVersion, qos: MQTTQoS) async throws {
        try await withBroker(settings: .test.with { $0.acl = Self.rules }) { port in
            let subscriber = try await client(port, version, unique("sub"))
            try await subscriber.subscribe("readonly/#", qos: .atLeastOnce)
            let publisher = try await client(port, version, unique("pub"))
            let code = try await publisher.publish("readonly/x", "nope", qos: qos)
            #expect(code == (version == .v5 ? .notAuthorized : .success))
            try await publisher.publish("readonly/x", "also not", qos: .atMostOnce)
            try await subscriber.expectNothingPending()
        }
    }

    @Test("%u stands for the user name: users reach their own tree only through that rule")
    func usernameSubstitution() async throws {
        let rules = [BrokerACLRule(.allow, .all, topic: "users/%u/#")]
        try await withBroker(settings: .test.with { $0.acl = rules }) { port in
            let alice = try await client(port, .v5, unique("a"), username: "alice")
            #expect(try await alice.subscribe("users/alice/#") == [.grantedQoS0])
            #expect(try await alice.subscribe("users/bob/#") == [.notAuthorized])
            let anonymous = try await client(port, .v5, unique("anon"))
            #expect(try await anonymous.subscribe("users/alice/#") == [.notAuthorized])
            #expect(try await anonymous.publish("users/alice/x", "hi", qos: .atLeastOnce) == .notAuthorized)
            try await alice.publish("users/alice/x", "hi")
            #expect(try await alice.receivePublish().payloadString == "hi")
        }
    }

    @Test("A receive rule keeps messages from one client id while others get them")
    func receiveDenied() async throws {
        try await withBroker(settings: .test.with { $0.acl = Self.rules }) { port in
            let watcher = try await client(port, .v5, "watcher")
            let other = try await client(port, .v5, unique("other"))
            #expect(try await watcher.subscribe("hidden/#") == [.grantedQoS0])
            #expect(try await other.subscribe("hidden/#") == [.grantedQoS0])
            let publisher = try await client(port, .v5, unique("pub"))
            try await publisher.publish("hidden/a", "secret", qos: .atLeastOnce)
            #expect(try await other.receivePublish().payloadString == "secret")
            try await watcher.expectNothingPending()
        }
    }
}

@Suite("reason strings", .timeLimit(.minutes(1)))
struct ReasonStringTests {
    @Test("5.0 refusals carry a reason string unless the client asked for no problem information")
    func refusalsExplained() async throws {
        try await withBroker(settings: .test.with { $0.acl = AccessControlTests.rules; $0.maxTopicLevels = 3 }) { port in
            let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("why"))
            let id = client.packetID()
            try await client.send(.subscribe(MQTTSubscribePacket(packetIdentifier: id, subscriptions: [
                MQTTSubscription(topicFilter: "test/nosubscribe"), MQTTSubscription(topicFilter: "a/b/c/d"), MQTTSubscription(topicFilter: "ok"),
            ])))
            guard case .suback(let suback) = try await client.receive() else { Issue.record("no SUBACK"); return }
            #expect(suback.reasonCodes == [.notAuthorized, .topicFilterInvalid, .grantedQoS0])
            #expect(suback.properties.reasonString == "test/nosubscribe: not authorized; a/b/c/d: more than 3 topic levels")
            let pub = client.packetID()
            try await client.send(.publish(MQTTPublishPacket(topic: "readonly/x", payload: ByteBuffer(), qos: .atLeastOnce, packetIdentifier: pub)))
            let ack = try await client.expectAck(.puback, pub)
            #expect(ack.reasonCode == .notAuthorized && ack.properties.reasonString == "not authorized to publish to readonly/x")

            let quiet = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("quiet"),
                                                          properties: [.requestProblemInformation(0)])
            let qid = quiet.packetID()
            try await quiet.send(.subscribe(MQTTSubscribePacket(packetIdentifier: qid, subscriptions: [MQTTSubscription(topicFilter: "test/nosubscribe")])))
            guard case .suback(let quietAck) = try await quiet.receive() else { Issue.record("no SUBACK"); return }
            #expect(quietAck.reasonCodes == [.notAuthorized] && quietAck.properties.isEmpty)
        }
    }
}

@Suite("access control: $ topics", .timeLimit(.minutes(1)))
struct DollarRuleTests {
    @Test("A rule's # covers $ topics (access), while a subscription's # still does not receive them")
    func dollarTopics() async throws {
        let rules = [BrokerACLRule(.deny, .publish, topic: "$internal/#"), BrokerACLRule(.allow, .all, topic: "#")]
        try await withBroker(settings: .test.with { $0.acl = rules }) { port in
            let reader = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("r"))
            #expect(try await reader.subscribe("$app/#") == [.grantedQoS0])
            let wild = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("w"))
            try await wild.subscribe("#")
            let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("d"))
            #expect(try await client.publish("$app/x", "ok", qos: .atLeastOnce) == .success)
            #expect(try await reader.receivePublish().payloadString == "ok")
            #expect(try await client.publish("$internal/x", "no", qos: .atLeastOnce) == .notAuthorized)
            try await wild.expectNothingPending()
        }
    }
}
