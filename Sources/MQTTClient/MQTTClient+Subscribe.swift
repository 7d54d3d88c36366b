import MQTTCore
import NIOCore

extension MQTTClient {
    /// Subscribes, runs `body` with the subscription's messages, and unsubscribes when `body`
    /// returns or throws (unless `unsubscribeOnExit` is false, which leaves the subscription in
    /// a persistent session for the next run).
    ///
    /// On 5.0 each subscription gets a Subscription Identifier of its own (when the broker
    /// supports them and `properties` brings none), so overlapping filters of different
    /// subscriptions are told apart. QoS 1/2 messages nobody has subscribed to yet (a resumed
    /// session delivers before the application subscribes) wait for the first matching
    /// subscription.
    ///
    /// - Parameters:
    ///   - subscriptions: Filters with their options (QoS, No Local, Retain As Published,
    ///     Retain Handling).
    ///   - properties: 5.0 SUBSCRIBE properties: Subscription Identifier, User Properties.
    ///   - acknowledgement: ``MQTTAcknowledgement/manual`` (the default): call
    ///     ``MQTTMessage/ack()`` for each QoS 1/2 message once done with it.
    /// - Throws: ``MQTTClientError/subscribeFailed(topicFilter:reasonCode:reasonString:)`` when
    ///   the broker refuses a filter (the others are unsubscribed again), or what `body` throws.
    public func subscribe<Result>(
        to subscriptions: [MQTTSubscription],
        properties: MQTTProperties = [],
        acknowledgement: MQTTAcknowledgement = .manual,
        unsubscribeOnExit: Bool = true,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (MQTTClientSubscription) async throws -> Result
    ) async throws -> Result {
        var filters: [MQTTTopicFilter] = []
        for subscription in subscriptions {
            guard let filter = MQTTTopicFilter(subscription.topicFilter) else {
                throw MQTTClientError.invalidTopicFilter(subscription.topicFilter)
            }
            filters.append(filter)
        }
        let registration = try await register(filters: filters, properties: properties)
        let (localID, identifier, stream) = registration
        var sent = properties
        if let identifier, sent.subscriptionIdentifiers.isEmpty { sent.append(.subscriptionIdentifier(identifier)) }
        let suback: MQTTSubAckPacket
        do {
            let packetProperties = sent
            suback = try await onLoop { core in core.subscribe(subscriptions, properties: packetProperties) }
        } catch {
            await unregister(localID, filters: [], unsubscribe: false)
            throw error
        }
        if let index = suback.reasonCodes.firstIndex(where: \.isFailure) {
            let granted = zip(subscriptions, suback.reasonCodes).filter { !$0.1.isFailure }.map(\.0.topicFilter)
            await unregister(localID, filters: granted, unsubscribe: true)
            throw MQTTClientError.subscribeFailed(topicFilter: subscriptions[index].topicFilter, reasonCode: suback.reasonCodes[index],
                                                  reasonString: suback.properties.reasonString)
        }
        let subscription = MQTTClientSubscription(subscriptions: subscriptions, grantedReasonCodes: suback.reasonCodes,
                                                  subscriptionIdentifier: sent.subscriptionIdentifiers.first, stream: stream,
                                                  acknowledgement: acknowledgement)
        let filterNames = subscriptions.map(\.topicFilter)
        do {
            let result = try await body(subscription)
            await unregister(localID, filters: filterNames, unsubscribe: unsubscribeOnExit)
            return result
        } catch {
            await unregister(localID, filters: filterNames, unsubscribe: unsubscribeOnExit)
            throw error
        }
    }

    /// Unsubscribes from `filters`; fails with ``MQTTClientError/unsubscribeFailed(topicFilter:reasonCode:reasonString:)``
    /// when the broker refuses one (5.0; "no subscription existed" is not a failure).
    public func unsubscribe(from filters: [String], properties: MQTTProperties = []) async throws(MQTTClientError) {
        let unsuback = try await onLoop { core in core.unsubscribe(filters, properties: properties) }
        if let index = unsuback.reasonCodes.firstIndex(where: \.isFailure), index < filters.count {
            throw .unsubscribeFailed(topicFilter: filters[index], reasonCode: unsuback.reasonCodes[index],
                                     reasonString: unsuback.properties.reasonString)
        }
    }

    private func register(filters: [MQTTTopicFilter], properties: MQTTProperties) async throws(MQTTClientError)
        -> (UInt64, UInt32?, AsyncThrowingStream<MQTTMessage, any Error>)
    {
        try await onLoop { core in
            if case .closed(let error) = core.phase { return core.loop.makeFailedFuture(error) }
            let identifier = properties.subscriptionIdentifiers.first ?? core.nextSubscriptionIdentifier()
            let (id, stream) = core.addLocalSubscription(filters: filters, identifier: identifier)
            return core.loop.makeSucceededFuture((id, identifier, stream))
        }
    }

    /// Ends the local subscription and unsubscribes the filters no other one uses.
    private func unregister(_ localID: UInt64, filters: [String], unsubscribe: Bool) async {
        let box = self.box
        let remaining: [String]
        do {
            remaining = try await loop.submit { () -> [String] in
                let core = box.value
                let remaining = unsubscribe && !core.isClosed ? filters.filter { !core.filterInUse($0, except: localID) } : []
                core.removeLocalSubscription(localID)
                return remaining
            }.get()
        } catch {
            return
        }
        guard !remaining.isEmpty else { return }
        do {
            try await self.unsubscribe(from: remaining)
        } catch {
            // The subscription is over either way; a failed UNSUBSCRIBE leaves the filter to the session.
        }
    }
}
