import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// ACL rules for authenticated users, both protocol levels: `%u`, `%c`, a user-only rule, default deny.
@Suite("access control: authenticated matrix", .timeLimit(.minutes(1)))
struct ACLMatrixTests {
    static let rules: [BrokerACLRule] = [
        BrokerACLRule(.allow, .all, topic: "users/%u/#"),
        BrokerACLRule(.allow, .publish, topic: "clients/%c/out"),
        BrokerACLRule(.allow, [.subscribe, .receive], topic: "clients/+/out", username: "bob"),
        BrokerACLRule(.deny, .all, topic: "#"),
    ]

    @Test("Allow/deny matrix with %u and %c for password-authenticated users", arguments: MQTTProtocolVersion.allCases)
    func matrix(version: MQTTProtocolVersion) async throws {
        let settings = AuthenticationTests.settings.with { $0.acl = Self.rules }
        let denied: MQTTReasonCode = version == .v5 ? .notAuthorized : .unspecifiedError
        try await withBroker(listeners: [BrokerListener(host: "0.0.0.0", port: 0)], settings: settings) { (ports: [Int]) async throws in
            let (alice, a) = try await RawMQTTClient.login(ports[0], version, "alice", "wonderland", id: "c-alice")
            let (bob, b) = try await RawMQTTClient.login(ports[0], version, "bob", "builder", id: "c-bob")
            #expect(a == .success && b == .success)

            // Subscribe: own tree (%u) yes, another's no; the user-only rule for bob alone.
            #expect(try await alice.subscribe("users/alice/#", qos: .atLeastOnce) == [.grantedQoS1])
            #expect(try await alice.subscribe("users/bob/#") == [denied])
            #expect(try await bob.subscribe("clients/+/out", qos: .atLeastOnce) == [.grantedQoS1])
            #expect(try await alice.subscribe("clients/+/out") == [denied])

            // Publish: %c is the client id; to another client's topic 0x87 on 5.0, acknowledged but dropped on 3.1.1.
            #expect(try await alice.publish("clients/c-alice/out", "mine", qos: .atLeastOnce) == .success)
            #expect(try await bob.receivePublish().payloadString == "mine")
            let foreign = try await alice.publish("clients/c-bob/out", "forged", qos: .atLeastOnce)
            #expect(foreign == (version == .v5 ? .notAuthorized : .success))
            try await alice.publish("users/alice/note", "self")
            let note = try await alice.receivePublish()
            #expect(note.payloadString == "self")
            #expect(try await bob.publish("users/alice/note", "intrusion", qos: .atLeastOnce) == (version == .v5 ? .notAuthorized : .success))
            try await alice.expectNothingPending()
            try await bob.expectNothingPending()
        }
    }
}
