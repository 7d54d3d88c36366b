import Logging
import MQTTBroker
@testable import MQTTClient
import MQTTCore
import NIOCore
import TestSupport
import Testing

/// Staying connected, against Junction's broker: keepalive detects a dead connection, reconnects
/// resume sessions without losing or duplicating messages, subscriptions come back when the
/// session did not, publishes wait offline within a bound, servers are tried in turn.
@Suite("client resilience against the Junction broker", .timeLimit(.minutes(2)))
struct ClientResilienceTests {
    static func persistent(port: Int, version: MQTTProtocolVersion, clientID: String = unique("persistent")) -> MQTTClientConfiguration {
        var configuration = MQTTClientConfiguration.test(port: port, version: version, clientID: clientID)
        configuration.cleanStart = version == .v5
        configuration.sessionExpiryInterval = 600
        return configuration
    }

    @Test("keepalive: a silent broker is detected within keepalive + ping timeout, then the client reconnects",
          arguments: BrokerKind.allCases)
    func keepAliveTimeout(broker: BrokerKind) async throws {
        try await withBroker(broker) { port in
            let proxy = try await TestProxy.start(upstreamPort: port)
            defer { Task { await proxy.close() } }
            let events = EventLog()
            var configuration = MQTTClientConfiguration.test(port: proxy.port)
            // Keepalive 2 s: a ping delayed by a loaded machine still reaches Mosquitto within its
            // 3 s allowance before the silence (1 s left it 0.5 s, and it closed first).
            configuration.keepAlive = .seconds(2)
            configuration.pingTimeout = .seconds(1)
            configuration.onEvent = events.handler
            try await MQTTClient.withConnection(configuration, logger: testLogger) { client in
                let start = ContinuousClock.now
                try await proxy.silence()
                try await events.waitForDisconnection(1, timeout: .seconds(15))
                #expect(events.disconnections.first == .keepAliveTimeout)
                // Due after 3–4 s; the margin is for a loaded machine, the bound still tells
                // detection by keepalive from the connect timeout or never.
                #expect(ContinuousClock.now - start < .seconds(9))
                try await events.waitForConnection(2)
                try await client.publish(to: unique("alive"), string: "again", qos: .atLeastOnce)
            }
        }
    }

    @Test("connections cut in the middle of a stream: every message arrives, QoS 2 exactly once",
          arguments: MQTTProtocolVersion.allCases, [MQTTQoS.atLeastOnce, .exactlyOnce])
    func resumeAfterCuts(version: MQTTProtocolVersion, qos: MQTTQoS) async throws {
        try await withBroker { port in
            let proxy = try await TestProxy.start(upstreamPort: port)
            defer { Task { await proxy.close() } }
            let topic = unique("stream")
            let subscriber = MQTTClient(configuration: Self.persistent(port: proxy.port, version: version), logger: testLogger)
            let publisher = MQTTClient(configuration: Self.persistent(port: proxy.port, version: version), logger: testLogger)
            try await subscriber.connect()
            try await publisher.connect()
            let inbox = Inbox()
            let feed = try await subscriber.feed(inbox, [MQTTSubscription(topicFilter: topic, qos: qos)])
            let total = 200
            // Four publishers at once, so several messages are in flight when the cuts come.
            let publishing = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for lane in 0..<4 {
                        group.addTask {
                            for i in stride(from: lane, to: total, by: 4) { try await publisher.publish(to: topic, string: "m\(i)", qos: qos) }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            try await inbox.waitForDistinct(40)
            try await proxy.cut()
            try await inbox.waitForDistinct(120)
            try await proxy.cut()
            try await publishing.value
            try await inbox.waitForDistinct(total)
            // Everything the broker still had to resend comes before a message published last.
            try await publisher.publish(to: topic, string: "end", qos: qos)
            try await inbox.wait("the end marker") { $0.contains { $0.payloadString == "end" } }
            let counts = await inbox.counts
            #expect(counts.count == total + 1)
            if qos == .exactlyOnce {
                #expect(counts.filter { $0.value != 1 }.isEmpty, "duplicates: \(counts.filter { $0.value != 1 })")
            }
            feed.cancel()
            await publisher.disconnect()
            await subscriber.disconnect()
        }
    }

    @Test("an unacknowledged message is delivered again when the session is resumed, an acknowledged one not")
    func unacknowledgedRedelivered() async throws {
        try await withBroker { port in
            let topic = unique("redeliver")
            let configuration = Self.persistent(port: port, version: .v5)
            try await MQTTClient.withConnection(.test(port: port)) { publisher in
                try await MQTTClient.withConnection(configuration) { first in
                    try await first.subscribe(to: [MQTTSubscription(topicFilter: topic, qos: .atLeastOnce)], unsubscribeOnExit: false) { subscription in
                        try await publisher.publish(to: topic, string: "acked", qos: .atLeastOnce)
                        try await publisher.publish(to: topic, string: "not acked", qos: .atLeastOnce)
                        var iterator = subscription.makeAsyncIterator()
                        try await #require(try await iterator.next()).ack()
                        #expect(try await iterator.next()?.payloadString == "not acked")
                    }
                }
                var resumed = configuration
                resumed.cleanStart = false
                try await MQTTClient.withConnection(resumed) { second in
                    let info = try #require(await second.connectionInfo())
                    #expect(info.connAck.sessionPresent)
                    let inbox = Inbox()
                    let task = try await second.feed(inbox, [MQTTSubscription(topicFilter: topic, qos: .atLeastOnce)])
                    try await publisher.publish(to: topic, string: "end", qos: .atLeastOnce)
                    try await inbox.wait("the end marker") { $0.contains { $0.payloadString == "end" } }
                    #expect(await inbox.payloads == ["not acked", "end"])
                    #expect(await inbox.messages.first?.dup == true)
                    task.cancel()
                }
            }
        }
    }

    @Test("the broker lost the session (restarted): subscriptions are restored on the same stream")
    func resubscribeWhenSessionLost() async throws {
        let first = MQTTBroker(listeners: [BrokerListener(host: "127.0.0.1", port: 0)], settings: .clientTest, logger: testLogger)
        let firstPort = try #require(try await first.start().first?.port)
        let proxy = try await TestProxy.start(upstreamPort: firstPort)
        defer { Task { await proxy.close() } }
        let second = MQTTBroker(listeners: [BrokerListener(host: "127.0.0.1", port: 0)], settings: .clientTest, logger: testLogger)
        do {
            let topic = unique("restore")
            let events = EventLog()
            var configuration = Self.persistent(port: proxy.port, version: .v5)
            configuration.onEvent = events.handler
            try await MQTTClient.withConnection(configuration) { client in
                let inbox = Inbox()
                let task = try await client.feed(inbox, [MQTTSubscription(topicFilter: topic, qos: .atLeastOnce)])
                try await client.publish(to: topic, string: "before", qos: .atLeastOnce)
                try await inbox.waitForDistinct(1)
                try await first.shutdown()
                let secondPort = try #require(try await second.start().first?.port)
                // A retained message waits on the new broker: it arrives once the subscription is back.
                try await MQTTClient.withConnection(.test(port: secondPort)) { other in
                    _ = try await other.publish(to: topic, string: "after", qos: .atLeastOnce, retain: true)
                }
                try await proxy.setUpstream(port: secondPort)
                try await events.waitForConnection(2)
                #expect(events.events.contains { if case .connected(_, false) = $0 { true } else { false } })
                try await inbox.waitForDistinct(2)
                #expect(await inbox.payloads == ["before", "after"])
                task.cancel()
            }
        } catch {
            try? await first.shutdown()
            try? await second.shutdown()
            throw error
        }
        try? await first.shutdown()
        try await second.shutdown()
    }

    @Test("offline queue: publishes wait while disconnected up to the limit, one more fails at once; the rest go after the reconnect")
    func offlineQueue() async throws {
        try await withBroker { port in
            let proxy = try await TestProxy.start(upstreamPort: port)
            defer { Task { await proxy.close() } }
            let topic = unique("offline")
            let events = EventLog()
            var configuration = MQTTClientConfiguration.test(port: proxy.port)
            configuration.offlineQueueLimit = 3
            configuration.onEvent = events.handler
            try await MQTTClient.withConnection(.test(port: port)) { observer in
                let inbox = Inbox()
                let task = try await observer.feed(inbox, [MQTTSubscription(topicFilter: topic, qos: .atLeastOnce)])
                try await MQTTClient.withConnection(configuration) { client in
                    try await proxy.setUpstream(port: try LoopbackPort.pick())
                    try await proxy.cut()
                    try await events.waitForDisconnection(1)
                    let waiting = (0..<3).map { i in Task { try await client.publish(to: topic, string: "q\(i)", qos: .atLeastOnce) } }
                    try await poll("three publishes queued") { try await client.sessionSnapshot().queued == 3 ? true : nil }
                    await #expect(throws: MQTTClientError.offlineQueueFull(limit: 3)) {
                        try await client.publish(to: topic, string: "one too many", qos: .atMostOnce)
                    }
                    try await proxy.setUpstream(port: port)
                    for publish in waiting { _ = try await publish.value }
                    try await inbox.waitForDistinct(3)
                    #expect(Set(await inbox.payloads) == ["q0", "q1", "q2"])
                }
                task.cancel()
            }
        }
    }

    @Test("failover: servers are tried in turn, at the first connection and after a loss")
    func failover() async throws {
        try await withBroker { port in
            let dead = try LoopbackPort.pick()
            var configuration = MQTTClientConfiguration.test(port: port)
            configuration.servers = [MQTTServer(host: "127.0.0.1", port: dead), MQTTServer(host: "127.0.0.1", port: port)]
            try await MQTTClient.withConnection(configuration) { client in
                let info = try #require(await client.connectionInfo())
                #expect(info.server.port == port)
            }
            configuration.servers = [MQTTServer(host: "127.0.0.1", port: dead)]
            do {
                try await MQTTClient.withConnection(configuration) { _ in }
                Issue.record("connected to a dead port")
            } catch let error as MQTTClientError {
                guard case .connectionFailed = error else { throw error }
            }

            let a = try await TestProxy.start(upstreamPort: port)
            let b = try await TestProxy.start(upstreamPort: port)
            defer { Task { await a.close(); await b.close() } }
            let events = EventLog()
            configuration.servers = [MQTTServer(host: "127.0.0.1", port: a.port), MQTTServer(host: "127.0.0.1", port: b.port)]
            configuration.onEvent = events.handler
            try await MQTTClient.withConnection(configuration) { client in
                try await a.setUpstream(port: dead)
                try await a.cut()
                try await events.waitForConnection(2)
                let info = try #require(await client.connectionInfo())
                #expect(info.server.port == b.port)
            }
        }
    }

    @Test("startPublish: messages go out in the order started, all before the first acknowledgement, and each gets its own outcome")
    func startPublishPipelines() async throws {
        let server = try await ScriptedServer.start()
        defer { Task { await server.close() } }
        var configuration = MQTTClientConfiguration.test(port: server.port)
        configuration.reconnect = .disabled
        let client = MQTTClient(configuration: configuration)
        async let connected: Void = client.connect()
        guard case .connect = try await server.receive() else { throw TestFailure("expected CONNECT") }
        try await server.send(.connack(MQTTConnAckPacket()))
        try await connected
        let started = (0..<5).map { client.startPublish(to: "pipe/\($0)", payload: ByteBuffer(string: "p\($0)"), qos: .atLeastOnce) }
        var ids: [UInt16] = []
        for index in 0..<5 {
            guard case .publish(let publish) = try await server.receive() else { throw TestFailure("expected PUBLISH \(index)") }
            #expect(publish.topic == "pipe/\(index)" && String(buffer: publish.payload) == "p\(index)")
            ids.append(try #require(publish.packetIdentifier))
        }
        // The third is refused; the others succeed, acknowledged out of order.
        for (index, id) in ids.enumerated().reversed() {
            try await server.send(.puback(MQTTPublishAckPacket(packetIdentifier: id, reasonCode: index == 2 ? .quotaExceeded : .success)))
        }
        for (index, publish) in started.enumerated() {
            do {
                _ = try await publish.result()
                #expect(index != 2)
            } catch {
                #expect(index == 2 && error == .publishFailed(reasonCode: .quotaExceeded, reasonString: nil), "\(error)")
            }
        }
        await client.disconnect()
    }

    @Test("enhanced authentication: the hook answers the broker's challenge and sees its final data")
    func enhancedAuthentication() async throws {
        let server = try await ScriptedServer.start()
        defer { Task { await server.close() } }
        let seen = EventLog()  // reused as a thread-safe record of the final data
        var configuration = MQTTClientConfiguration.test(port: server.port)
        configuration.reconnect = .disabled
        configuration.authentication = MQTTEnhancedAuthentication(
            method: "TEST-CHALLENGE", initialData: ByteBuffer(string: "hello"),
            respond: { challenge, _ in ByteBuffer(string: "answer-" + String(buffer: challenge ?? ByteBuffer())) },
            completed: { data in seen.record(.reconnecting(attempt: data?.readableBytes ?? -1, delay: .zero)) })
        let client = MQTTClient(configuration: configuration)
        async let connected: Void = client.connect()
        guard case .connect(let connect) = try await server.receive() else { throw TestFailure("expected CONNECT") }
        #expect(connect.properties.authenticationMethod == "TEST-CHALLENGE")
        #expect(connect.properties.authenticationData == ByteBuffer(string: "hello"))
        try await server.send(.auth(MQTTAuthPacket(reasonCode: .continueAuthentication, properties: [
            .authenticationMethod("TEST-CHALLENGE"), .authenticationData(ByteBuffer(string: "nonce")),
        ])))
        guard case .auth(let answer) = try await server.receive() else { throw TestFailure("expected AUTH") }
        #expect(answer.reasonCode == .continueAuthentication)
        #expect(answer.properties.authenticationData == ByteBuffer(string: "answer-nonce"))
        try await server.send(.connack(MQTTConnAckPacket(properties: [
            .authenticationMethod("TEST-CHALLENGE"), .authenticationData(ByteBuffer(string: "welcome")),
        ])))
        try await connected
        #expect(seen.events.count == 1)
        await client.disconnect()
        guard case .disconnect = try await server.receive() else { throw TestFailure("expected DISCONNECT") }
    }
}
