@testable import MQTTClient
import MQTTCore
import NIOCore
import Testing

/// The client's protocol state machine, without I/O: each event in, the actions out.
@Suite("ClientSessionState")
struct ClientSessionStateTests {
    typealias State = ClientSessionState

    static func state(_ version: MQTTProtocolVersion = .v5, change: (inout State.Settings) -> Void = { _ in }) -> State {
        var settings = State.Settings(version: version)
        change(&settings)
        return State(settings: settings)
    }

    static func message(_ topic: String = "t", _ text: String = "m", qos: MQTTQoS = .atLeastOnce) -> MQTTPublishPacket {
        MQTTPublishPacket(topic: topic, payload: ByteBuffer(string: text), qos: qos)
    }

    static func limits(receiveMaximum: Int = 65_535, change: (inout ServerLimits) -> Void = { _ in }) -> ServerLimits {
        var limits = ServerLimits()
        limits.receiveMaximum = receiveMaximum
        change(&limits)
        return limits
    }

    /// The packets among `actions`.
    static func sent(_ actions: [ClientAction]) -> [MQTTPacket] {
        actions.compactMap { if case .send(let packet) = $0 { packet } else { nil } }
    }

    static func published(_ actions: [ClientAction]) -> [MQTTPublishPacket] {
        sent(actions).compactMap { if case .publish(let p) = $0 { p } else { nil } }
    }

    static func completions(_ actions: [ClientAction]) -> [OperationID: Result<MQTTPublishResult, MQTTClientError>] {
        var result: [OperationID: Result<MQTTPublishResult, MQTTClientError>] = [:]
        for action in actions { if case .completePublish(let op, let r) = action { result[op] = r } }
        return result
    }

    static func ack(_ id: UInt16, _ code: MQTTReasonCode = .success) -> MQTTPublishAckPacket {
        MQTTPublishAckPacket(packetIdentifier: id, reasonCode: code)
    }

    // MARK: Outbound

    @Test("QoS 0 is sent and completed at once; QoS 1 completes on PUBACK with its reason code")
    func qos0AndQoS1() {
        var state = Self.state()
        _ = state.connectionEstablished(sessionPresent: false, limits: Self.limits())
        let qos0 = state.publish(Self.message(qos: .atMostOnce), operation: 1)
        #expect(Self.published(qos0).count == 1)
        #expect(Self.completions(qos0)[1] == .success(MQTTPublishResult()))

        let qos1 = state.publish(Self.message(), operation: 2)
        let packet = try! #require(Self.published(qos1).first)
        #expect(packet.packetIdentifier == 1 && !packet.dup)
        #expect(Self.completions(qos1).isEmpty)
        let done = state.receivedPubAck(Self.ack(1, .noMatchingSubscribers))
        #expect(Self.completions(done)[2] == .success(MQTTPublishResult(packetIdentifier: 1, reasonCode: .noMatchingSubscribers)))
        #expect(state.outbound.isEmpty && state.inflightCount == 0)
    }

    @Test("QoS 2: PUBREC → PUBREL, PUBCOMP completes; a failed PUBREC ends the flow with the broker's reason")
    func qos2() {
        var state = Self.state()
        _ = state.connectionEstablished(sessionPresent: false, limits: Self.limits())
        _ = state.publish(Self.message(qos: .exactlyOnce), operation: 1)
        let rec = state.receivedPubRec(Self.ack(1))
        #expect(Self.sent(rec) == [.pubrel(Self.ack(1))])
        #expect(Self.sent(state.receivedPubRec(Self.ack(1))) == [.pubrel(Self.ack(1))], "a repeated PUBREC gets PUBREL again")
        let comp = state.receivedPubComp(Self.ack(1))
        #expect(Self.completions(comp)[1] == .success(MQTTPublishResult(packetIdentifier: 1)))

        _ = state.publish(Self.message(qos: .exactlyOnce), operation: 2)
        var refused = Self.ack(2, .notAuthorized)
        refused.properties = [.reasonString("no")]
        let failed = state.receivedPubRec(refused)
        #expect(Self.sent(failed).isEmpty)
        #expect(Self.completions(failed)[2] == .failure(.publishFailed(reasonCode: .notAuthorized, reasonString: "no")))
    }

    @Test("Receive Maximum: never more unacknowledged than the broker allows; the rest waits in order")
    func receiveMaximum() {
        var state = Self.state()
        _ = state.connectionEstablished(sessionPresent: false, limits: Self.limits(receiveMaximum: 2))
        var sent: [MQTTPublishPacket] = []
        for op in 1...5 { sent += Self.published(state.publish(Self.message("t", "\(op)", qos: .exactlyOnce), operation: OperationID(op))) }
        #expect(sent.map(\.payloadText) == ["1", "2"])
        #expect(state.queue.count == 3)
        // PUBREC does not free the slot; PUBCOMP does.
        _ = state.receivedPubRec(Self.ack(1))
        #expect(state.inflightCount == 2)
        let next = state.receivedPubComp(Self.ack(1))
        #expect(Self.published(next).map(\.payloadText) == ["3"])
        #expect(state.inflightCount == 2)
    }

    @Test("maximum QoS, retain availability and Maximum Packet Size are checked before sending")
    func limitsChecked() {
        var state = Self.state()
        _ = state.connectionEstablished(sessionPresent: false, limits: Self.limits {
            $0.maximumQoS = .atLeastOnce
            $0.retainAvailable = false
            $0.maximumPacketSize = 50
        })
        #expect(Self.completions(state.publish(Self.message(qos: .exactlyOnce), operation: 1))[1]
            == .failure(.qosNotSupported(requested: .exactlyOnce, maximum: .atLeastOnce)))
        var retained = Self.message()
        retained.retain = true
        #expect(Self.completions(state.publish(retained, operation: 2))[2] == .failure(.retainNotSupported))
        let big = Self.message("t", String(repeating: "x", count: 100))
        guard case .failure(.packetTooLarge(let size, 50))? = Self.completions(state.publish(big, operation: 3))[3] else {
            Issue.record("expected packetTooLarge")
            return
        }
        #expect(size > 100)
        #expect(Self.completions(state.publish(Self.message("a/+"), operation: 4))[4] == .failure(.invalidTopicName("a/+")))
    }

    @Test("offline: publishes queue up to the limit, then fail with offlineQueueFull; limit 0 fails with notConnected")
    func offlineQueue() {
        var state = Self.state { $0.offlineQueueLimit = 2 }
        #expect(state.publish(Self.message(), operation: 1).isEmpty)
        #expect(state.publish(Self.message(qos: .atMostOnce), operation: 2).isEmpty)
        #expect(Self.completions(state.publish(Self.message(), operation: 3))[3] == .failure(.offlineQueueFull(limit: 2)))
        let connected = state.connectionEstablished(sessionPresent: false, limits: Self.limits())
        #expect(Self.published(connected).map(\.qos) == [.atLeastOnce, .atMostOnce])
        #expect(Self.completions(connected)[2] == .success(MQTTPublishResult()))

        var none = Self.state { $0.offlineQueueLimit = 0 }
        #expect(Self.completions(none.publish(Self.message(), operation: 1))[1] == .failure(.notConnected))
    }

    @Test("session resumed: unacknowledged PUBLISH again with its identifier and DUP, PUBREL again, in order")
    func resumeResends() {
        var state = Self.state()
        _ = state.connectionEstablished(sessionPresent: false, limits: Self.limits())
        _ = state.publish(Self.message("a", "1"), operation: 1)
        _ = state.publish(Self.message("b", "2", qos: .exactlyOnce), operation: 2)
        _ = state.publish(Self.message("c", "3", qos: .exactlyOnce), operation: 3)
        _ = state.receivedPubRec(Self.ack(2))
        state.connectionLost()
        // Acknowledgements of the old connection are not expected any more.
        #expect(state.receivedPubAck(Self.ack(1)).isEmpty)
        let actions = state.connectionEstablished(sessionPresent: true, limits: Self.limits())
        let packets = Self.sent(actions)
        #expect(packets.count == 3)
        #expect(packets.first == .pubrel(Self.ack(2)))
        let resent = Self.published(actions)
        #expect(resent.map(\.packetIdentifier) == [1, 3])
        #expect(resent.allSatisfy { $0.dup })
        // 0x92: the broker had completed it before the connection broke and its PUBCOMP was lost.
        #expect(Self.completions(state.receivedPubComp(Self.ack(2, .packetIdentifierNotFound)))[2]
            == .success(MQTTPublishResult(packetIdentifier: 2)))
    }

    @Test("session lost: unacknowledged PUBLISH go again as new, PUBREC'd QoS 2 fails with sessionLost, subscriptions restored")
    func sessionLost() {
        var state = Self.state()
        _ = state.connectionEstablished(sessionPresent: false, limits: Self.limits())
        let subscribe = state.subscribe([MQTTSubscription(topicFilter: "x/#", qos: .atLeastOnce)], properties: [.subscriptionIdentifier(7)], operation: 10)
        guard case .subscribe(let packet)? = Self.sent(subscribe).first else {
            Issue.record("no SUBSCRIBE")
            return
        }
        _ = state.receivedSubAck(MQTTSubAckPacket(packetIdentifier: packet.packetIdentifier, reasonCodes: [.grantedQoS1]))
        _ = state.publish(Self.message("a", "1"), operation: 1)
        _ = state.publish(Self.message("b", "2", qos: .exactlyOnce), operation: 2)
        _ = state.receivedPubRec(Self.ack(3))
        state.connectionLost()
        let actions = state.connectionEstablished(sessionPresent: false, limits: Self.limits())
        #expect(Self.completions(actions)[2] == .failure(.sessionLost))
        let packets = Self.sent(actions)
        guard case .subscribe(let again) = packets.first else {
            Issue.record("expected the SUBSCRIBE first, got \(packets)")
            return
        }
        #expect(again.subscriptions.map(\.topicFilter) == ["x/#"])
        #expect(again.properties == [.subscriptionIdentifier(7)])
        let resent = Self.published(actions)
        #expect(resent.count == 1 && resent[0].dup == false && resent[0].topic == "a")
    }

    @Test("a failed subscription is not restored; an unsubscribed one neither")
    func subscriptionsTracked() {
        var state = Self.state()
        _ = state.connectionEstablished(sessionPresent: false, limits: Self.limits())
        _ = state.subscribe([MQTTSubscription(topicFilter: "ok"), MQTTSubscription(topicFilter: "no")], properties: [], operation: 1)
        let done = state.receivedSubAck(MQTTSubAckPacket(packetIdentifier: 1, reasonCodes: [.grantedQoS0, .notAuthorized]))
        #expect(done.count == 1)
        #expect(Array(state.subscriptions.keys) == ["ok"])
        _ = state.unsubscribe(["ok"], properties: [], operation: 2)
        _ = state.receivedUnsubAck(MQTTSubAckPacket(packetIdentifier: 2, reasonCodes: [.success]))
        #expect(state.subscriptions.isEmpty)
    }

    @Test("packet identifiers skip those in use and wrap after 65535")
    func packetIdentifiers() {
        var state = Self.state()
        _ = state.connectionEstablished(sessionPresent: false, limits: Self.limits())
        state.lastPacketIdentifier = 65_534
        _ = state.publish(Self.message(), operation: 1)  // 65535
        _ = state.publish(Self.message(), operation: 2)  // wraps to 1
        #expect(Array(state.outbound.keys) == [65_535, 1])
        state.lastPacketIdentifier = 0
        _ = state.receivedPubAck(Self.ack(65_535))
        _ = state.publish(Self.message(), operation: 3)
        #expect(Array(state.outbound.keys) == [1, 2])
    }

    @Test("topic aliases: the first publish sets the alias, later ones send only the alias; reset per connection")
    func outboundAliases() {
        var state = Self.state { $0.useTopicAliases = true }
        _ = state.connectionEstablished(sessionPresent: false, limits: Self.limits { $0.topicAliasMaximum = 1 })
        let first = Self.published(state.publish(Self.message("long/topic", qos: .atMostOnce), operation: 1))[0]
        let second = Self.published(state.publish(Self.message("long/topic", qos: .atMostOnce), operation: 2))[0]
        let other = Self.published(state.publish(Self.message("other", qos: .atMostOnce), operation: 3))[0]
        #expect(first.topic == "long/topic" && first.properties.topicAlias == 1)
        #expect(second.topic == "" && second.properties.topicAlias == 1)
        #expect(other.topic == "other" && other.properties.topicAlias == nil, "no alias left")
        state.connectionLost()
        _ = state.connectionEstablished(sessionPresent: true, limits: Self.limits { $0.topicAliasMaximum = 1 })
        let after = Self.published(state.publish(Self.message("long/topic", qos: .atMostOnce), operation: 4))[0]
        #expect(after.topic == "long/topic")
    }

    // MARK: Inbound

    @Test("inbound QoS 1: delivered once, PUBACK only on the application's acknowledgement")
    func inboundQoS1() {
        var state = Self.state()
        _ = state.connectionEstablished(sessionPresent: false, limits: Self.limits())
        var packet = Self.message()
        packet.packetIdentifier = 5
        let delivered = state.receivedPublish(packet)
        guard case .deliver(let delivery)? = delivered.first, let serial = delivery.serial else {
            Issue.record("not delivered")
            return
        }
        packet.dup = true
        #expect(state.receivedPublish(packet).isEmpty, "a resend while the application has it is not delivered again")
        #expect(Self.sent(state.acknowledge(packetIdentifier: 5, serial: serial)) == [.puback(Self.ack(5))])
        #expect(state.acknowledge(packetIdentifier: 5, serial: serial).isEmpty, "twice does nothing")
        #expect(state.inbound.isEmpty)
    }

    @Test("inbound QoS 2: PUBREC on acknowledgement, never delivered again before PUBREL, PUBCOMP; unknown PUBREL gets 0x92")
    func inboundQoS2() {
        var state = Self.state()
        _ = state.connectionEstablished(sessionPresent: false, limits: Self.limits())
        var packet = Self.message(qos: .exactlyOnce)
        packet.packetIdentifier = 9
        guard case .deliver(let delivery)? = state.receivedPublish(packet).first, let serial = delivery.serial else {
            Issue.record("not delivered")
            return
        }
        #expect(Self.sent(state.acknowledge(packetIdentifier: 9, serial: serial)) == [.pubrec(Self.ack(9))])
        packet.dup = true
        #expect(Self.sent(state.receivedPublish(packet)) == [.pubrec(Self.ack(9))])
        #expect(Self.sent(state.receivedPubRel(Self.ack(9))) == [.pubcomp(Self.ack(9))])
        #expect(Self.sent(state.receivedPubRel(Self.ack(9))) == [.pubcomp(Self.ack(9, .packetIdentifierNotFound))])
        var v311 = Self.state(.v311)
        #expect(Self.sent(v311.receivedPubRel(Self.ack(3))) == [.pubcomp(Self.ack(3))])
    }

    @Test("acknowledged while disconnected: answered when the broker resends after the session resumed, not delivered twice")
    func acknowledgedOffline() {
        var state = Self.state()
        _ = state.connectionEstablished(sessionPresent: false, limits: Self.limits())
        var packet = Self.message(qos: .exactlyOnce)
        packet.packetIdentifier = 4
        guard case .deliver(let delivery)? = state.receivedPublish(packet).first, let serial = delivery.serial else {
            Issue.record("not delivered")
            return
        }
        state.connectionLost()
        #expect(state.acknowledge(packetIdentifier: 4, serial: serial).isEmpty)
        _ = state.connectionEstablished(sessionPresent: true, limits: Self.limits())
        packet.dup = true
        #expect(state.receivedPublish(packet) == [.send(.pubrec(Self.ack(4)))])
        #expect(Self.sent(state.receivedPubRel(Self.ack(4))) == [.pubcomp(Self.ack(4))])
    }

    @Test("a reused identifier with another message is a new delivery; the stale acknowledgement does nothing")
    func reusedIdentifier() {
        var state = Self.state()
        _ = state.connectionEstablished(sessionPresent: false, limits: Self.limits())
        var first = Self.message("t", "one")
        first.packetIdentifier = 1
        guard case .deliver(let d1)? = state.receivedPublish(first).first, let s1 = d1.serial else { return }
        var second = Self.message("t", "two")
        second.packetIdentifier = 1
        guard case .deliver(let d2)? = state.receivedPublish(second).first, let s2 = d2.serial else {
            Issue.record("the new message was not delivered")
            return
        }
        #expect(state.acknowledge(packetIdentifier: 1, serial: s1).isEmpty)
        #expect(Self.sent(state.acknowledge(packetIdentifier: 1, serial: s2)) == [.puback(Self.ack(1))])
    }

    @Test("inbound topic aliases are resolved; an unknown or too large alias closes with the reason code")
    func inboundAliases() {
        var state = Self.state { $0.inboundTopicAliasMaximum = 2 }
        _ = state.connectionEstablished(sessionPresent: false, limits: Self.limits())
        var set = Self.message("a/b", qos: .atMostOnce)
        set.properties = [.topicAlias(2)]
        _ = state.receivedPublish(set)
        var use = Self.message("", qos: .atMostOnce)
        use.properties = [.topicAlias(2)]
        guard case .deliver(let delivery)? = state.receivedPublish(use).first else { return }
        #expect(delivery.packet.topic == "a/b")
        use.properties = [.topicAlias(1)]
        #expect(state.receivedPublish(use) == [.closeConnection(.protocolViolation(reasonCode: .protocolError, description: "unknown topic alias 1"))])
        use.properties = [.topicAlias(3)]
        guard case .closeConnection(let error)? = state.receivedPublish(use).first else { return }
        #expect(error.reasonCode == .topicAliasInvalid)
    }

    @Test("session lost drops inbound state: an old acknowledgement does nothing")
    func inboundDroppedWithSession() {
        var state = Self.state()
        _ = state.connectionEstablished(sessionPresent: false, limits: Self.limits())
        var packet = Self.message()
        packet.packetIdentifier = 2
        guard case .deliver(let delivery)? = state.receivedPublish(packet).first, let serial = delivery.serial else { return }
        state.connectionLost()
        _ = state.connectionEstablished(sessionPresent: false, limits: Self.limits())
        #expect(state.acknowledge(packetIdentifier: 2, serial: serial).isEmpty)
    }

    @Test("failAll completes every publish, queued or in flight, and every request with the error")
    func failAll() {
        var state = Self.state()
        _ = state.connectionEstablished(sessionPresent: false, limits: Self.limits(receiveMaximum: 1))
        _ = state.publish(Self.message(), operation: 1)
        _ = state.publish(Self.message(), operation: 2)
        _ = state.subscribe([MQTTSubscription(topicFilter: "x")], properties: [], operation: 3)
        let actions = state.failAll(.clientClosed)
        #expect(Self.completions(actions).count == 2)
        #expect(actions.contains(.completeSubscribe(3, .failure(.clientClosed))))
    }
}

extension MQTTPublishPacket {
    var payloadText: String { String(buffer: payload) }
}
