import MQTTCore
import NIOCore

/// Incoming messages: topic aliases, delivery to the application exactly once per message, and
/// acknowledgement only when the application says so.
///
/// A QoS 1 message is answered with PUBACK, and a QoS 2 message with PUBREC, when the
/// application acknowledges it, not when it arrives: a message whose processing never finished
/// stays the broker's, which sends it again when the session is resumed. A message the broker
/// sends again while the application still has it (same identifier, topic and payload) is not
/// delivered twice; one the application acknowledged while the broker could not be told is
/// answered as soon as the broker resends it. After PUBREC a QoS 2 identifier is never delivered
/// again until PUBREL (MQTT 5 §4.3.3, method B).
extension ClientSessionState {
    mutating func receivedPublish(_ received: MQTTPublishPacket) -> [ClientAction] {
        var packet = received
        if version == .v5, let alias = packet.properties.topicAlias {
            guard alias <= settings.inboundTopicAliasMaximum else {
                return [.closeConnection(.protocolViolation(reasonCode: .topicAliasInvalid,
                                                            description: "topic alias \(alias) above the maximum \(settings.inboundTopicAliasMaximum)"))]
            }
            if packet.topic.isEmpty {
                guard let topic = inboundAliases[alias] else {
                    return [.closeConnection(.protocolViolation(reasonCode: .protocolError, description: "unknown topic alias \(alias)"))]
                }
                packet.topic = topic
            } else {
                inboundAliases[alias] = packet.topic
            }
        }
        guard let id = packet.packetIdentifier, packet.qos != .atMostOnce else {
            return [.deliver(InboundDelivery(packet: packet, serial: nil))]
        }
        if var record = inbound[id] {
            if record.state == .released && record.qos == .exactlyOnce && packet.qos == .exactlyOnce {
                record.seenOnConnection = true
                inbound[id] = record
                return [.send(.pubrec(MQTTPublishAckPacket(packetIdentifier: id)))]
            }
            if record.state != .released && record.qos == packet.qos && record.topic == packet.topic && record.payload == packet.payload {
                // The broker sends again what the application already has.
                record.seenOnConnection = true
                inbound[id] = record
                return record.state == .acknowledged ? answer(id) : []
            }
            // Otherwise the identifier was reused for a new message: the old one is forgotten.
        }
        lastSerial += 1
        inbound[id] = InboundRecord(qos: packet.qos, topic: packet.topic, payload: packet.payload, serial: lastSerial,
                                    state: .delivered, seenOnConnection: true)
        return [.deliver(InboundDelivery(packet: packet, serial: lastSerial))]
    }

    /// The application finished with the delivery `serial` of identifier `id`.
    mutating func acknowledge(packetIdentifier id: UInt16, serial: UInt64) -> [ClientAction] {
        guard var record = inbound[id], record.serial == serial, record.state == .delivered else { return [] }
        if isConnected && record.seenOnConnection { return answer(id) }
        record.state = .acknowledged
        inbound[id] = record
        return []
    }

    /// Sends PUBACK (QoS 1, done) or PUBREC (QoS 2, then waits for PUBREL).
    private mutating func answer(_ id: UInt16) -> [ClientAction] {
        guard var record = inbound[id] else { return [] }
        switch record.qos {
        case .atLeastOnce:
            inbound[id] = nil
            return [.send(.puback(MQTTPublishAckPacket(packetIdentifier: id)))]
        case .exactlyOnce:
            record.state = .released
            record.payload = ByteBuffer()  // no longer compared
            inbound[id] = record
            return [.send(.pubrec(MQTTPublishAckPacket(packetIdentifier: id)))]
        case .atMostOnce:
            inbound[id] = nil
            return []
        }
    }

    mutating func receivedPubRel(_ pubrel: MQTTPublishAckPacket) -> [ClientAction] {
        let id = pubrel.packetIdentifier
        guard let record = inbound[id] else {
            let code: MQTTReasonCode = version == .v5 ? .packetIdentifierNotFound : .success
            return [.send(.pubcomp(MQTTPublishAckPacket(packetIdentifier: id, reasonCode: code)))]
        }
        if record.state == .released { inbound[id] = nil }
        // A PUBREL before the client's PUBREC breaks the flow; completing it keeps the broker
        // from repeating it, and the application still gets the message once.
        return [.send(.pubcomp(MQTTPublishAckPacket(packetIdentifier: id)))]
    }

    /// Incoming QoS 1/2 messages the application has not acknowledged yet.
    var unacknowledgedCount: Int { inbound.values.reduce(0) { $0 + ($1.state == .released ? 0 : 1) } }
}
