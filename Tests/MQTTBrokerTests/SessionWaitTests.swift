import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// ``MQTTBroker/waitForSessions(_:timeout:)``: the broker says when sessions attach, so the
/// engine's bridge does not poll for them.
@Suite("waiting for sessions to attach", .timeLimit(.minutes(1)))
struct SessionWaitTests {
    @Test("returns once every session exists: one over the network, one in process, one already there")
    func answersOnAttach() async throws {
        try await withStartedBroker(listeners: [BrokerListener(host: "127.0.0.1", port: 0)], settings: .test, logger: testLogger) { broker, ports in
            let port = ports[0]
            let (network, local, early) = (unique("net"), unique("local"), unique("early"))
            let before = try await broker.subscribe(clientID: early, subscriptions: [MQTTSubscription(topicFilter: "e")])
            let waiting = Task { try await broker.waitForSessions([network, local, early], timeout: .seconds(30)) }
            let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: network)
            // One still missing: the wait goes on (answered by the broker's loop in order, so a
            // session lookup after the CONNACK sees the same state the waiter does).
            #expect(try await broker.session(clientID: local) == nil)
            let subscription = try await broker.subscribe(clientID: local, subscriptions: [MQTTSubscription(topicFilter: "l")])
            #expect(try await waiting.value == [])
            await subscription.close()
            await before.close()
            try await client.disconnect()
        }
    }

    @Test("at the timeout, and when its task is cancelled, it returns the ids still missing, in the order given")
    func timeoutAndCancel() async throws {
        try await withStartedBroker(listeners: [], settings: .test, logger: testLogger) { broker, _ in
            let present = unique("here")
            let subscription = try await broker.subscribe(clientID: present, subscriptions: [MQTTSubscription(topicFilter: "h")])
            #expect(try await broker.waitForSessions(["b-missing", present, "a-missing"], timeout: .milliseconds(50)) == ["b-missing", "a-missing"])

            let cancelled = Task { try await broker.waitForSessions(["never"], timeout: .seconds(600)) }
            cancelled.cancel()
            #expect(try await cancelled.value == ["never"])
            await subscription.close()
        }
    }
}
