import MQTTCore
import NIOCore

/// Connections coming and going, subscriptions and their restoration.
extension ClientSessionState {
    /// CONNACK accepted. With the session resumed, every unacknowledged PUBLISH is sent again
    /// with its original identifier and DUP, and every PUBREL again (MQTT 5 §4.4). Without it,
    /// inbound state is dropped, outbound messages the broker never acknowledged are sent as new
    /// ones, QoS 2 messages it had acknowledged with PUBREC fail with
    /// ``MQTTClientError/sessionLost``, and (after an earlier connection) every subscription is
    /// restored. Unanswered SUBSCRIBE/UNSUBSCRIBE go again, then the queue drains.
    mutating func connectionEstablished(sessionPresent: Bool, limits: ServerLimits) -> [ClientAction] {
        isConnected = true
        self.limits = limits
        inflightCount = 0
        outboundAliases = [:]
        inboundAliases = [:]
        var actions: [ClientAction] = []
        let pendingRequests = requests
        if !sessionPresent {
            inbound = [:]
            for (id, flight) in outbound {
                switch flight.stage {
                case .awaitingAcknowledgement:
                    outbound[id]?.everSent = false
                case .awaitingCompletion:
                    outbound[id] = nil
                    if let operation = flight.operation { actions.append(.completePublish(operation, .failure(.sessionLost))) }
                }
            }
            if hasConnectedBefore { actions += resubscribe() }
        }
        for id in outbound.keys { outbound[id]?.sentOnConnection = false }
        // Requests made before this connection, after the restored subscriptions: a pending
        // UNSUBSCRIBE must come after the SUBSCRIBE restoring the same filter.
        for request in pendingRequests.values {
            switch request.kind {
            case .subscribe(let packet): actions.append(.send(.subscribe(packet)))
            case .unsubscribe(let packet): actions.append(.send(.unsubscribe(packet)))
            }
        }
        // PUBRELs first: they finish messages the broker already holds.
        for id in outbound.keys {
            guard var flight = outbound[id], case .awaitingCompletion = flight.stage else { continue }
            flight.sentOnConnection = true
            inflightCount += 1
            outbound[id] = flight
            actions.append(.send(.pubrel(MQTTPublishAckPacket(packetIdentifier: id))))
        }
        hasConnectedBefore = true
        return actions + drain()
    }

    /// The connection is gone. Everything unfinished stays for the next one; aliases end with it.
    mutating func connectionLost() {
        isConnected = false
        inflightCount = 0
        for id in outbound.keys { outbound[id]?.sentOnConnection = false }
        for id in inbound.keys { inbound[id]?.seenOnConnection = false }
        outboundAliases = [:]
        inboundAliases = [:]
    }

    /// Fails every waiting operation: the client is closing, or lost its connection for good.
    /// Inbound state is dropped too.
    mutating func failAll(_ error: MQTTClientError) -> [ClientAction] {
        var actions: [ClientAction] = []
        for flight in outbound.values {
            if let operation = flight.operation { actions.append(.completePublish(operation, .failure(error))) }
        }
        for queued in queue { actions.append(.completePublish(queued.operation, .failure(error))) }
        for request in requests.values {
            guard let operation = request.operation else { continue }
            switch request.kind {
            case .subscribe: actions.append(.completeSubscribe(operation, .failure(error)))
            case .unsubscribe: actions.append(.completeUnsubscribe(operation, .failure(error)))
            }
        }
        outbound = [:]
        queue = []
        requests = [:]
        inbound = [:]
        inflightCount = 0
        return actions
    }

    // MARK: - Subscriptions

    mutating func subscribe(_ subscriptions: [MQTTSubscription], properties: MQTTProperties, operation: OperationID?) -> [ClientAction] {
        let fail = { (error: MQTTClientError) -> [ClientAction] in operation.map { [.completeSubscribe($0, .failure(error))] } ?? [] }
        guard !subscriptions.isEmpty else { return fail(.invalidTopicFilter("")) }
        for subscription in subscriptions where MQTTTopicFilter(subscription.topicFilter) == nil {
            return fail(.invalidTopicFilter(subscription.topicFilter))
        }
        guard let id = allocatePacketIdentifier() else { return fail(.packetIdentifiersExhausted) }
        let packet = MQTTSubscribePacket(packetIdentifier: id, subscriptions: subscriptions, properties: version == .v5 ? properties : [])
        if let error = sizeError(.subscribe(packet)) { return fail(error) }
        requests[id] = PendingRequest(kind: .subscribe(packet), operation: operation)
        return isConnected ? [.send(.subscribe(packet))] : []
    }

    mutating func unsubscribe(_ filters: [String], properties: MQTTProperties, operation: OperationID?) -> [ClientAction] {
        let fail = { (error: MQTTClientError) -> [ClientAction] in operation.map { [.completeUnsubscribe($0, .failure(error))] } ?? [] }
        guard !filters.isEmpty else { return fail(.invalidTopicFilter("")) }
        for filter in filters where MQTTTopicFilter(filter) == nil { return fail(.invalidTopicFilter(filter)) }
        guard let id = allocatePacketIdentifier() else { return fail(.packetIdentifiersExhausted) }
        let packet = MQTTUnsubscribePacket(packetIdentifier: id, topicFilters: filters, properties: version == .v5 ? properties : [])
        if let error = sizeError(.unsubscribe(packet)) { return fail(error) }
        requests[id] = PendingRequest(kind: .unsubscribe(packet), operation: operation)
        return isConnected ? [.send(.unsubscribe(packet))] : []
    }

    private func sizeError(_ packet: MQTTPacket) -> MQTTClientError? {
        do {
            let size = try packet.encodedLength(version: version)
            return size > maximumPacketSize ? .packetTooLarge(size: size, maximum: maximumPacketSize) : nil
        } catch {
            return .encodingFailed(error)
        }
    }

    mutating func receivedSubAck(_ ack: MQTTSubAckPacket) -> [ClientAction] {
        guard let request = requests[ack.packetIdentifier], case .subscribe(let packet) = request.kind else { return [] }
        requests[ack.packetIdentifier] = nil
        for (subscription, code) in zip(packet.subscriptions, ack.reasonCodes) where !code.isFailure {
            subscriptions[subscription.topicFilter] = SubscriptionRecord(subscription: subscription, properties: packet.properties)
        }
        guard let operation = request.operation else { return [] }
        guard ack.reasonCodes.count == packet.subscriptions.count else {
            return [.completeSubscribe(operation, .failure(.protocolViolation(
                reasonCode: .protocolError,
                description: "SUBACK has \(ack.reasonCodes.count) reason codes for \(packet.subscriptions.count) filters")))]
        }
        return [.completeSubscribe(operation, .success(ack))]
    }

    mutating func receivedUnsubAck(_ ack: MQTTSubAckPacket) -> [ClientAction] {
        guard let request = requests[ack.packetIdentifier], case .unsubscribe(let packet) = request.kind else { return [] }
        requests[ack.packetIdentifier] = nil
        for filter in packet.topicFilters { subscriptions[filter] = nil }
        guard let operation = request.operation else { return [] }
        return [.completeUnsubscribe(operation, .success(ack))]
    }

    /// SUBSCRIBE packets restoring every subscription, consecutive ones with equal properties
    /// (the same Subscription Identifier) together; registered as requests of the client's own.
    private mutating func resubscribe() -> [ClientAction] {
        var groups: [(properties: MQTTProperties, subscriptions: [MQTTSubscription])] = []
        for record in subscriptions.values {
            if let last = groups.indices.last, groups[last].properties == record.properties {
                groups[last].subscriptions.append(record.subscription)
            } else {
                groups.append((record.properties, [record.subscription]))
            }
        }
        var actions: [ClientAction] = []
        for group in groups {
            guard let id = allocatePacketIdentifier() else { break }
            let packet = MQTTSubscribePacket(packetIdentifier: id, subscriptions: group.subscriptions, properties: group.properties)
            requests[id] = PendingRequest(kind: .subscribe(packet), operation: nil)
            actions.append(.send(.subscribe(packet)))
        }
        return actions
    }

    /// Routes one packet from the broker that belongs to the session.
    mutating func received(_ packet: MQTTPacket) -> [ClientAction] {
        switch packet {
        case .publish(let publish): receivedPublish(publish)
        case .puback(let ack): receivedPubAck(ack)
        case .pubrec(let ack): receivedPubRec(ack)
        case .pubrel(let ack): receivedPubRel(ack)
        case .pubcomp(let ack): receivedPubComp(ack)
        case .suback(let ack): receivedSubAck(ack)
        case .unsuback(let ack): receivedUnsubAck(ack)
        default: []
        }
    }
}
