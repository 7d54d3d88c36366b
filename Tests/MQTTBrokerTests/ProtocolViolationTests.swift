import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// Points of the specification where the broker ends a connection or refuses a message: invalid
/// topic filters, a Response Topic with a wildcard, publishing into `$SYS`, and a delayed Will
/// that a new connection cancels.
@Suite("protocol violations and refusals", .timeLimit(.minutes(1)))
struct ProtocolViolationTests {
    static let invalidFilters = ["#/a", "a/b#", "a+/b", "", "$share/g/a#", "$share//a"]

    @Test("an invalid filter in SUBSCRIBE ends the connection: closed on 3.1.1, DISCONNECT 0x82 on 5.0",
          arguments: MQTTProtocolVersion.allCases, invalidFilters)
    func invalidSubscribeFilter(version: MQTTProtocolVersion, filter: String) async throws {
        try await withBroker { port in
            let client = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("inv"))
            try await client.send(.subscribe(MQTTSubscribePacket(packetIdentifier: client.packetID(), subscriptions: [
                MQTTSubscription(topicFilter: "fine/+"), MQTTSubscription(topicFilter: filter),
            ])))
            #expect(try await client.expectServerDisconnect() == (version == .v5 ? .protocolError : nil))
        }
    }

    @Test("an invalid filter in UNSUBSCRIBE ends the connection the same way", arguments: MQTTProtocolVersion.allCases)
    func invalidUnsubscribeFilter(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let client = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("inv"))
            try await client.send(.unsubscribe(MQTTUnsubscribePacket(packetIdentifier: client.packetID(), topicFilters: ["a/b#"])))
            #expect(try await client.expectServerDisconnect() == (version == .v5 ? .protocolError : nil))
        }
    }

    @Test("5.0: a Response Topic with a wildcard is a Protocol Error (0x82) whose reason string names the Response Topic")
    func responseTopicWildcard() async throws {
        try await withBroker { port in
            let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("resp"))
            try await client.send(.publish(MQTTPublishPacket(topic: "req/x", payload: ByteBuffer(string: "?"), qos: .atLeastOnce,
                                                             packetIdentifier: 1, properties: [.responseTopic("r/+")])))
            let packets = try await client.expectClosed()
            guard packets.count == 1, case .disconnect(let disconnect) = packets[0] else { Issue.record("expected one DISCONNECT: \(packets)"); return }
            #expect(disconnect.reasonCode == .protocolError)
            #expect(disconnect.properties.reasonString == #"response topic "r/+" contains a wildcard"#)
        }
    }

    @Test("publishing into $SYS: 0x87 on 5.0, acknowledged and not routed on 3.1.1, never retained", arguments: MQTTProtocolVersion.allCases)
    func sysPublishRefused(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let watcher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("watch"))
            #expect(try await watcher.subscribe("$SYS/#", qos: .atLeastOnce) == [.grantedQoS1])
            let client = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("sys"))
            let refused: MQTTReasonCode = version == .v5 ? .notAuthorized : .success
            #expect(try await client.publish("$SYS/broker/uptime", "forged", qos: .atLeastOnce, retain: true) == refused)
            #expect(try await client.publish("$SYS", "forged", qos: .exactlyOnce) == refused)
            #expect(try await client.publish("$SYS/x", "forged", qos: .atMostOnce) == .success)
            try await client.expectNothingPending()
            try await watcher.expectNothingPending()
            // A topic that only starts like it is an ordinary topic.
            #expect(try await watcher.subscribe("$SYSTEM/x") == [.grantedQoS0])
            #expect(try await client.publish("$SYSTEM/x", "ok", qos: .atLeastOnce) == .success)
            #expect(try await watcher.receivePublish().payloadString == "ok")

            let late = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("late"))
            #expect(try await late.subscribe("$SYS/broker/uptime") == [.grantedQoS0])
            try await late.expectNothingPending()
        }
    }

    /// A client with a Will delayed 300 s whose client id `connectAgain` connects again with
    /// Clean Start 1 (the first connection dropped, or still open). Clean Start ends the old
    /// session, and a Will still pending when its session ends is published then: so a Will the
    /// new connection did not cancel would reach the watcher at once, before its PINGRESP. No
    /// clock is involved, however slow the machine.
    static func expectNoWill(_ connectAgain: (_ port: Int, _ first: RawMQTTClient, _ id: String) async throws -> RawMQTTClient) async throws {
        try await withBroker { port in
            let topic = unique("will")
            let watcher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("watch"))
            #expect(try await watcher.subscribe(topic) == [.grantedQoS0])
            let id = unique("c")
            let first = try await RawMQTTClient.connected(
                port: port, version: .v5, clientID: id,
                will: MQTTWill(topic: topic, payload: ByteBuffer(string: "must not come"), properties: [.willDelayInterval(300)]),
                properties: [.sessionExpiryInterval(300)])
            let again = try await connectAgain(port, first, id)
            try await watcher.expectNothingPending()
            // The new session (expiry 0) ends with its connection: still nothing.
            try await again.disconnect()
            try await watcher.expectNothingPending()
        }
    }

    @Test("5.0: reconnecting with Clean Start 1 within the Will Delay Interval cancels the will (MQTT-3.1.2-8)")
    func cleanStartCancelsDelayedWill() async throws {
        try await Self.expectNoWill { port, first, id in
            await first.closeAbruptly()
            let back = try await RawMQTTClient.open(port: port, version: .v5)
            #expect(try await back.connect(clientID: id, cleanStart: true).reasonCode == .success)
            return back
        }
    }

    @Test("5.0: a takeover with Clean Start 1 within the Will Delay Interval publishes no will either")
    func takeoverCancelsDelayedWill() async throws {
        try await Self.expectNoWill { port, first, id in
            let second = try await RawMQTTClient.open(port: port, version: .v5)
            #expect(try await second.connect(clientID: id, cleanStart: true).reasonCode == .success)
            #expect(try await first.expectServerDisconnect() == .sessionTakenOver)
            return second
        }
    }

    @Test("a will without delay is still published at once on a takeover", arguments: MQTTProtocolVersion.allCases)
    func takeoverPublishesUndelayedWill(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("will")
            let watcher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("watch"))
            #expect(try await watcher.subscribe(topic) == [.grantedQoS0])
            let id = unique("c")
            let first = try await RawMQTTClient.connected(port: port, version: version, clientID: id,
                                                          will: MQTTWill(topic: topic, payload: ByteBuffer(string: "gone")))
            let second = try await RawMQTTClient.open(port: port, version: version)
            #expect(try await second.connect(clientID: id, cleanStart: true).reasonCode == .success)
            #expect(try await watcher.receivePublish().payloadString == "gone")
            #expect(try await first.expectServerDisconnect() == (version == .v5 ? .sessionTakenOver : nil))
        }
    }
}
