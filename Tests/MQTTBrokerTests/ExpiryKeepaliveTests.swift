import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// Message expiry (MQTT 5 §3.3.2.3.3), keepalive and Server Keep Alive (§3.1.2.10, §3.2.2.3.14);
/// Mosquitto test/broker/12-prop-message-expiry-*, 01-connect-keepalive-*.
@Suite("expiry and keepalive", .timeLimit(.minutes(1)))
struct ExpiryKeepaliveTests {
    /// Subscribes `client` to `topic` again (Retain Handling 0) and returns the retained message
    /// sent for it, or nil when none came before the PINGRESP.
    static func retainedNow(_ client: RawMQTTClient, _ topic: String) async throws -> MQTTPublishPacket? {
        try await client.subscribe(topic)
        try await client.send(.pingreq)
        switch try await client.receive() {
        case .pingresp: return nil
        case .publish(let message):
            let next = try await client.receive()
            guard case .pingresp = next else { throw RawClientError.unexpected(next, expected: "PINGRESP") }
            return message
        case let other: throw RawClientError.unexpected(other, expected: "retained PUBLISH or PINGRESP")
        }
    }

    @Test("a retained message with Message Expiry 2 s is not delivered after it expired",
          arguments: MQTTProtocolVersion.allCases)
    func retainedExpiry(subscriberVersion: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("expire")
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            let published = ContinuousClock.now
            try await publisher.publish(topic, "short-lived", retain: true, properties: [.messageExpiryInterval(2)])

            let subscriber = try await RawMQTTClient.connected(port: port, version: subscriberVersion, clientID: unique("sub"))
            let fresh = try await Self.retainedNow(subscriber, topic)
            // The expiry cannot have started before `published`: an answer within 2 s of it must
            // still carry the message. (A machine too loaded to ask in time can only check the rest.)
            if ContinuousClock.now - published < .milliseconds(1900) {
                #expect(fresh != nil, "delivered while it lives")
            }
            if let fresh {
                #expect(fresh.payloadString == "short-lived")
                if subscriberVersion == .v5 { #expect((1...2).contains(fresh.properties.messageExpiryInterval ?? 0)) }
            }

            try await poll(timeout: .seconds(15), interval: .milliseconds(100), "retained message expiry") {
                try await Self.retainedNow(subscriber, topic) == nil ? true : nil
            }
            #expect(ContinuousClock.now - published >= .milliseconds(1900), "gone before its 2 s expiry")
        }
    }

    @Test("5.0: the forwarded Message Expiry Interval is the time left")
    func expiryDecreases() async throws {
        try await withBroker { port in
            let topic = unique("left")
            let live = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("live"))
            try await live.subscribe(topic)
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            let published = ContinuousClock.now
            try await publisher.publish(topic, "m", retain: true, properties: [.messageExpiryInterval(30)])
            #expect(try await live.receivePublish().properties.messageExpiryInterval == 30)

            let later = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("later"))
            let decreased = try await poll(timeout: .seconds(15), interval: .milliseconds(100), "a decreased expiry") { () -> UInt32? in
                guard let interval = try await Self.retainedNow(later, topic)?.properties.messageExpiryInterval else {
                    throw RawClientError(description: "retained message without Message Expiry Interval")
                }
                return interval < 30 ? interval : nil
            }
            // 30 less the whole seconds it waited: 28 or 29 when this ran at once, less when a
            // loaded machine made the wait longer (measured, so the check stays exact).
            let waited = UInt32(clamping: (ContinuousClock.now - published).components.seconds)
            #expect((28 - min(waited, 28)...29).contains(decreased), "\(decreased) s left after \(waited) s")
        }
    }

    @Test("5.0: a queued message that expired while waiting is not delivered")
    func queuedMessageExpires() async throws {
        try await withBroker { port in
            let topic = unique("queue")
            let clock = unique("clock")
            let subscriber = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("sub"),
                                                               properties: [.receiveMaximum(1)])
            try await subscriber.subscribe(topic, qos: .atLeastOnce)
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            try await publisher.publish(topic, "holds the window", qos: .atLeastOnce)
            try await publisher.publish(topic, "expires in the queue", qos: .atLeastOnce, properties: [.messageExpiryInterval(1)])
            // A retained message published after it with the same expiry tells when it has expired.
            try await publisher.publish(clock, "tick", retain: true, properties: [.messageExpiryInterval(1)])

            let first = try await subscriber.receivePublish()
            #expect(first.payloadString == "holds the window")
            let observer = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("observer"))
            try await poll(timeout: .seconds(15), interval: .milliseconds(100), "expiry") { try await Self.retainedNow(observer, clock) == nil ? true : nil }

            try await subscriber.acknowledge(first)
            try await subscriber.expectNothingPending()
        }
    }

    @Test("a client silent for keepalive × 1.5 is disconnected (0x8D on 5.0) and its will published",
          arguments: MQTTProtocolVersion.allCases)
    func keepaliveTimeout(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("ka")
            let watcher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("watch"))
            try await watcher.subscribe(topic)
            let silent = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("silent"), keepAlive: 1,
                                                           will: MQTTWill(topic: topic, payload: ByteBuffer(string: "timed out")))
            let start = ContinuousClock.now  // from the CONNACK: a slow connect on a loaded machine is not keepalive time
            let reason = try await silent.expectServerDisconnect(timeout: .seconds(15))
            let elapsed = ContinuousClock.now - start
            #expect(reason == (version == .v5 ? .keepAliveTimeout : nil))
            #expect(elapsed >= .seconds(1), "disconnected before the keepalive elapsed")
            // Due at 1.5 s; the margin is for a loaded machine (it still tells keepalive from the
            // broker's 60 s defaults or no enforcement).
            #expect(elapsed < .seconds(8))
            #expect(try await watcher.receivePublish().payloadString == "timed out")
        }
    }

    @Test("a client that sends PINGREQ within its keepalive stays connected")
    func keepaliveKeptByPings() async throws {
        try await withBroker { port in
            // Keepalive 3 s: silent for 4.5 s it would be disconnected. Pinging every 250 ms for 5 s
            // leaves a loaded machine (whose test tasks can stall for seconds) 4 s between two pings.
            let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pinger"), keepAlive: 3)
            let until = ContinuousClock.now + .milliseconds(5000)
            while ContinuousClock.now < until {
                try await client.expectNothingPending()  // PINGREQ → PINGRESP, and no DISCONNECT
                // The client's own keepalive timer: not a synchronisation, the next ping proves liveness.
                try await Task.sleep(for: .milliseconds(250))
            }
            try await client.expectNothingPending()
        }
    }

    @Test("5.0: Server Keep Alive caps the client's keepalive and is enforced")
    func serverKeepAlive() async throws {
        try await withBroker(settings: .test.with { $0.maxKeepalive = 1 }) { port in
            let client = try await RawMQTTClient.open(port: port, version: .v5)
            let start = ContinuousClock.now
            let connack = try await client.connect(clientID: unique("capped"), keepAlive: 60)
            #expect(connack.properties.serverKeepAlive == 1)
            #expect(try await client.expectServerDisconnect(timeout: .seconds(15)) == .keepAliveTimeout)
            #expect(ContinuousClock.now - start >= .seconds(1))
        }
    }
}
