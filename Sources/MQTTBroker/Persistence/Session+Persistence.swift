import MQTTCore
import NIOCore

extension Session {
    /// The session's row in the store.
    var storedRecord: StoredSession {
        StoredSession(clientID: clientID, protocolVersion: protocolVersion.rawValue, expiryInterval: expiryInterval,
                      username: username, disconnectedAt: connection == nil ? disconnectedAt : nil, isInProcess: isInProcess)
    }

    /// Records a QoS 1/2 delivery entering the queue (`packetID` nil) or going in flight.
    func persist(_ delivery: inout Delivery, packetID: UInt16?, _ journal: BrokerJournal) {
        if delivery.storeID != 0 {
            if !isInProcess { journal.updateDelivery(id: delivery.storeID, packetID: packetID, awaitingComplete: false) }
            return
        }
        delivery.storeID = journal.newDeliveryID()
        let message = delivery.message
        let clock = message.expiry == nil ? nil : WallClock()
        let stored = StoredMessage(topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
                                   properties: message.properties, expiresAt: message.expiry.flatMap { clock?.wall($0) },
                                   publisher: message.publisher)
        journal.insertDelivery(StoredDelivery(id: delivery.storeID, clientID: clientID, message: stored, qos: delivery.qos,
                                              retain: delivery.retain, subscriptionIdentifiers: delivery.subscriptionIdentifiers,
                                              packetID: packetID, awaitingComplete: false))
    }

    /// A delivery is done (acknowledged, dropped, expired, handed to another session).
    func forget(_ delivery: Delivery?) {
        guard let delivery, delivery.storeID != 0 else { return }
        // A QoS 2 PUBLISH to a network client waits for its commit: that delivery never cancels out.
        journal?.deleteDelivery(id: delivery.storeID, couldCancel: delivery.qos != .exactlyOnce || isInProcess)
    }

    /// An inbound QoS 2 message was routed: its packet id waits for PUBREL.
    func markAwaitingRelease(_ id: UInt16, at now: NIODeadline) {
        awaitingRelease[id] = now
        journal?.record(.addAwaitingRelease(clientID: clientID, packetID: id))
    }

    /// PUBREL came (or awaitRelTimeout passed): false if the packet id was not awaited.
    @discardableResult
    func release(_ id: UInt16) -> Bool {
        guard awaitingRelease.removeValue(forKey: id) != nil else { return false }
        journal?.record(.removeAwaitingRelease(clientID: clientID, packetID: id))
        return true
    }

    /// Puts back what the store held: messages in flight with their packet ids and state, then
    /// the queue, in the order they were routed.
    func restore(inflight entries: [(id: UInt16, delivery: Delivery, awaitingComplete: Bool)], queued: [Delivery], now: NIODeadline) {
        for entry in entries {
            restoreInflight(entry.id, InflightEntry(delivery: entry.delivery, state: entry.awaitingComplete ? .awaitingComplete : .awaitingAck,
                                                    sentAt: now))
        }
        for delivery in queued { restoreQueued(delivery) }
    }
}
