@testable import MQTTClient
import MQTTCore
import NIOCore
import TestSupport
import Testing

/// MQTTClient against a real Mosquitto (Debian package), started by each test on a free
/// loopback port with persistence in a temporary directory, and always killed at the end.
@Suite("client against Mosquitto", .timeLimit(.minutes(2)))
struct MosquittoTests {
    /// A persistent session from the first CONNECT on: Mosquitto 2.0 writes a session to its
    /// database only when the CONNECT had Clean Start 0 (also for 5.0 with a session expiry).
    static func persistent(port: Int, version: MQTTProtocolVersion) -> MQTTClientConfiguration {
        var configuration = MQTTClientConfiguration.test(port: port, version: version, clientID: unique("persistent"))
        configuration.cleanStart = false
        configuration.sessionExpiryInterval = 3_600
        return configuration
    }

    @Test("QoS 0/1/2 both ways through Mosquitto", arguments: MQTTProtocolVersion.allCases, MQTTQoS.allCases)
    func qosBothDirections(version: MQTTProtocolVersion, qos: MQTTQoS) async throws {
        try await withTestMosquitto(persistence: .on(autosaveInterval: 1)) { mosquitto in
            let topic = unique("flow")
            try await MQTTClient.withConnection(.test(port: mosquitto.port, version: version)) { a in
                try await MQTTClient.withConnection(.test(port: mosquitto.port, version: version)) { b in
                    let inboxA = Inbox()
                    let inboxB = Inbox()
                    let taskA = try await a.feed(inboxA, [MQTTSubscription(topicFilter: "\(topic)/a", qos: .exactlyOnce)])
                    let taskB = try await b.feed(inboxB, [MQTTSubscription(topicFilter: "\(topic)/b", qos: .exactlyOnce)])
                    for i in 0..<5 {
                        try await a.publish(to: "\(topic)/b", string: "to b \(i)", qos: qos)
                        try await b.publish(to: "\(topic)/a", string: "to a \(i)", qos: qos)
                    }
                    try await inboxA.waitForDistinct(5)
                    try await inboxB.waitForDistinct(5)
                    #expect(await inboxB.payloads == (0..<5).map { "to b \($0)" })
                    #expect(await inboxA.payloads == (0..<5).map { "to a \($0)" })
                    #expect(await inboxA.messages.allSatisfy { $0.qos == qos })
                    taskA.cancel()
                    taskB.cancel()
                }
            }
        }
    }

    @Test("5.0 properties round trip through Mosquitto, with topic aliases and a subscription identifier")
    func propertiesRoundTrip() async throws {
        try await withTestMosquitto(persistence: .on(autosaveInterval: 1)) { mosquitto in
            let topic = unique("props")
            var publisher = MQTTClientConfiguration.test(port: mosquitto.port)
            publisher.useTopicAliases = true
            var subscriber = MQTTClientConfiguration.test(port: mosquitto.port)
            subscriber.topicAliasMaximum = 5
            try await MQTTClient.withConnection(subscriber) { sub in
                let inbox = Inbox()
                let task = try await sub.feed(inbox, [MQTTSubscription(topicFilter: "\(topic)/#", qos: .exactlyOnce)],
                                              properties: [.subscriptionIdentifier(77)])
                try await MQTTClient.withConnection(publisher) { pub in
                    let info = try #require(await pub.connectionInfo())
                    #expect((info.connAck.properties.topicAliasMaximum ?? 0) > 0)
                    let properties: MQTTProperties = [
                        .payloadFormatIndicator(.utf8), .messageExpiryInterval(300), .contentType("text/plain; charset=utf-8"),
                        .responseTopic("\(topic)/reply"), .correlationData(ByteBuffer(bytes: [9, 8, 7])),
                        .userProperty("a", "1"), .userProperty("a", "2"),
                    ]
                    for i in 0..<3 { try await pub.publish(to: "\(topic)/x", string: "p\(i)", qos: .exactlyOnce, properties: properties) }
                }
                try await inbox.waitForDistinct(3)
                for message in await inbox.messages {
                    #expect(message.topic == "\(topic)/x")
                    #expect(message.payloadFormat == .utf8)
                    #expect(message.contentType == "text/plain; charset=utf-8")
                    #expect(message.responseTopic == "\(topic)/reply")
                    #expect(message.correlationData == ByteBuffer(bytes: [9, 8, 7]))
                    #expect(message.userProperties.map(\.value) == ["1", "2"])
                    #expect(message.subscriptionIdentifiers == [77])
                    #expect((message.messageExpiryInterval ?? 0) > 250)
                }
                task.cancel()
            }
        }
    }

    @Test("Mosquitto publishes the will when the connection ends abruptly", arguments: MQTTProtocolVersion.allCases)
    func willOnAbruptClose(version: MQTTProtocolVersion) async throws {
        try await withTestMosquitto(persistence: .on(autosaveInterval: 1)) { mosquitto in
            let proxy = try await TestProxy.start(upstreamPort: mosquitto.port)
            defer { Task { await proxy.close() } }
            let topic = unique("will")
            try await MQTTClient.withConnection(.test(port: mosquitto.port, version: version)) { observer in
                let inbox = Inbox()
                let task = try await observer.feed(inbox, [MQTTSubscription(topicFilter: topic, qos: .exactlyOnce)])
                var configuration = MQTTClientConfiguration.test(port: proxy.port, version: version)
                configuration.reconnect = .disabled
                configuration.will = MQTTWill(topic: topic, payload: ByteBuffer(string: "lost"), qos: .exactlyOnce,
                                              properties: [.contentType("text/plain"), .userProperty("reason", "cut")])
                let client = MQTTClient(configuration: configuration)
                try await client.connect()
                try await proxy.cut()
                try await inbox.waitForDistinct(1)
                let will = try #require(await inbox.messages.first)
                #expect(will.payloadString == "lost")
                if version == .v5 {
                    #expect(will.contentType == "text/plain")
                    #expect(will.userProperties.map(\.value) == ["cut"])
                }
                await client.disconnect()
                task.cancel()
            }
        }
    }

    /// Mosquitto is killed with SIGKILL in the middle of a stream and restarted on the same port
    /// with the same persistence directory; publisher and subscriber reconnect on their own and
    /// resume their sessions. Asserted: every message arrives (QoS 1: at least once), and at
    /// QoS 2 exactly once; every publish call succeeds.
    ///
    /// What Mosquitto guarantees, and how the test stays within it: Mosquitto keeps sessions,
    /// queued messages and in-flight QoS 1/2 state in memory and writes them to its database only
    /// on autosave or SIGUSR1, not before acknowledging. Whatever it acknowledged after its last
    /// save is gone after a SIGKILL (a QoS 1 message PUBACKed but not saved is lost; a QoS 2
    /// message PUBRECed but not saved is lost when the PUBREL finds no state; one released after
    /// the save is delivered again). No client can make up for that, so the kill comes at a
    /// moment whose state Mosquitto has saved (autosave off, SIGUSR1, wait for the new database
    /// file) and nothing Mosquitto acknowledges meanwhile: the stream is paused in a state with
    /// something in flight at every stage the client must resume —
    /// - the subscriber holds 10 delivered messages it has not acknowledged (no PUBACK / PUBREC
    ///   sent): Mosquitto must resend them, the client must not hand them out twice, and the
    ///   acknowledgements the application gives while Mosquitto is down go out on the resend;
    /// - the publisher has 10 messages in flight, held back by a proxy: at QoS 1 their PUBLISH
    ///   never reached Mosquitto (the client resends them with DUP); at QoS 2 Mosquitto PUBRECed
    ///   them and the PUBRELs never reached it (the client resends the PUBRELs with the original
    ///   identifiers, and only then does Mosquitto release the messages);
    /// - 10 more are published while Mosquitto is down (offline queue or resend).
    @Test("SIGKILL in the middle of a stream: sessions resume, nothing lost, QoS 2 exactly once",
          arguments: MQTTProtocolVersion.allCases, [MQTTQoS.atLeastOnce, .exactlyOnce])
    func killedInTheMiddle(version: MQTTProtocolVersion, qos: MQTTQoS) async throws {
        try await withTestMosquitto(persistence: .on(autosaveInterval: 0)) { mosquitto in
            let proxy = try await TestProxy.start(upstreamPort: mosquitto.port)
            defer { Task { await proxy.close() } }
            let topic = unique("kill")
            var subscriberConfiguration = Self.persistent(port: mosquitto.port, version: version)
            subscriberConfiguration.receiveMaximum = 50
            let subscriber = MQTTClient(configuration: subscriberConfiguration, logger: testLogger)
            let publisher = MQTTClient(configuration: Self.persistent(port: proxy.port, version: version), logger: testLogger)
            do {
                try await subscriber.connect()
                try await publisher.connect()
                let inbox = Inbox()
                let feed = try await subscriber.feed(inbox, [MQTTSubscription(topicFilter: topic, qos: qos)])
                defer { feed.cancel() }

                // 1. Ten messages all the way through.
                for i in 0..<10 { try await publisher.publish(to: topic, string: "m\(i)", qos: qos) }
                try await inbox.waitForDistinct(10)
                // 2. Ten the subscriber receives and keeps unacknowledged.
                await inbox.hold()
                for i in 10..<20 { try await publisher.publish(to: topic, string: "m\(i)", qos: qos) }
                try await inbox.waitForDistinct(20)
                // 3. Ten the publisher has in flight: the proxy holds back their PUBLISH (QoS 1) or PUBREL (QoS 2).
                try await proxy.withhold([qos == .exactlyOnce ? .pubrel : .publish])
                let inFlight = Task {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for i in 20..<30 { group.addTask { try await publisher.publish(to: topic, string: "m\(i)", qos: qos) } }
                        try await group.waitForAll()
                    }
                }
                try await poll("10 packets held back") { try await proxy.withheldCount() >= 10 ? true : nil }
                #expect(try await publisher.sessionSnapshot().outbound == 10)
                #expect(await inbox.heldCount == 10)
                // 4. Mosquitto saves this state, then dies without another word.
                try await mosquitto.checkpoint()
                await mosquitto.kill()
                // 5. Meanwhile the application finishes what it holds and publishes more.
                try await inbox.release()
                let whileDown = Task { for i in 30..<40 { try await publisher.publish(to: topic, string: "m\(i)", qos: qos) } }
                try await mosquitto.start()
                try await inFlight.value
                try await whileDown.value
                try await inbox.waitForDistinct(40, timeout: .seconds(20))
                // Anything Mosquitto still had to resend comes before a message published last.
                try await publisher.publish(to: topic, string: "end", qos: qos)
                try await inbox.wait("the end marker") { $0.contains { $0.payloadString == "end" } }
                // Both sessions came back from Mosquitto's database (else nothing here would prove resumption).
                let subscriberInfo = try #require(await subscriber.connectionInfo())
                let publisherInfo = try #require(await publisher.connectionInfo())
                #expect(subscriberInfo.connAck.sessionPresent && publisherInfo.connAck.sessionPresent)
                let counts = await inbox.counts
                #expect(Set(counts.keys) == Set((0..<40).map { "m\($0)" } + ["end"]))
                if qos == .exactlyOnce {
                    #expect(counts.filter { $0.value != 1 }.isEmpty, "delivered more than once: \(counts.filter { $0.value != 1 })")
                }
                // The last QoS 2 exchange (PUBREC → PUBREL → PUBCOMP) may still be under way.
                try await poll("the subscriber finishing every inbound message") { try await subscriber.sessionSnapshot().inbound == 0 ? true : nil }
            } catch {
                // Clients left connected would go on reconnecting (and publishing) after the test.
                await publisher.disconnect()
                await subscriber.disconnect()
                throw error
            }
            await publisher.disconnect()
            await subscriber.disconnect()
        }
    }
}
