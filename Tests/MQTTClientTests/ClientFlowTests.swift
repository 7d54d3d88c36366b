import MQTTBroker
import MQTTClient
import MQTTCore
import NIOCore
import Testing

/// MQTTClient against Junction's own broker (in process, port 0): QoS flows both ways, 5.0
/// properties, will, topic aliases, packet size and Receive Maximum limits.
@Suite("client flows against the Junction broker", .timeLimit(.minutes(2)))
struct ClientFlowTests {
    @Test("QoS 0/1/2 from one client to another and back", arguments: MQTTProtocolVersion.allCases, MQTTQoS.allCases)
    func qosBothDirections(version: MQTTProtocolVersion, qos: MQTTQoS) async throws {
        try await withBroker { port in
            let topic = unique("flow")
            try await MQTTClient.withConnection(.test(port: port, version: version)) { a in
                try await MQTTClient.withConnection(.test(port: port, version: version)) { b in
                    let inboxA = Inbox()
                    let inboxB = Inbox()
                    let taskA = try await a.feed(inboxA, [MQTTSubscription(topicFilter: "\(topic)/to-a", qos: .exactlyOnce)])
                    let taskB = try await b.feed(inboxB, [MQTTSubscription(topicFilter: "\(topic)/to-b", qos: qos)])
                    for i in 0..<5 {
                        let result = try await a.publish(to: "\(topic)/to-b", string: "a\(i)", qos: qos)
                        #expect(result.packetIdentifier == nil || qos != .atMostOnce)
                        try await b.publish(to: "\(topic)/to-a", string: "b\(i)", qos: qos)
                    }
                    try await inboxB.waitForDistinct(5)
                    try await inboxA.waitForDistinct(5)
                    #expect(await inboxB.payloads == (0..<5).map { "a\($0)" })
                    #expect(await inboxA.payloads == (0..<5).map { "b\($0)" })
                    #expect(await inboxA.messages.allSatisfy { $0.qos == qos })
                    taskA.cancel()
                    taskB.cancel()
                }
            }
        }
    }

    @Test("5.0 properties travel both ways: publish properties, subscription identifiers, CONNACK information")
    func propertiesRoundTrip() async throws {
        try await withBroker { port in
            let topic = unique("props")
            try await MQTTClient.withConnection(.test(port: port)) { client in
                let info = try #require(await client.connectionInfo())
                #expect(info.connAck.properties.receiveMaximum == 100)
                #expect(info.connAck.properties.topicAliasMaximum == 10)
                let inbox = Inbox()
                let task = try await client.feed(inbox, [MQTTSubscription(topicFilter: "\(topic)/#", qos: .atLeastOnce)],
                                                 properties: [.subscriptionIdentifier(42), .userProperty("sub", "1")])
                let sent: MQTTProperties = [
                    .payloadFormatIndicator(.utf8), .messageExpiryInterval(120), .contentType("application/json"),
                    .responseTopic("\(topic)/reply"), .correlationData(ByteBuffer(bytes: [0, 1, 2, 255])),
                    .userProperty("k", "v1"), .userProperty("k", "v2"), .userProperty("other", "x"),
                ]
                try await client.publish(to: "\(topic)/a", string: "{}", qos: .atLeastOnce, properties: sent)
                try await inbox.waitForDistinct(1)
                let message = try #require(await inbox.messages.first)
                #expect(message.payloadFormat == .utf8)
                #expect(message.contentType == "application/json")
                #expect(message.responseTopic == "\(topic)/reply")
                #expect(message.correlationData == ByteBuffer(bytes: [0, 1, 2, 255]))
                #expect(message.userProperties.map { "\($0.name)=\($0.value)" } == ["k=v1", "k=v2", "other=x"])
                #expect(message.subscriptionIdentifiers == [42])
                #expect((message.messageExpiryInterval ?? 0) > 100)
                task.cancel()
            }
        }
    }

    @Test("overlapping subscriptions each get the message; the broker is acknowledged once both acknowledged")
    func overlappingSubscriptions() async throws {
        try await withBroker { port in
            let topic = unique("overlap")
            try await MQTTClient.withConnection(.test(port: port)) { client in
                let wide = Inbox()
                let narrow = Inbox()
                let t1 = try await client.feed(wide, [MQTTSubscription(topicFilter: "\(topic)/#", qos: .atLeastOnce)])
                let t2 = try await client.feed(narrow, [MQTTSubscription(topicFilter: "\(topic)/x", qos: .atLeastOnce)])
                try await client.publish(to: "\(topic)/x", string: "both", qos: .atLeastOnce)
                try await client.publish(to: "\(topic)/y", string: "wide only", qos: .atLeastOnce)
                try await wide.waitForDistinct(2)
                try await narrow.waitForDistinct(1)
                #expect(await wide.payloads == ["both", "wide only"])
                #expect(await narrow.payloads == ["both"])
                t1.cancel()
                t2.cancel()
            }
        }
    }

    @Test("subscription options: No Local keeps the client's own messages away, Retain As Published keeps RETAIN",
          arguments: BrokerKind.allCases)
    func subscriptionOptions(broker: BrokerKind) async throws {
        try await withBroker(broker) { port in
            let topic = unique("options")
            try await MQTTClient.withConnection(.test(port: port)) { client in
                try await client.publish(to: "\(topic)/kept", string: "retained", qos: .atLeastOnce, retain: true)
                let inbox = Inbox()
                let task = try await client.feed(inbox, [
                    MQTTSubscription(topicFilter: "\(topic)/own", qos: .atLeastOnce, noLocal: true),
                    MQTTSubscription(topicFilter: "\(topic)/kept", qos: .atLeastOnce, retainAsPublished: true,
                                     retainHandling: .doNotSend),
                ])
                try await client.publish(to: "\(topic)/own", string: "mine", qos: .atLeastOnce)
                try await client.publish(to: "\(topic)/kept", string: "again", qos: .atLeastOnce, retain: true)
                try await inbox.waitForDistinct(1)
                _ = try await MQTTClient.withConnection(.test(port: port)) { other in
                    try await other.publish(to: "\(topic)/own", string: "theirs", qos: .atLeastOnce)
                }
                try await inbox.waitForDistinct(2)
                let messages = await inbox.messages
                #expect(messages.map(\.payloadString) == ["again", "theirs"])
                #expect(messages.first?.retain == true)
                task.cancel()
            }
        }
    }

    @Test("the will is published when the connection ends abruptly, with its 5.0 properties", arguments: MQTTProtocolVersion.allCases)
    func willOnAbruptClose(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let proxy = try await TestProxy.start(upstreamPort: port)
            defer { Task { await proxy.close() } }
            let topic = unique("will")
            try await MQTTClient.withConnection(.test(port: port, version: version)) { observer in
                let inbox = Inbox()
                let task = try await observer.feed(inbox, [MQTTSubscription(topicFilter: topic, qos: .atLeastOnce)])
                var configuration = MQTTClientConfiguration.test(port: proxy.port, version: version)
                configuration.reconnect = .disabled
                configuration.will = MQTTWill(topic: topic, payload: ByteBuffer(string: "gone"), qos: .atLeastOnce,
                                              properties: [.contentType("text/plain"), .userProperty("why", "cut")])
                let mortal = MQTTClient(configuration: configuration, logger: testLogger)
                try await mortal.connect()
                try await proxy.cut()
                try await inbox.waitForDistinct(1)
                let will = try #require(await inbox.messages.first)
                #expect(will.payloadString == "gone")
                if version == .v5 {
                    #expect(will.contentType == "text/plain")
                    #expect(will.userProperties.map(\.value) == ["cut"])
                }
                await mortal.disconnect()
                task.cancel()
            }
        }
    }

    @Test("DISCONNECT with 0x04 asks a 5.0 broker for the will; a normal DISCONNECT does not send it")
    func disconnectWithWill() async throws {
        try await withBroker { port in
            let topic = unique("will")
            try await MQTTClient.withConnection(.test(port: port)) { observer in
                let inbox = Inbox()
                let task = try await observer.feed(inbox, [MQTTSubscription(topicFilter: "\(topic)/#", qos: .atLeastOnce)])
                for (name, code) in [("normal", MQTTReasonCode.normalDisconnection), ("with-will", .disconnectWithWillMessage)] {
                    var configuration = MQTTClientConfiguration.test(port: port)
                    configuration.will = MQTTWill(topic: "\(topic)/\(name)", payload: ByteBuffer(string: name), qos: .atLeastOnce)
                    let client = MQTTClient(configuration: configuration)
                    try await client.connect()
                    await client.disconnect(reasonCode: code)
                }
                try await observer.publish(to: "\(topic)/end", string: "end", qos: .atLeastOnce)
                try await inbox.wait("the marker") { $0.contains { $0.payloadString == "end" } }
                #expect(await inbox.payloads == ["with-will", "end"])
                task.cancel()
            }
        }
    }

    @Test("topic aliases both ways: the publisher sends aliases, the subscriber resolves the broker's")
    func topicAliases() async throws {
        try await withBroker { port in
            let topic = unique("alias/a/rather/long/topic/name")
            var subscriber = MQTTClientConfiguration.test(port: port)
            subscriber.topicAliasMaximum = 4
            var publisher = MQTTClientConfiguration.test(port: port)
            publisher.useTopicAliases = true
            try await MQTTClient.withConnection(subscriber) { sub in
                let inbox = Inbox()
                let task = try await sub.feed(inbox, [MQTTSubscription(topicFilter: topic, qos: .atLeastOnce)])
                try await MQTTClient.withConnection(publisher) { pub in
                    for i in 0..<4 { try await pub.publish(to: topic, string: "\(i)", qos: i % 2 == 0 ? .atMostOnce : .atLeastOnce) }
                }
                try await inbox.waitForDistinct(4)
                #expect(await inbox.messages.allSatisfy { $0.topic == topic })
                #expect(await inbox.messages.contains { $0.properties.topicAlias != nil }, "the broker used aliases")
                task.cancel()
            }
        }
    }

    @Test("Maximum Packet Size: too large a publish fails before sending; the broker respects the client's")
    func maximumPacketSize() async throws {
        var settings = BrokerSettings.clientTest
        settings.maxPacketSize = 1_000
        try await withBroker(settings: settings) { port in
            let topic = unique("size")
            var small = MQTTClientConfiguration.test(port: port)
            small.maximumPacketSize = 300
            try await MQTTClient.withConnection(small) { subscriber in
                let inbox = Inbox()
                let task = try await subscriber.feed(inbox, [MQTTSubscription(topicFilter: topic, qos: .atLeastOnce)])
                try await MQTTClient.withConnection(.test(port: port)) { publisher in
                    await #expect(throws: MQTTClientError.packetTooLarge(size: 2_008 + topic.utf8.count, maximum: 1_000)) {
                        try await publisher.publish(to: topic, payload: ByteBuffer(repeating: 1, count: 2_000), qos: .atLeastOnce)
                    }
                    try await publisher.publish(to: topic, payload: ByteBuffer(repeating: 2, count: 500), qos: .atLeastOnce)
                    try await publisher.publish(to: topic, string: "small", qos: .atLeastOnce)
                }
                try await inbox.wait("the small message") { $0.contains { $0.payloadString == "small" } }
                #expect(await inbox.payloads == ["small"], "the 500-byte message exceeds the subscriber's 300 and is not sent")
                #expect(await subscriber.isConnected)
                task.cancel()
            }
        }
    }

    @Test("Receive Maximum is honoured: 60 concurrent QoS 2 publishes against a window of 3 all complete")
    func receiveMaximum() async throws {
        var settings = BrokerSettings.clientTest
        settings.maxAwaitingRel = 3
        try await withBroker(settings: settings) { port in
            let topic = unique("window")
            let events = EventLog()
            var configuration = MQTTClientConfiguration.test(port: port)
            configuration.onEvent = events.handler
            try await MQTTClient.withConnection(configuration) { client in
                let info = try #require(await client.connectionInfo())
                #expect(info.connAck.properties.receiveMaximum == 3)
                try await withThrowingTaskGroup(of: MQTTPublishResult.self) { group in
                    for i in 0..<60 { group.addTask { try await client.publish(to: topic, string: "\(i)", qos: .exactlyOnce) } }
                    try await group.waitForAll()
                }
                #expect(events.disconnections.isEmpty, "exceeding the window would have ended the connection with 0x93")
            }
        }
    }

    @Test("refusals are typed with the broker's reason code: SUBACK 0x87, PUBACK 0x87, CONNACK refused")
    func typedRefusals() async throws {
        var settings = BrokerSettings.clientTest
        settings.acl = [
            BrokerACLRule(.deny, [.subscribe, .publish], topic: "secret/#"),
            BrokerACLRule(.allow, .all, topic: "#"),
        ]
        try await withBroker(settings: settings) { port in
            try await MQTTClient.withConnection(.test(port: port)) { client in
                await #expect(throws: MQTTClientError.subscribeFailed(topicFilter: "secret/x", reasonCode: .notAuthorized,
                                                                 reasonString: "secret/x: not authorized")) {
                    try await client.subscribe(to: [MQTTSubscription(topicFilter: "secret/x")]) { _ in }
                }
                do throws(MQTTClientError) {
                    try await client.publish(to: "secret/y", string: "x", qos: .atLeastOnce)
                    Issue.record("publish to a denied topic succeeded")
                } catch {
                    #expect(error.reasonCode == .notAuthorized)
                }
                await #expect(throws: MQTTClientError.invalidTopicName("a/#")) { try await client.publish(to: "a/#", string: "x") }
            }
            var v311 = MQTTClientConfiguration.test(port: port, version: .v311, clientID: "")
            v311.cleanStart = false
            await #expect(throws: MQTTClientError.connectionRefused(reasonCode: .clientIdentifierNotValid, reasonString: nil)) {
                try await MQTTClient.withConnection(v311) { _ in }
            }
        }
    }
}
