import MQTTCore
import NIOCore
import Testing

/// A shared message whose member's session ends unacknowledged goes to another member
/// (MQTT 5 §4.8.2), which is what lets several daemons share work and survive one dying.
@Suite("shared subscriptions: redistribution", .timeLimit(.minutes(1)))
struct SharedRedistributionTests {
    @Test("unacknowledged and queued shared messages of an ended session go to the other member",
          arguments: MQTTProtocolVersion.allCases)
    func memberGoesAway(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("work")
            // `a` takes one message at a time (Receive Maximum 1 on 5.0; inflight window 1 via settings is global, so
            // on 3.1.1 it simply never acknowledges), and its session ends with its connection.
            let limit: MQTTProperties = version == .v5 ? [.receiveMaximum(1)] : []
            let a = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("a"), properties: limit)
            #expect(try await a.subscribe("$share/workers/" + topic, qos: .atLeastOnce) == [.grantedQoS1])
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            try await publisher.publish(topic, "job-1", qos: .atLeastOnce)
            let held = try await a.receivePublish()
            #expect(held.payloadString == "job-1")  // received, never acknowledged

            let b = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("b"))
            #expect(try await b.subscribe("$share/workers/" + topic, qos: .atLeastOnce) == [.grantedQoS1])
            try await a.expectNothingPending()
            await a.closeAbruptly()  // its session (clean, expiry 0) ends

            // Round robin would give b every other message; with a gone, b gets the held job and all new ones.
            var received: [String] = []
            for n in 2...3 { try await publisher.publish(topic, "job-\(n)", qos: .atLeastOnce) }
            for _ in 0..<3 {
                let message = try await b.receivePublish()
                received.append(message.payloadString)
                try await b.acknowledge(message)
            }
            #expect(received.sorted() == ["job-1", "job-2", "job-3"])
            try await b.expectNothingPending()
        }
    }
}
