import MQTTCore
import NIOCore

extension BrokerConnection {
    // MARK: Inbound PUBLISH and its QoS flows

    func handlePublish(_ packet: MQTTPublishPacket) {
        guard let session else { return }
        guard admitPublish() else { return }
        var topic = packet.topic
        if version == .v5, let alias = packet.properties.topicAlias {
            guard alias <= inboundAliasMaximum else {
                return disconnect(.topicAliasInvalid, reason: "topic alias \(alias) above maximum \(inboundAliasMaximum)")
            }
            if topic.isEmpty {
                guard let known = inboundAliases[alias] else {
                    return disconnect(.protocolError, reason: "unknown topic alias \(alias)")
                }
                topic = known
            } else {
                inboundAliases[alias] = topic
            }
        }
        if isTooDeep(topic) {
            // 5.0 refuses a QoS 1/2 message in its acknowledgement; nothing else can say no.
            guard version == .v5, packet.qos != .atMostOnce else { return refuseTooDeep(topic, in: "PUBLISH") }
            return refusePublish(packet, .topicNameInvalid, "more than \(state.settings.maxTopicLevels) topic levels")
        }
        if topic.utf8.first == UInt8(ascii: "$"), topic == "$SYS" || topic.hasPrefix("$SYS/") {
            logger.info("publish to $SYS refused", metadata: ["mqtt.client_id": "\(clientID)", "mqtt.topic": "\(topic)"])
            return refusePublish(packet, .notAuthorized, "$SYS topics are published by the broker only")
        }
        guard state.authorize(.publish, topic: topic, session: session) else {
            return refusePublish(packet, .notAuthorized, "not authorized to publish to \(topic)")
        }
        let message = BrokerMessage(packet, topic: topic, publisher: clientID, now: now)
        switch packet.qos {
        case .atMostOnce:
            state.publish(message)
        case .atLeastOnce:
            let matched = state.publish(message)
            send(.puback(MQTTPublishAckPacket(packetIdentifier: packet.packetIdentifier ?? 0, reasonCode: ackCode(matched))))
        case .exactlyOnce:
            let id = packet.packetIdentifier ?? 0
            if session.awaitingRelease[id] != nil {
                // A resent PUBLISH of a message already routed: acknowledge, do not route twice.
                return send(.pubrec(MQTTPublishAckPacket(packetIdentifier: id)))
            }
            // Refused rather than acknowledged and dropped: the message stays with its sender.
            guard admitsAwaitingRelease(session) else { return }
            let matched = state.publish(message)
            session.markAwaitingRelease(id, at: now)
            send(.pubrec(MQTTPublishAckPacket(packetIdentifier: id, reasonCode: ackCode(matched))))
        }
    }

    /// A PUBLISH that is not routed (access rules, `$SYS`, too many levels): 5.0 answers `code`;
    /// 3.1.1 cannot say no, so it is acknowledged as the spec allows (MQTT-3.3.5-2) and not
    /// routed. A QoS 0 message is dropped.
    private func refusePublish(_ packet: MQTTPublishPacket, _ refusal: MQTTReasonCode, _ problem: String) {
        guard let id = packet.packetIdentifier else { return }
        let code: MQTTReasonCode = version == .v5 ? refusal : .success
        let properties = problemProperties([problem])
        if packet.qos == .atLeastOnce {
            send(.puback(MQTTPublishAckPacket(packetIdentifier: id, reasonCode: code, properties: properties)))
        } else {
            // 3.1.1 answers PUBREC 0x00, so its PUBREL is awaited like any other: within the same limit.
            if version == .v311, let session, session.awaitingRelease[id] == nil {
                guard admitsAwaitingRelease(session) else { return }
                session.markAwaitingRelease(id, at: now)
            }
            send(.pubrec(MQTTPublishAckPacket(packetIdentifier: id, reasonCode: code, properties: properties)))
        }
    }

    /// Whether one more inbound QoS 2 message may await its PUBREL; over `maxAwaitingRel` the
    /// connection ends instead (5.0: DISCONNECT 0x93).
    private func admitsAwaitingRelease(_ session: Session) -> Bool {
        guard session.awaitingRelease.count < state.settings.maxAwaitingRel else {
            disconnect(.receiveMaximumExceeded, reason: "more than \(state.settings.maxAwaitingRel) QoS 2 messages awaiting PUBREL")
            return false
        }
        return true
    }

    private func ackCode(_ matched: Int) -> MQTTReasonCode {
        version == .v5 && matched == 0 ? .noMatchingSubscribers : .success
    }

    func handlePubRel(_ packet: MQTTPublishAckPacket) {
        let known = session?.release(packet.packetIdentifier) ?? false
        send(.pubcomp(MQTTPublishAckPacket(packetIdentifier: packet.packetIdentifier,
                                           reasonCode: known ? .success : .packetIdentifierNotFound)))
    }

    // MARK: Acknowledgements of outbound messages

    func handlePubAck(_ packet: MQTTPublishAckPacket) {
        guard let session else { return }
        if session.complete(packet.packetIdentifier, expecting: .awaitingAck) { session.drainQueue(now: now) }
    }

    func handlePubRec(_ packet: MQTTPublishAckPacket) {
        guard let session else { return }
        if packet.reasonCode.isFailure {
            session.abandon(packet.packetIdentifier)
            return session.drainQueue(now: now)
        }
        let known = session.received(packet.packetIdentifier, now: now)
        send(.pubrel(MQTTPublishAckPacket(packetIdentifier: packet.packetIdentifier,
                                          reasonCode: known ? .success : .packetIdentifierNotFound)))
    }

    func handlePubComp(_ packet: MQTTPublishAckPacket) {
        guard let session else { return }
        if session.complete(packet.packetIdentifier, expecting: .awaitingComplete) { session.drainQueue(now: now) }
    }

    // MARK: Outbound PUBLISH

    func sendRelease(_ packetIdentifier: UInt16) {
        send(.pubrel(MQTTPublishAckPacket(packetIdentifier: packetIdentifier)))
    }

    /// Writes one delivery as a PUBLISH for this client: its properties (5.0) with the remaining
    /// expiry and subscription identifiers, a topic alias when the client accepts them. A packet
    /// above the client's Maximum Packet Size is not sent (MQTT 5 §3.1.2.11.4); returns false then.
    @discardableResult
    func sendPublish(_ delivery: Delivery, packetIdentifier: UInt16?, dup: Bool) -> Bool {
        let message = delivery.message
        var packet = MQTTPublishPacket(topic: message.topic, payload: message.payload, qos: delivery.qos,
                                       retain: delivery.retain, dup: dup, packetIdentifier: packetIdentifier)
        if version == .v5 {
            packet.properties = message.properties
            if let remaining = message.remainingExpiry(at: now) { packet.properties.append(.messageExpiryInterval(remaining)) }
            for id in delivery.subscriptionIdentifiers { packet.properties.append(.subscriptionIdentifier(id)) }
            if clientMaximumPacketSize < Int.max,
               let size = try? MQTTPacket.publish(packet).encodedLength(version: .v5), size > clientMaximumPacketSize {
                logger.debug("message larger than the client's maximum packet size, not sent", metadata: [
                    "mqtt.client_id": "\(clientID)", "mqtt.topic": "\(message.topic)", "bytes": "\(size)",
                ])
                state.statistics.messagesDropped += 1
                return false
            }
            if outboundAliasMaximum > 0 {
                if let alias = outboundAliases[message.topic] {
                    packet.topic = ""
                    packet.properties.append(.topicAlias(alias))
                } else if outboundAliases.count < Int(outboundAliasMaximum) {
                    let alias = UInt16(outboundAliases.count + 1)
                    outboundAliases[message.topic] = alias
                    packet.properties.append(.topicAlias(alias))
                }
            }
        }
        state.statistics.messagesSent += 1
        send(.publish(packet))
        return true
    }
}
