import MQTTCore
import NIOCore
import Testing

/// Retained messages (MQTT 5 §3.3.1.3, §3.8.3.1; Mosquitto test/broker/04-retain-*).
@Suite("retain", .timeLimit(.minutes(1)))
struct RetainTests {
    @Test("stored, delivered with RETAIN on subscribe, replaced, cleared by an empty payload",
          arguments: MQTTProtocolVersion.allCases)
    func storeReplaceClear(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("retain")
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            try await publisher.publish(topic, "one", qos: .atLeastOnce, retain: true)

            let first = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("s1"))
            try await first.subscribe(topic, qos: .atLeastOnce)
            let stored = try await first.receivePublish()
            #expect(stored.payloadString == "one")
            #expect(stored.retain, "a retained message sent because of a new subscription has RETAIN set")
            #expect(stored.qos == .atLeastOnce)
            try await first.acknowledge(stored)
            try await first.expectNothingPending()

            // Replaced: the established subscription gets it live, without RETAIN.
            try await publisher.publish(topic, "two", qos: .atLeastOnce, retain: true)
            let live = try await first.receivePublish()
            #expect(live.payloadString == "two")
            #expect(!live.retain, "a message forwarded to an established subscription has RETAIN cleared")
            try await first.acknowledge(live)

            let second = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("s2"))
            try await second.subscribe(topic, qos: .atLeastOnce)
            let replaced = try await second.receivePublish()
            #expect(replaced.payloadString == "two")
            #expect(replaced.retain)
            try await second.acknowledge(replaced)
            try await second.expectNothingPending()

            // Cleared: an empty retained payload is forwarded once, then nothing is stored.
            try await publisher.publish(topic, "", qos: .atLeastOnce, retain: true)
            let clearing = try await first.receivePublish()
            #expect(clearing.payload.readableBytes == 0)
            try await first.acknowledge(clearing)
            let third = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("s3"))
            try await third.subscribe(topic, qos: .atLeastOnce)
            try await third.expectNothingPending()
        }
    }

    @Test("a wildcard subscription receives every matching retained message, at the lower QoS",
          arguments: MQTTProtocolVersion.allCases)
    func wildcardRetained(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let base = unique("rw")
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            try await publisher.publish(base + "/a", "A", qos: .exactlyOnce, retain: true)
            try await publisher.publish(base + "/b", "B", qos: .atMostOnce, retain: true)
            try await publisher.publish(base + "/c/d", "D", qos: .atLeastOnce, retain: true)

            let subscriber = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("sub"))
            try await subscriber.subscribe(base + "/+", qos: .atLeastOnce)
            var received: [String: MQTTQoS] = [:]
            for _ in 0..<2 {
                let message = try await subscriber.receivePublish()
                #expect(message.retain)
                received[message.topic] = message.qos
                try await subscriber.acknowledge(message)
            }
            #expect(received == [base + "/a": .atLeastOnce, base + "/b": .atMostOnce])
            try await subscriber.expectNothingPending()
        }
    }

    @Test("5.0 Retain Handling 1: retained messages only for a subscription that did not exist")
    func retainHandlingOne() async throws {
        try await withBroker { port in
            let topic = unique("rh1")
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            try await publisher.publish(topic, "kept", retain: true)

            let subscriber = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("sub"))
            let once = MQTTSubscription(topicFilter: topic, retainHandling: .sendOnNewSubscribe)
            try await subscriber.subscribe([once])
            #expect(try await subscriber.receivePublish().payloadString == "kept")
            try await subscriber.subscribe([once])
            try await subscriber.expectNothingPending()
            // Retain Handling 0 sends them on every SUBSCRIBE.
            try await subscriber.subscribe([MQTTSubscription(topicFilter: topic, retainHandling: .sendOnSubscribe)])
            #expect(try await subscriber.receivePublish().payloadString == "kept")
        }
    }

    @Test("5.0: a retained message sent on subscribe carries that subscription's identifier")
    func retainedSubscriptionIdentifier() async throws {
        try await withBroker { port in
            let topic = unique("rsid")
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            try await publisher.publish(topic, "kept", retain: true)
            let subscriber = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("sub"))
            try await subscriber.subscribe(topic, identifier: 7)
            #expect(try await subscriber.receivePublish().properties.subscriptionIdentifiers == [7])
        }
    }

    @Test("5.0 Retain Handling 2: no retained messages on subscribe")
    func retainHandlingTwo() async throws {
        try await withBroker { port in
            let topic = unique("rh2")
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            try await publisher.publish(topic, "kept", retain: true)
            let subscriber = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("sub"))
            try await subscriber.subscribe([MQTTSubscription(topicFilter: topic, retainHandling: .doNotSend)])
            try await subscriber.expectNothingPending()
            // The subscription itself works.
            try await publisher.publish(topic, "live")
            #expect(try await subscriber.receivePublish().payloadString == "live")
        }
    }

    @Test("5.0 Retain As Published keeps the RETAIN flag of forwarded messages")
    func retainAsPublished() async throws {
        try await withBroker { port in
            let topic = unique("rap")
            let asPublished = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("rap"))
            try await asPublished.subscribe([MQTTSubscription(topicFilter: topic, retainAsPublished: true)])
            let plain = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("plain"))
            try await plain.subscribe([MQTTSubscription(topicFilter: topic, retainAsPublished: false)])

            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            try await publisher.publish(topic, "retained", retain: true)
            try await publisher.publish(topic, "not retained", retain: false)

            let a1 = try await asPublished.receivePublish()
            let a2 = try await asPublished.receivePublish()
            #expect(a1.payloadString == "retained" && a1.retain)
            #expect(a2.payloadString == "not retained" && !a2.retain)
            let p1 = try await plain.receivePublish()
            let p2 = try await plain.receivePublish()
            #expect(p1.payloadString == "retained" && !p1.retain)
            #expect(p2.payloadString == "not retained" && !p2.retain)
        }
    }

    @Test("5.0: a shared subscription gets no retained messages on subscribe")
    func sharedSubscriptionNoRetained() async throws {
        try await withBroker { port in
            let topic = unique("rshare")
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            try await publisher.publish(topic, "kept", retain: true)
            let member = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("member"))
            try await member.subscribe("$share/g/" + topic)
            try await member.expectNothingPending()
        }
    }
}
