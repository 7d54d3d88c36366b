import MQTTCore
import NIOCore
import Testing

/// Topic aliases in both directions (MQTT 5 §3.3.2.3.4; Mosquitto test/broker/13-topic-alias-*).
@Suite("topic aliases", .timeLimit(.minutes(1)))
struct TopicAliasTests {
    @Test("client → broker: an alias set with a topic resolves later PUBLISHes with an empty topic; it can be remapped")
    func inboundAlias() async throws {
        try await withBroker { port in
            let base = unique("alias")
            let subscriber = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("sub"))
            try await subscriber.subscribe(base + "/#")
            let publisher = try await RawMQTTClient.open(port: port, version: .v5)
            let connack = try await publisher.connect(clientID: unique("pub"))
            #expect(connack.properties.topicAliasMaximum == 10)

            try await publisher.publish(base + "/a", "1", properties: [.topicAlias(1)])
            try await publisher.publish("", "2", properties: [.topicAlias(1)])
            try await publisher.publish(base + "/b", "3", qos: .atLeastOnce, properties: [.topicAlias(1)])
            try await publisher.publish("", "4", qos: .exactlyOnce, properties: [.topicAlias(1)])

            var received: [String] = []
            for _ in 0..<4 {
                let message = try await subscriber.receivePublish()
                received.append("\(message.topic)=\(message.payloadString)")
                #expect(message.properties.topicAlias == nil, "an inbound alias is not forwarded")
            }
            #expect(received == ["\(base)/a=1", "\(base)/a=2", "\(base)/b=3", "\(base)/b=4"])
        }
    }

    @Test("client → broker: an alias above the Topic Alias Maximum gets DISCONNECT 0x94")
    func aliasAboveMaximum() async throws {
        try await withBroker { port in
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            try await publisher.send(.publish(MQTTPublishPacket(topic: "alias/t", payload: ByteBuffer(string: "x"),
                                                                properties: [.topicAlias(11)])))
            #expect(try await publisher.expectServerDisconnect() == .topicAliasInvalid)
        }
    }

    @Test("client → broker: with Topic Alias Maximum 0 any alias gets DISCONNECT 0x94")
    func aliasNotAllowed() async throws {
        try await withBroker(settings: .test.with { $0.topicAliasMaximum = 0 }) { port in
            let publisher = try await RawMQTTClient.open(port: port, version: .v5)
            let connack = try await publisher.connect(clientID: unique("pub"))
            #expect((connack.properties.topicAliasMaximum ?? 0) == 0)
            try await publisher.send(.publish(MQTTPublishPacket(topic: "alias/t", payload: ByteBuffer(string: "x"),
                                                                properties: [.topicAlias(1)])))
            #expect(try await publisher.expectServerDisconnect() == .topicAliasInvalid)
        }
    }

    @Test("client → broker: an empty topic with an alias never set is a protocol error (0x82)")
    func unknownAlias() async throws {
        try await withBroker { port in
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            try await publisher.send(.publish(MQTTPublishPacket(topic: "", payload: ByteBuffer(string: "x"),
                                                                properties: [.topicAlias(3)])))
            #expect(try await publisher.expectServerDisconnect() == .protocolError)
        }
    }

    @Test("broker → client: aliases are used when the client sets a Topic Alias Maximum, never above it",
          arguments: [UInt16(1), 5])
    func outboundAliases(maximum: UInt16) async throws {
        try await withBroker { port in
            let base = unique("out")
            let subscriber = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("sub"),
                                                               properties: [.topicAliasMaximum(maximum)])
            try await subscriber.subscribe(base + "/+")
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            let topics = ["a", "a", "b", "a", "b", "b"].map { base + "/" + $0 }
            for (n, topic) in topics.enumerated() { try await publisher.publish(topic, "\(n)") }

            var aliases: [UInt16: String] = [:]
            var usedEmptyTopic = false
            for (n, topic) in topics.enumerated() {
                let message = try await subscriber.receivePublish()
                #expect(message.payloadString == "\(n)")
                var resolved = message.topic
                if let alias = message.properties.topicAlias {
                    #expect(alias >= 1 && alias <= maximum, "alias \(alias) above the client's maximum \(maximum)")
                    if message.topic.isEmpty {
                        usedEmptyTopic = true
                        resolved = aliases[alias] ?? "<alias \(alias) never set>"
                    } else {
                        aliases[alias] = message.topic
                    }
                }
                #expect(resolved == topic)
            }
            #expect(usedEmptyTopic, "a repeated topic should travel as an alias with an empty topic name")
        }
    }

    @Test("broker → client: no alias for a client that did not set a Topic Alias Maximum", arguments: MQTTProtocolVersion.allCases)
    func noOutboundAliases(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let topic = unique("noalias")
            let subscriber = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("sub"))
            try await subscriber.subscribe(topic)
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            for _ in 0..<3 { try await publisher.publish(topic, "x") }
            for _ in 0..<3 {
                let message = try await subscriber.receivePublish()
                #expect(message.topic == topic)
                #expect(message.properties.topicAlias == nil)
            }
        }
    }
}
