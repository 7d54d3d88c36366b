import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// Refusals stay within the limits of the protocol and of the client: a Reason String never
/// makes an acknowledgement impossible to send, nor larger than the client accepts, and a
/// refused QoS 2 message counts against the inbound QoS 2 limit like an accepted one.
@Suite("refusals within limits", .timeLimit(.minutes(1)))
struct RefusalLimitsTests {
    @Test("a SUBACK refusing many long filters is still sent, its Reason String cut to 512 bytes")
    func longReasonStringCut() async throws {
        try await withBroker(settings: .test.with { $0.maxTopicLevels = 8 }) { port in
            let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("long"))
            // Eight filters of 9,000 bytes: quoting them all would take more than a string's 65,535 bytes.
            let filters = (0..<8).map { index in String(repeating: "a/", count: 4_500) + "\(index)" }
            let codes = try await client.subscribe(filters.map { MQTTSubscription(topicFilter: $0) })
            #expect(codes == Array(repeating: .topicFilterInvalid, count: 8))
            try await client.expectNothingPending()

            let id = client.packetID()
            try await client.send(.subscribe(MQTTSubscribePacket(packetIdentifier: id, subscriptions: filters.map { MQTTSubscription(topicFilter: $0) })))
            guard case .suback(let suback) = try await client.receive() else { Issue.record("no SUBACK"); return }
            let reason = try #require(suback.properties.reasonString)
            #expect(reason.utf8.count <= 512 && reason.hasSuffix("…") && reason.hasPrefix("a/a/"))
        }
    }

    @Test("5.0: an acknowledgement whose Reason String would exceed the client's Maximum Packet Size goes without it")
    func reasonStringLeftOutForMaximumPacketSize() async throws {
        try await withBroker(settings: .test.with { $0.maxTopicLevels = 3 }) { port in
            let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("small"),
                                                           properties: [.maximumPacketSize(64)])
            let id = client.packetID()
            try await client.send(.subscribe(MQTTSubscribePacket(packetIdentifier: id, subscriptions: [
                MQTTSubscription(topicFilter: "first/b/c/d"), MQTTSubscription(topicFilter: "second/b/c/d"),
                MQTTSubscription(topicFilter: "ok"),
            ])))
            guard case .suback(let suback) = try await client.receive() else { Issue.record("no SUBACK"); return }
            #expect(suback.reasonCodes == [.topicFilterInvalid, .topicFilterInvalid, .grantedQoS0])
            #expect(suback.properties.reasonString == nil)
            // One refusal alone fits: its reason is kept.
            let one = client.packetID()
            try await client.send(.subscribe(MQTTSubscribePacket(packetIdentifier: one, subscriptions: [MQTTSubscription(topicFilter: "x/b/c/d")])))
            guard case .suback(let single) = try await client.receive() else { Issue.record("no SUBACK"); return }
            #expect(single.properties.reasonString == "x/b/c/d: more than 3 topic levels")
        }
    }

    @Test("3.1.1: refused QoS 2 messages (to $SYS) await their PUBREL within maxAwaitingRel like accepted ones")
    func refusedQoS2WithinAwaitingLimit() async throws {
        try await withBroker(settings: .test.with { $0.maxAwaitingRel = 2 }) { port in
            let client = try await RawMQTTClient.connected(port: port, version: .v311, clientID: unique("q2"))
            for id: UInt16 in [1, 2] {
                try await client.send(.publish(MQTTPublishPacket(topic: "$SYS/x", payload: ByteBuffer(string: "n"), qos: .exactlyOnce, packetIdentifier: id)))
                #expect(try await client.expectAck(.pubrec, id).reasonCode == .success)
            }
            // A resent one is no new message.
            try await client.send(.publish(MQTTPublishPacket(topic: "$SYS/x", payload: ByteBuffer(string: "n"), qos: .exactlyOnce, dup: true, packetIdentifier: 2)))
            #expect(try await client.expectAck(.pubrec, 2).reasonCode == .success)
            try await client.send(.publish(MQTTPublishPacket(topic: "$SYS/x", payload: ByteBuffer(string: "n"), qos: .exactlyOnce, packetIdentifier: 3)))
            #expect(try await client.expectClosed().isEmpty)
        }
    }
}
