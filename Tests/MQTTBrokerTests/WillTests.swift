import MQTTCore
import NIOCore
import Testing

/// Last Will and Testament (MQTT 5 §3.1.2.5, §3.1.3.2; Mosquitto test/broker/07-will-*).
@Suite("will", .timeLimit(.minutes(1)))
struct WillTests {
    static func will(_ topic: String, _ payload: String = "gone", qos: MQTTQoS = .atLeastOnce, retain: Bool = false,
                     properties: MQTTProperties = []) -> MQTTWill {
        MQTTWill(topic: topic, payload: ByteBuffer(string: payload), qos: qos, retain: retain, properties: properties)
    }

    @Test("published when the connection ends without DISCONNECT; a retained will is stored",
          arguments: MQTTProtocolVersion.allCases)
    func abruptClose(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("will")
            let watcher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("watch"))
            try await watcher.subscribe(topic, qos: .atLeastOnce)
            let client = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("dies"),
                                                           will: Self.will(topic, retain: true))
            await client.closeAbruptly()

            let will = try await watcher.receivePublish()
            #expect(will.topic == topic)
            #expect(will.payloadString == "gone")
            #expect(will.qos == .atLeastOnce)
            try await watcher.acknowledge(will)
            try await watcher.expectNothingPending()

            let late = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("late"))
            try await late.subscribe(topic)
            let retained = try await late.receivePublish()
            #expect(retained.payloadString == "gone" && retained.retain)
        }
    }

    @Test("not published after a normal DISCONNECT", arguments: MQTTProtocolVersion.allCases)
    func notOnDisconnect(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("nowill")
            let watcher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("watch"))
            try await watcher.subscribe(topic)
            let id = unique("polite")
            let client = try await RawMQTTClient.connected(port: port, version: version, clientID: id, will: Self.will(topic))
            try await client.disconnect()
            // Barrier: a new connection with the same client id makes the broker finish with the
            // old one first (its close or a takeover); a will would be routed before this CONNACK.
            _ = try await RawMQTTClient.connected(port: port, version: version, clientID: id)
            try await watcher.expectNothingPending()
        }
    }

    @Test("published when another connection takes the client id over", arguments: MQTTProtocolVersion.allCases)
    func takeover(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("willtakeover")
            let id = unique("twin")
            let watcher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("watch"))
            try await watcher.subscribe(topic)
            let old = try await RawMQTTClient.connected(port: port, version: version, clientID: id, will: Self.will(topic, "taken"))
            _ = try await RawMQTTClient.connected(port: port, version: version, clientID: id)
            try await old.expectClosed()
            #expect(try await watcher.receivePublish().payloadString == "taken")
        }
    }

    @Test("5.0: will properties are forwarded; a will's Message Expiry counts down")
    func willProperties() async throws {
        try await withBroker { port in
            let topic = unique("willprops")
            let watcher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("watch"))
            try await watcher.subscribe(topic)
            let properties: MQTTProperties = [.contentType("text/plain"), .responseTopic("r/t"), .userProperty("why", "crash"),
                                              .messageExpiryInterval(60)]
            let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("c"),
                                                           will: Self.will(topic, "props", properties: properties))
            await client.closeAbruptly()
            let will = try await watcher.receivePublish()
            #expect(will.properties.contentType == "text/plain")
            #expect(will.properties.responseTopic == "r/t")
            #expect(will.properties.userProperties.map { "\($0.name)=\($0.value)" } == ["why=crash"])
            #expect(will.properties.messageExpiryInterval == 60)
            #expect(will.properties.willDelayInterval == nil)
        }
    }

    @Test("5.0: DISCONNECT with 0x04 Disconnect with Will Message publishes the will")
    func disconnectWithWill() async throws {
        try await withBroker { port in
            let topic = unique("will04")
            let watcher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("watch"))
            try await watcher.subscribe(topic)
            let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("c"), will: Self.will(topic, "04"))
            try await client.disconnect(.disconnectWithWillMessage)
            #expect(try await watcher.receivePublish().payloadString == "04")
        }
    }

    @Test("published when the broker closes the connection for a protocol error", arguments: MQTTProtocolVersion.allCases)
    func protocolError(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("willerr")
            let watcher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("watch"))
            try await watcher.subscribe(topic)
            let id = unique("bad")
            let client = try await RawMQTTClient.connected(port: port, version: version, clientID: id, will: Self.will(topic, "err"))
            try await client.send(.connect(MQTTConnectPacket(protocolVersion: version, clientIdentifier: id)))
            try await client.expectClosed()
            #expect(try await watcher.receivePublish().payloadString == "err")
        }
    }

    @Test("5.0 Will Delay Interval: the will waits for its delay")
    func willDelay() async throws {
        try await withBroker { port in
            let topic = unique("delay")
            let watcher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("watch"))
            try await watcher.subscribe(topic)
            let client = try await RawMQTTClient.connected(
                port: port, version: .v5, clientID: unique("c"),
                will: Self.will(topic, "delayed", properties: [.willDelayInterval(1)]), properties: [.sessionExpiryInterval(30)])
            let closed = ContinuousClock.now
            await client.closeAbruptly()
            #expect(try await watcher.receivePublish(timeout: .seconds(15)).payloadString == "delayed")
            #expect(ContinuousClock.now - closed >= .milliseconds(900), "published before its 1 s delay")
        }
    }

    @Test("5.0: a session expiring before the will delay publishes the will when it ends")
    func sessionExpiryShorterThanDelay() async throws {
        try await withBroker { port in
            let topic = unique("expirywill")
            let watcher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("watch"))
            try await watcher.subscribe(topic)
            let client = try await RawMQTTClient.connected(
                port: port, version: .v5, clientID: unique("c"),
                will: Self.will(topic, "at expiry", properties: [.willDelayInterval(300)]), properties: [.sessionExpiryInterval(1)])
            let closed = ContinuousClock.now
            await client.closeAbruptly()
            #expect(try await watcher.receivePublish(timeout: .seconds(15)).payloadString == "at expiry")
            #expect(ContinuousClock.now - closed >= .milliseconds(900))
        }
    }

    @Test("5.0: reconnecting within the will delay cancels the will")
    func reconnectCancelsDelayedWill() async throws {
        try await withBroker { port in
            let topic = unique("cancel")
            let id = unique("c")
            let watcher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("watch"))
            try await watcher.subscribe(topic)
            let client = try await RawMQTTClient.connected(
                port: port, version: .v5, clientID: id,
                will: Self.will(topic, "cancelled", properties: [.willDelayInterval(300)]), properties: [.sessionExpiryInterval(300)])
            await client.closeAbruptly()

            let back = try await RawMQTTClient.open(port: port, version: .v5)
            let ack = try await back.connect(clientID: id, cleanStart: false, properties: [.sessionExpiryInterval(300)])
            #expect(ack.sessionPresent)
            // End the session now: a will still pending would be published when it ends.
            try await back.disconnect(properties: [.sessionExpiryInterval(0)])
            let probe = try await RawMQTTClient.open(port: port, version: .v5)
            #expect(try await probe.connect(clientID: id, cleanStart: false).sessionPresent == false)
            try await watcher.expectNothingPending()
        }
    }
}
