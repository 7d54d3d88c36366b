import MQTTCore
import NIOCore

extension BrokerState {
    /// Installs the journal and rebuilds sessions, subscriptions, queued and in-flight messages,
    /// inbound QoS 2 state and retained messages from the store. Restored sessions are offline:
    /// their expiry counts from their last disconnection (or from the restart, if they were
    /// connected when the broker stopped).
    func restore(_ snapshot: StoreSnapshot, journal: BrokerJournal) {
        journal.state = self
        self.journal = journal
        let clock = WallClock()
        let now = clock.deadlineNow
        for stored in snapshot.sessions {
            let session = Session(clientID: stored.clientID, protocolVersion: MQTTProtocolVersion(rawValue: stored.protocolVersion) ?? .v5,
                                  window: settings.maxInflight, isInProcess: stored.isInProcess)
            session.expiryInterval = stored.expiryInterval
            session.username = stored.username
            session.disconnectedAt = stored.disconnectedAt ?? clock.wallNow
            session.journal = journal
            sessions[stored.clientID] = session
        }
        for stored in snapshot.subscriptions {
            guard let session = sessions[stored.clientID], let filter = MQTTTopicFilter(stored.filter) else { continue }
            let options = SubscriptionOptions(qos: stored.qos, noLocal: stored.noLocal, retainAsPublished: stored.retainAsPublished,
                                              identifier: stored.identifier)
            tree.insert(clientID: stored.clientID, filter: filter, options: options)
            session.subscriptions[stored.filter] = (filter, options)
        }
        for stored in snapshot.retained { retained.store(stored.brokerMessage(clock: clock)) }
        var inflight: [String: [(id: UInt16, delivery: Delivery, awaitingComplete: Bool)]] = [:]
        var queued: [String: [Delivery]] = [:]
        for stored in snapshot.deliveries {
            var delivery = Delivery(message: stored.message.brokerMessage(clock: clock), qos: stored.qos, retain: stored.retain,
                                    subscriptionIdentifiers: stored.subscriptionIdentifiers, storeID: stored.id)
            // An in-process session's rows do not say whether they went out (Session.isInProcess).
            delivery.redelivery = sessions[stored.clientID]?.isInProcess ?? false
            if let id = stored.packetID {
                inflight[stored.clientID, default: []].append((id, delivery, stored.awaitingComplete))
            } else {
                queued[stored.clientID, default: []].append(delivery)
            }
        }
        for session in sessions.values {
            session.restore(inflight: inflight[session.clientID] ?? [], queued: queued[session.clientID] ?? [], now: now)
        }
        for (clientID, packetID) in snapshot.awaitingRelease { sessions[clientID]?.awaitingRelease[packetID] = now }
        for session in sessions.values where session.expiryInterval != .max {
            let elapsed = clock.wallNow - (session.disconnectedAt ?? clock.wallNow)
            let remaining = max(0, Int64(session.expiryInterval) * 1000 - elapsed)
            scheduleExpiry(session, in: .milliseconds(remaining))
        }
    }
}
