import MQTTCore
import NIOCore

extension BrokerConnection {
    /// SUBSCRIBE: each filter is granted or refused on its own (0x8F / 0x80 for an invalid one);
    /// retained messages follow the SUBACK as Retain Handling says.
    func handleSubscribe(_ packet: MQTTSubscribePacket) {
        guard let session else { return }
        let identifier = version == .v5 ? packet.properties.subscriptionIdentifiers.first : nil
        var codes: [MQTTReasonCode] = []
        var problems: [String] = []
        var retained: [Delivery] = []
        for request in packet.subscriptions {
            guard let filter = MQTTTopicFilter(request.topicFilter) else {
                logger.debug("invalid topic filter", metadata: ["mqtt.client_id": "\(clientID)", "mqtt.topic": "\(request.topicFilter)"])
                codes.append(.topicFilterInvalid)
                problems.append("\(request.topicFilter): invalid topic filter")
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

    /// A Reason String for the refusals of one acknowledgement, when the client accepts one.
    func problemProperties(_ problems: [String]) -> MQTTProperties {
        guard version == .v5, sendsProblemInformation, !problems.isEmpty else { return [] }
        return [.reasonString(problems.joined(separator: "; "))]
    }

    /// UNSUBSCRIBE: 0x11 for a filter the session did not have.
    func handleUnsubscribe(_ packet: MQTTUnsubscribePacket) {
        guard let session else { return }
        var codes: [MQTTReasonCode] = []
        for raw in packet.topicFilters {
            if let (filter, _) = session.subscriptions.removeValue(forKey: raw), state.tree.remove(clientID: clientID, filter: filter) {
                session.journal?.record(.deleteSubscription(clientID: clientID, filter: raw))
                codes.append(.success)
            } else {
                codes.append(MQTTTopicFilter(raw) == nil ? .topicFilterInvalid : .noSubscriptionExisted)
            }
        }
        send(.unsuback(MQTTSubAckPacket(packetIdentifier: packet.packetIdentifier, reasonCodes: codes)))
    }
}
