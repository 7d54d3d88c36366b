import MQTTCore
import NIOCore
import Testing

/// Shared subscriptions `$share/group/filter` (MQTT 5 §4.8.2; Mosquitto test/broker/20-shared-*).
@Suite("shared subscriptions", .timeLimit(.minutes(1)))
struct SharedSubscriptionTests {
    @Test("two members of $share/g/t share 4 messages 2 and 2; a plain subscriber gets all 4",
          arguments: MQTTProtocolVersion.allCases)
    func twoMembers(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("shared")
            let a = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("a"))
            let b = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("b"))
            #expect(try await a.subscribe("$share/g/" + topic, qos: .atLeastOnce) == [.grantedQoS1])
            #expect(try await b.subscribe("$share/g/" + topic, qos: .atLeastOnce) == [.grantedQoS1])
            let plain = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("plain"))
            try await plain.subscribe(topic, qos: .atLeastOnce)

            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            for n in 1...4 { try await publisher.publish(topic, "m\(n)", qos: .atLeastOnce) }

            var shared: [String] = []
            for member in [a, b] {
                for _ in 0..<2 {
                    let message = try await member.receivePublish()
                    #expect(message.topic == topic, "delivered with the topic name, not the share filter")
                    shared.append(message.payloadString)
                    try await member.acknowledge(message)
                }
                try await member.expectNothingPending()
            }
            #expect(shared.sorted() == ["m1", "m2", "m3", "m4"], "each message goes to exactly one member")

            for n in 1...4 {
                let message = try await plain.receivePublish()
                #expect(message.payloadString == "m\(n)")
                try await plain.acknowledge(message)
            }
            try await plain.expectNothingPending()
        }
    }

    @Test("two groups on the same filter each get every message", arguments: MQTTProtocolVersion.allCases)
    func twoGroups(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("groups")
            let g1 = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("g1"))
            try await g1.subscribe("$share/one/" + topic)
            let g2 = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("g2"))
            try await g2.subscribe("$share/two/" + topic)
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            for n in 1...2 { try await publisher.publish(topic, "m\(n)") }
            for member in [g1, g2] {
                #expect(try await member.receivePublish().payloadString == "m1")
                #expect(try await member.receivePublish().payloadString == "m2")
            }
        }
    }

    @Test("after a member unsubscribes, the remaining member gets every message", arguments: MQTTProtocolVersion.allCases)
    func memberLeaves(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("leave")
            let filter = "$share/g/" + topic
            let stays = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("stays"))
            try await stays.subscribe(filter)
            let leaves = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("leaves"))
            try await leaves.subscribe(filter)
            try await leaves.send(.unsubscribe(MQTTUnsubscribePacket(packetIdentifier: 50, topicFilters: [filter])))
            guard case .unsuback = try await leaves.receive() else {
                Issue.record("expected UNSUBACK")
                return
            }
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            for n in 1...3 { try await publisher.publish(topic, "m\(n)") }
            for n in 1...3 { #expect(try await stays.receivePublish().payloadString == "m\(n)") }
            try await leaves.expectNothingPending()
        }
    }

    @Test("5.0: No Local on a shared subscription is a protocol error")
    func noLocalShared() async throws {
        try await withBroker { port in
            let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("c"))
            try await client.send(.subscribe(MQTTSubscribePacket(
                packetIdentifier: 1, subscriptions: [MQTTSubscription(topicFilter: "$share/g/t", noLocal: true)])))
            #expect(try await client.expectServerDisconnect() == .protocolError)
        }
    }
}
