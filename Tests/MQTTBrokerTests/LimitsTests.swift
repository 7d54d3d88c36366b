import Foundation
import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// Limits of the broker definition's `mqtt` section: connections, rates, subscriptions.
@Suite("limits", .timeLimit(.minutes(1)))
struct LimitsTests {
    @Test("maxConnections: one client too many gets CONNACK 0x89 Server busy (0x03 on 3.1.1)", arguments: MQTTProtocolVersion.allCases)
    func maxConnections(version: MQTTProtocolVersion) async throws {
        try await withBroker(settings: .test.with { $0.maxConnections = 2 }) { port in
            let first = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("a"))
            let second = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("b"))
            let third = try await RawMQTTClient.open(port: port, version: version)
            let code = try await third.connect(clientID: unique("c")).reasonCode
            #expect(code == (version == .v5 ? .serverBusy : .serverUnavailable))
            try await third.expectClosed()
            try await first.expectNothingPending()
            try await second.disconnect()
            _ = try await poll(timeout: .seconds(15), interval: .milliseconds(100), "a slot to free up") { () -> Bool? in
                let client = try await RawMQTTClient.open(port: port, version: version)
                return try await client.connect(clientID: unique("d")).reasonCode == .success ? true : nil
            }
        }
    }

    @Test("maxConnectionRate per address: CONNECTs beyond it get 0x9F (0x03 on 3.1.1); another address still connects",
          arguments: MQTTProtocolVersion.allCases)
    func connectionRate(version: MQTTProtocolVersion) async throws {
        try await withBroker(settings: .test.with { $0.maxConnectionRate = BrokerRate(count: 3, per: .seconds(60)) }) { port in
            for _ in 0..<3 {
                _ = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("ok"))
            }
            let (_, code) = try await RawMQTTClient.login(port, version, nil, nil)
            #expect(code == (version == .v5 ? .connectionRateExceeded : .serverUnavailable))
            #expect(try await RawMQTTClient.loginCode(port, version, nil, nil, source: "127.0.0.2") == .success)
        }
    }

    @Test("maxMessageRate: a client publishing faster is disconnected (0x96 on 5.0; closed on 3.1.1) and its excess QoS 1 message is not acknowledged",
          arguments: MQTTProtocolVersion.allCases)
    func messageRate(version: MQTTProtocolVersion) async throws {
        try await withBroker(settings: .test.with { $0.maxMessageRate = BrokerRate(count: 5, per: .seconds(60)) }) { port in
            let subscriber = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("sub"))
            try await subscriber.subscribe("rate/#", qos: .atLeastOnce)
            let calm = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("calm"))
            for index in 0..<5 { #expect(try await calm.publish("rate/calm", "\(index)", qos: .atLeastOnce) != .unspecifiedError) }
            for _ in 0..<5 { try await subscriber.acknowledge(try await subscriber.receivePublish()) }

            let flood = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("flood"))
            try await flood.sendBatch((1...8).map { id in
                .publish(MQTTPublishPacket(topic: "rate/flood", payload: ByteBuffer(string: "\(id)"), qos: .atLeastOnce, packetIdentifier: UInt16(id)))
            })
            let packets = try await flood.expectClosed()
            let acks = packets.filter { if case .puback = $0 { true } else { false } }
            #expect(acks.count == 5)
            if version == .v5 {
                guard case .disconnect(let disconnect) = packets.last else { Issue.record("no DISCONNECT: \(packets.map(\.brief))"); return }
                #expect(disconnect.reasonCode == .messageRateTooHigh)
            }
            try await calm.expectNothingPending()
        }
    }

    @Test("maxSubscriptions: filters beyond it get 0x97 Quota exceeded (0x80 on 3.1.1); replacing one still works",
          arguments: MQTTProtocolVersion.allCases)
    func subscriptionLimit(version: MQTTProtocolVersion) async throws {
        try await withBroker(settings: .test.with { $0.maxSubscriptions = 2 }) { port in
            let client = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("subs"))
            let codes = try await client.subscribe([MQTTSubscription(topicFilter: "a"), MQTTSubscription(topicFilter: "b"),
                                                    MQTTSubscription(topicFilter: "c")])
            #expect(codes == [.grantedQoS0, .grantedQoS0, version == .v5 ? .quotaExceeded : .unspecifiedError])
            #expect(try await client.subscribe("a", qos: .atLeastOnce) == [.grantedQoS1])
            #expect(try await client.subscribe("d") == [version == .v5 ? .quotaExceeded : .unspecifiedError])
            try await client.send(.unsubscribe(MQTTUnsubscribePacket(packetIdentifier: client.packetID(), topicFilters: ["b"])))
            guard case .unsuback = try await client.receive() else { Issue.record("no UNSUBACK"); return }
            #expect(try await client.subscribe("d") == [.grantedQoS0])
        }
    }
}
