import MQTTCore
import NIOCore

extension BrokerConnection {
    /// SUBSCRIBE: each filter is granted or refused on its own; retained messages follow the
    /// SUBACK as Retain Handling says. A filter that breaks the wildcard rules is a protocol
    /// violation and ends the connection (MQTT-4.8.0-1; 5.0: DISCONNECT 0x82); a valid filter
    /// deeper than `maxTopicLevels` is refused alone on 5.0 (0x8F) and closes a 3.1.1 connection.
    func handleSubscribe(_ packet: MQTTSubscribePacket) {
        guard let session else { return }
        let identifier = version == .v5 ? packet.properties.subscriptionIdentifiers.first : nil
        var codes: [MQTTReasonCode] = []
        var problems: [String] = []
        var retained: [Delivery] = []
        for request in packet.subscriptions {
            guard let filter = MQTTTopicFilter(request.topicFilter) else {
                return refuseInvalidFilter(request.topicFilter, in: "SUBSCRIBE")
            }
            if isTooDeep(filter.filter) {
                guard version == .v5 else { return refuseTooDeep(request.topicFilter, in: "SUBSCRIBE") }
                codes.append(.topicFilterInvalid)
                problems.append("\(request.topicFilter): more than \(state.settings.maxTopicLevels) topic levels")
                continue
            }
            if filter.shareGroup != nil && request.noLocal {
                return disconnect(.protocolError, reason: "No Local on a shared subscription")
            }
            // A shared subscription is authorised on its filter: `$share/g/a/b` like `a/b`.
            guard state.authorize(.subscribe, topic: filter.filter, session: session) else {
                codes.append(.notAuthorized)
                problems.append("\(request.topicFilter): not authorized")
                continue
            }
            let limit = state.settings.maxSubscriptions
            if limit > 0 && session.subscriptions[request.topicFilter] == nil && session.subscriptions.count >= limit {
                codes.append(.quotaExceeded)
                problems.append("\(request.topicFilter): more than \(limit) subscriptions")
                continue
            }
            retained += state.subscribe(session, to: filter, request: request, identifier: identifier)
            codes.append(MQTTReasonCode(rawValue: request.qos.rawValue))
        }
        send(.suback(MQTTSubAckPacket(packetIdentifier: packet.packetIdentifier, reasonCodes: codes,
                                      properties: problemProperties(problems))))
        for delivery in retained {
            session.deliver(delivery, maxQueue: state.settings.maxMqueueLen, queueQoS0: state.settings.mqueueStoreQos0)
        }
    }

    /// UNSUBSCRIBE: 0x11 for a filter the session did not have; invalid and too deep filters
    /// are treated as in SUBSCRIBE.
    func handleUnsubscribe(_ packet: MQTTUnsubscribePacket) {
        guard let session else { return }
        var codes: [MQTTReasonCode] = []
        var problems: [String] = []
        for raw in packet.topicFilters {
            guard let parsed = MQTTTopicFilter(raw) else { return refuseInvalidFilter(raw, in: "UNSUBSCRIBE") }
            if isTooDeep(parsed.filter) {
                guard version == .v5 else { return refuseTooDeep(raw, in: "UNSUBSCRIBE") }
                codes.append(.topicFilterInvalid)
                problems.append("\(raw): more than \(state.settings.maxTopicLevels) topic levels")
            } else if let (filter, _) = session.subscriptions.removeValue(forKey: raw), state.tree.remove(clientID: clientID, filter: filter) {
                session.journal?.record(.deleteSubscription(clientID: clientID, filter: raw))
                codes.append(.success)
            } else {
                codes.append(.noSubscriptionExisted)
            }
        }
        send(.unsuback(MQTTSubAckPacket(packetIdentifier: packet.packetIdentifier, reasonCodes: codes,
                                        properties: problemProperties(problems))))
    }

    /// Whether a topic name or filter has more levels than the broker allows; counts a refusal.
    func isTooDeep(_ topic: String) -> Bool {
        guard MQTTTopic.hasMoreLevels(topic, than: state.settings.maxTopicLevels) else { return false }
        state.statistics.topicLevelsRefused += 1
        logger.notice("topic with too many levels refused", metadata: [
            "mqtt.client_id": "\(clientID)", "mqtt.topic_prefix": "\(topic.prefix(64))",
            "mqtt.max_topic_levels": "\(state.settings.maxTopicLevels)",
        ])
        return true
    }

    /// A topic filter that breaks the rules of MQTT 5 §4.7.1: the connection ends (MQTT-4.8.0-1),
    /// on 5.0 with DISCONNECT 0x82, as for any other protocol error.
    private func refuseInvalidFilter(_ filter: String, in packet: String) {
        logger.info("invalid topic filter, closing connection", metadata: [
            "mqtt.client_id": "\(clientID)", "mqtt.topic_prefix": "\(filter.prefix(64))",
        ])
        disconnect(.protocolError, reason: "\(packet): invalid topic filter \"\(filter.prefix(64))\"")
    }

    /// Ends the connection for a topic deeper than `maxTopicLevels` where no acknowledgement can
    /// refuse it: any 3.1.1 packet (closed), a 5.0 QoS 0 PUBLISH (DISCONNECT 0x90).
    func refuseTooDeep(_ topic: String, in packet: String) {
        disconnect(.topicNameInvalid, reason: "\(packet): more than \(state.settings.maxTopicLevels) topic levels")
    }
}
