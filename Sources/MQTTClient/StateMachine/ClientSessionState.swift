import DequeModule
import MQTTCore
import NIOCore
import OrderedCollections

/// The client side of an MQTT session as a pure value (MQTT 5 §4.1, §4.3, §4.4, §4.9): packet
/// identifiers, outbound QoS 1/2 messages in flight within the broker's Receive Maximum, the
/// queue of publishes waiting for the connection or for the window, inbound QoS 1/2 messages
/// awaiting the application's acknowledgement or the broker's PUBREL, subscriptions to restore,
/// and what to send again when a connection is (re-)established.
///
/// Every method takes one event and returns the ``ClientAction``s the I/O layer carries out; no
/// I/O, no clock, no randomness here. The session outlives connections: ``connectionLost()``
/// keeps everything that must survive, ``connectionEstablished(sessionPresent:limits:)`` says
/// what to resend.
struct ClientSessionState: Sendable {
    struct Settings: Sendable, Hashable {
        var version: MQTTProtocolVersion
        /// Publishes kept while disconnected (0: fail at once with ``MQTTClientError/notConnected``).
        var offlineQueueLimit: Int = 1_000
        /// QoS 1/2 publishes in flight at most, below the broker's Receive Maximum.
        var maximumInflight: Int = 65_535
        /// Topic Alias Maximum the client advertised: aliases the broker may use towards it.
        var inboundTopicAliasMaximum: UInt16 = 0
        /// Whether outgoing publishes use topic aliases the broker allows.
        var useTopicAliases = false
    }

    /// An outgoing QoS 1/2 message from its first PUBLISH to its PUBACK or PUBCOMP.
    struct OutboundFlight: Sendable, Hashable {
        enum Stage: Sendable, Hashable {
            /// PUBLISH sent (or to be sent), waiting for PUBACK / PUBREC.
            case awaitingAcknowledgement
            /// PUBREC received (kept for the result), PUBREL sent, waiting for PUBCOMP.
            case awaitingCompletion(MQTTPublishAckPacket)
        }

        /// With its packet identifier and full topic name; aliases are applied per connection.
        var packet: MQTTPublishPacket
        var stage: Stage
        var operation: OperationID?
        /// Sent on the current connection (counts against the window).
        var sentOnConnection = false
        /// Sent at least once on any connection: a resend carries DUP.
        var everSent = false
    }

    /// A publish waiting for the connection or for room in the window.
    struct QueuedPublish: Sendable, Hashable {
        var packet: MQTTPublishPacket
        var operation: OperationID
    }

    /// A SUBSCRIBE or UNSUBSCRIBE waiting for its acknowledgement; resent on reconnect.
    struct PendingRequest: Sendable, Hashable {
        enum Kind: Sendable, Hashable {
            case subscribe(MQTTSubscribePacket)
            case unsubscribe(MQTTUnsubscribePacket)
        }

        var kind: Kind
        /// Nil for the client's own resubscriptions.
        var operation: OperationID?
    }

    /// A subscription the broker's session should hold, restored when the session was lost.
    struct SubscriptionRecord: Sendable, Hashable {
        var subscription: MQTTSubscription
        /// The SUBSCRIBE's properties: Subscription Identifier, User Properties.
        var properties: MQTTProperties
    }

    /// An incoming QoS 1/2 message the client has not finished with.
    struct InboundRecord: Sendable, Hashable {
        enum State: Sendable, Hashable {
            /// Handed to the application, not acknowledged by it yet.
            case delivered
            /// Acknowledged by the application while the broker could not be told (disconnected,
            /// or not yet resent on this connection); answered when the broker resends it.
            case acknowledged
            /// QoS 2: PUBREC sent, waiting for PUBREL. Never delivered again.
            case released
        }

        var qos: MQTTQoS
        var topic: String
        var payload: ByteBuffer
        var serial: UInt64
        var state: State
        /// Received on the current connection, so an acknowledgement can go out now.
        var seenOnConnection: Bool
    }

    let settings: Settings
    var isConnected = false
    /// Whether a connection was ever established: only then does a lost session mean
    /// subscriptions must be restored.
    var hasConnectedBefore = false
    var limits = ServerLimits()
    var lastPacketIdentifier: UInt16 = 0
    var outbound: OrderedDictionary<UInt16, OutboundFlight> = [:]
    /// Flights sent on the current connection.
    var inflightCount = 0
    var queue: Deque<QueuedPublish> = []
    var requests: OrderedDictionary<UInt16, PendingRequest> = [:]
    var subscriptions: OrderedDictionary<String, SubscriptionRecord> = [:]
    var inbound: [UInt16: InboundRecord] = [:]
    var lastSerial: UInt64 = 0
    var outboundAliases: [String: UInt16] = [:]
    var inboundAliases: [UInt16: String] = [:]

    init(settings: Settings) { self.settings = settings }

    var version: MQTTProtocolVersion { settings.version }

    /// QoS 1/2 publishes that may be unacknowledged at once on this connection.
    var window: Int { max(1, min(limits.receiveMaximum, settings.maximumInflight)) }

    /// The largest packet the broker accepts.
    var maximumPacketSize: Int { limits.maximumPacketSize ?? (mqttMaximumVariableByteInteger + 5) }

    /// A packet identifier used by no outgoing message or request, or nil when all 65,535 are.
    mutating func allocatePacketIdentifier() -> UInt16? {
        for _ in 0..<Int(UInt16.max) {
            lastPacketIdentifier = lastPacketIdentifier == .max ? 1 : lastPacketIdentifier + 1
            if outbound[lastPacketIdentifier] == nil && requests[lastPacketIdentifier] == nil {
                return lastPacketIdentifier
            }
        }
        return nil
    }

    // MARK: - Publishing

    /// The application publishes `packet` (its identifier and DUP are the client's business).
    mutating func publish(_ packet: MQTTPublishPacket, operation: OperationID) -> [ClientAction] {
        var packet = packet
        packet.dup = false
        packet.packetIdentifier = nil
        if let error = validate(packet, againstLimits: isConnected) {
            return [.completePublish(operation, .failure(error))]
        }
        guard isConnected else {
            guard queue.count < settings.offlineQueueLimit else {
                let error: MQTTClientError = settings.offlineQueueLimit == 0 ? .notConnected : .offlineQueueFull(limit: settings.offlineQueueLimit)
                return [.completePublish(operation, .failure(error))]
            }
            queue.append(QueuedPublish(packet: packet, operation: operation))
            return []
        }
        queue.append(QueuedPublish(packet: packet, operation: operation))
        return drain()
    }

    /// Why `packet` cannot be sent, or nil. The broker's limits apply once they are known.
    func validate(_ packet: MQTTPublishPacket, againstLimits: Bool) -> MQTTClientError? {
        let aliasOnly = packet.topic.isEmpty && packet.properties.topicAlias != nil && version == .v5
        if !aliasOnly && !MQTTTopic.isValidName(packet.topic) { return .invalidTopicName(packet.topic) }
        if let (field, length) = packet.properties.oversizedField { return .encodingFailed(.fieldTooLong(field: field, length: length)) }
        if againstLimits {
            if packet.qos > limits.maximumQoS { return .qosNotSupported(requested: packet.qos, maximum: limits.maximumQoS) }
            if packet.retain && !limits.retainAvailable { return .retainNotSupported }
        }
        var sized = packet
        if sized.qos != .atMostOnce { sized.packetIdentifier = 1 }
        do {
            let size = try MQTTPacket.publish(sized).encodedLength(version: version)
            let maximum = againstLimits ? maximumPacketSize : mqttMaximumVariableByteInteger + 5
            if size > maximum { return .packetTooLarge(size: size, maximum: maximum) }
        } catch {
            return .encodingFailed(error)
        }
        return nil
    }

    /// Sends what the window allows: first flights not yet sent on this connection, then the
    /// queue in order (a QoS 0 publish behind a waiting QoS 1/2 one waits too).
    mutating func drain() -> [ClientAction] {
        guard isConnected else { return [] }
        var actions: [ClientAction] = []
        if outbound.count > inflightCount {
            for id in outbound.keys where inflightCount < window {
                guard var flight = outbound[id], !flight.sentOnConnection else { continue }
                actions += transmit(&flight)
                outbound[id] = flight
            }
        }
        while let next = queue.first {
            if next.packet.qos == .atMostOnce {
                queue.removeFirst()
                if let error = validate(next.packet, againstLimits: true) {
                    actions.append(.completePublish(next.operation, .failure(error)))
                    continue
                }
                actions.append(.send(.publish(wire(next.packet))))
                actions.append(.completePublish(next.operation, .success(MQTTPublishResult())))
                continue
            }
            guard outbound.count == inflightCount, inflightCount < window else { break }
            if let error = validate(next.packet, againstLimits: true) {
                queue.removeFirst()
                actions.append(.completePublish(next.operation, .failure(error)))
                continue
            }
            guard let id = allocatePacketIdentifier() else { break }
            queue.removeFirst()
            var packet = next.packet
            packet.packetIdentifier = id
            var flight = OutboundFlight(packet: packet, stage: .awaitingAcknowledgement, operation: next.operation)
            actions += transmit(&flight)
            outbound[id] = flight
        }
        return actions
    }

    /// Sends a flight in its current stage on this connection.
    private mutating func transmit(_ flight: inout OutboundFlight) -> [ClientAction] {
        flight.sentOnConnection = true
        inflightCount += 1
        switch flight.stage {
        case .awaitingAcknowledgement:
            var packet = flight.packet
            packet.dup = flight.everSent
            flight.everSent = true
            return [.send(.publish(wire(packet)))]
        case .awaitingCompletion:
            return [.send(.pubrel(MQTTPublishAckPacket(packetIdentifier: flight.packet.packetIdentifier ?? 0)))]
        }
    }

    /// The packet as it goes on the wire: with a topic alias when aliases are in use.
    mutating func wire(_ packet: MQTTPublishPacket) -> MQTTPublishPacket {
        guard version == .v5, settings.useTopicAliases, limits.topicAliasMaximum > 0, !packet.topic.isEmpty else { return packet }
        var packet = packet
        packet.properties.remove(.topicAlias)
        if let alias = outboundAliases[packet.topic] {
            packet.properties.append(.topicAlias(alias))
            packet.topic = ""
        } else if outboundAliases.count < Int(limits.topicAliasMaximum) {
            let alias = UInt16(outboundAliases.count + 1)
            outboundAliases[packet.topic] = alias
            packet.properties.append(.topicAlias(alias))
        }
        return packet
    }

    /// Removes a finished flight, freeing its slot in the window.
    private mutating func finish(_ id: UInt16) -> OutboundFlight? {
        guard let flight = outbound.removeValue(forKey: id) else { return nil }
        if flight.sentOnConnection { inflightCount -= 1 }
        return flight
    }

    mutating func receivedPubAck(_ ack: MQTTPublishAckPacket) -> [ClientAction] {
        let id = ack.packetIdentifier
        guard let flight = outbound[id], flight.packet.qos == .atLeastOnce, flight.sentOnConnection else { return [] }
        _ = finish(id)
        var actions: [ClientAction] = []
        if let operation = flight.operation { actions.append(.completePublish(operation, Self.result(of: ack))) }
        return actions + drain()
    }

    mutating func receivedPubRec(_ ack: MQTTPublishAckPacket) -> [ClientAction] {
        let id = ack.packetIdentifier
        guard var flight = outbound[id], flight.packet.qos == .exactlyOnce, flight.sentOnConnection else {
            // Unknown identifier: release it so the broker can forget it (MQTT 5 §4.3.3).
            let code: MQTTReasonCode = version == .v5 ? .packetIdentifierNotFound : .success
            return [.send(.pubrel(MQTTPublishAckPacket(packetIdentifier: id, reasonCode: code)))]
        }
        if case .awaitingAcknowledgement = flight.stage, ack.reasonCode.isFailure {
            _ = finish(id)
            let actions: [ClientAction] = flight.operation.map { [.completePublish($0, Self.result(of: ack))] } ?? []
            return actions + drain()
        }
        if case .awaitingAcknowledgement = flight.stage { flight.stage = .awaitingCompletion(ack) }
        outbound[id] = flight
        return [.send(.pubrel(MQTTPublishAckPacket(packetIdentifier: id)))]
    }

    mutating func receivedPubComp(_ ack: MQTTPublishAckPacket) -> [ClientAction] {
        let id = ack.packetIdentifier
        guard let flight = outbound[id], case .awaitingCompletion(let pubrec) = flight.stage, flight.sentOnConnection else { return [] }
        _ = finish(id)
        var actions: [ClientAction] = []
        if let operation = flight.operation {
            // PUBCOMP 0x92 (Packet Identifier not found) answers a PUBREL sent again after a
            // reconnect when the broker had already completed the message and its PUBCOMP was
            // lost with the connection: the message is through either way, since the broker took
            // it over with its PUBREC.
            actions.append(.completePublish(operation, Self.result(of: pubrec)))
        }
        return actions + drain()
    }

    static func result(of ack: MQTTPublishAckPacket) -> Result<MQTTPublishResult, MQTTClientError> {
        if ack.reasonCode.isFailure {
            return .failure(.publishFailed(reasonCode: ack.reasonCode, reasonString: ack.properties.reasonString))
        }
        return .success(MQTTPublishResult(packetIdentifier: ack.packetIdentifier, reasonCode: ack.reasonCode, properties: ack.properties))
    }
}

extension MQTTProperties {
    /// A string or binary property longer than 65,535 bytes, which cannot be encoded: its name
    /// and length.
    var oversizedField: (String, Int)? {
        for property in self {
            let length: Int
            switch property {
            case .contentType(let s), .responseTopic(let s), .assignedClientIdentifier(let s), .authenticationMethod(let s),
                .responseInformation(let s), .serverReference(let s), .reasonString(let s):
                length = s.utf8.count
            case .correlationData(let b), .authenticationData(let b):
                length = b.readableBytes
            case .userProperty(let name, let value):
                length = Swift.max(name.utf8.count, value.utf8.count)
            default:
                continue
            }
            if length > 65_535 { return ("\(property.identifier)", length) }
        }
        return nil
    }
}
