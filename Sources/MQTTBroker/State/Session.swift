import Collections
import MQTTCore
import NIOCore
import Synchronization

/// One client's session (MQTT 5 §4.1): its subscriptions, the outbound QoS 1/2 messages in
/// flight and queued behind them, the inbound QoS 2 packet ids awaiting PUBREL, and its expiry.
/// It outlives connections when the session expiry interval says so.
///
/// Flow control follows EMQX: at most `window` QoS 1/2 messages in flight; the rest waits in a
/// queue of at most `maxMqueueLen`, which drops its oldest message (QoS 0 first) when full.
package final class Session {
    /// `awaitingAck`: PUBLISH sent, PUBACK (QoS 1) or PUBREC (QoS 2) expected.
    /// `awaitingComplete`: PUBREL sent, PUBCOMP expected.
    enum InflightState { case awaitingAck, awaitingComplete }

    struct InflightEntry {
        var delivery: Delivery
        var state: InflightState
        var sentAt: NIODeadline
        /// When it went in flight relative to the others: resends keep this order.
        var order: UInt64 = 0
    }

    package let clientID: String
    /// The user name of the connection attached last, for access rules.
    var username: String?
    var protocolVersion: MQTTProtocolVersion
    /// What the session delivers to now: a network connection or an in-process subscriber.
    var connection: (any SessionEndpoint)?
    /// Distinguishes this session from a later one with the same client id (in-process acks).
    let epoch: UInt64 = Session.nextEpoch()
    private static let epochCounter = Atomic<UInt64>(0)
    private static func nextEpoch() -> UInt64 { epochCounter.add(1, ordering: .relaxed).newValue }
    /// Raw filter → parsed filter and options, to restore, unsubscribe and clean up.
    package var subscriptions: [String: (filter: MQTTTopicFilter, options: SubscriptionOptions)] = [:]
    /// Seconds the session outlives its connection; `UInt32.max` never expires.
    package var expiryInterval: UInt32 = 0
    var expiryTask: Scheduled<Void>?
    /// A will waiting out its Will Delay Interval after the connection closed.
    var pendingWill: (will: MQTTWill, task: Scheduled<Void>)?

    /// By packet id. A plain dictionary, ordered through ``InflightEntry/order`` when resending:
    /// an ordered one removed each acknowledged message in O(window) (it shifted the rest).
    private(set) var inflight: [UInt16: InflightEntry] = [:]
    private var inflightOrder: UInt64 = 0
    package private(set) var queue: Deque<Delivery> = []
    /// QoS 0 deliveries in `queue`: when there are none, a full queue drops its head without
    /// scanning (the scan cost O(queue length) per message and stalled the broker under overload).
    private var queuedQoS0 = 0
    /// Inbound QoS 2 packet ids whose PUBREL has not come yet, with when they arrived.
    package var awaitingRelease: [UInt16: NIODeadline] = [:]
    /// Outbound QoS 1/2 messages allowed in flight.
    package var window: Int
    private var nextPacketID: UInt16 = 1
    /// Messages dropped because the queue was full (for `$SYS` and logs).
    package private(set) var dropped = 0
    /// Set while the session is persistent (expiry > 0) and the broker has a store: every change
    /// of its QoS 1/2 deliveries and inbound QoS 2 state is recorded there.
    var journal: BrokerJournal?
    /// Wall-clock milliseconds of the last disconnection, for the store's expiry on load.
    var disconnectedAt: Int64?
    /// An in-process session (the engine's processes, bridges): its packet identifiers mean
    /// nothing after a restart, since its subscriber restarts with the broker. So the store
    /// does not follow a queued delivery going in flight (a write per message saved); after a
    /// restart all its deliveries come again as queued, marked as redeliveries (DUP). Set from
    /// the kind of endpoint that attaches (``SessionEndpoint/isInProcess``) and kept in the store.
    var isInProcess: Bool

    init(clientID: String, protocolVersion: MQTTProtocolVersion, window: Int, isInProcess: Bool) {
        self.clientID = clientID
        self.protocolVersion = protocolVersion
        self.window = window
        self.isInProcess = isInProcess
    }

    package var queuedCount: Int { queue.count }
    package var inflightCount: Int { inflight.count }

    /// Hands a delivery to the session: sent now when connected and the window allows, else queued.
    /// `queueQoS0` says whether a QoS 0 message for an offline session is kept.
    func deliver(_ delivery: Delivery, maxQueue: Int, queueQoS0: Bool) {
        if let connection, connection.canSend {
            if delivery.qos == .atMostOnce {
                connection.sendPublish(delivery, packetIdentifier: nil, dup: false)
                return
            }
            if queue.isEmpty && inflight.count < window {
                sendInflight(delivery, over: connection)
                return
            }
        } else if connection == nil && delivery.qos == .atMostOnce && !queueQoS0 {
            return
        }
        enqueue(delivery, maxQueue: maxQueue)
    }

    private func enqueue(_ delivery: Delivery, maxQueue: Int) {
        var delivery = delivery
        if queue.count >= maxQueue {
            guard maxQueue > 0 else { dropped += 1; return }
            if queuedQoS0 > 0, let index = queue.firstIndex(where: { $0.qos == .atMostOnce }) {
                queue.remove(at: index)
                queuedQoS0 -= 1
            } else {
                forget(queue.removeFirst())
            }
            dropped += 1
        }
        if let journal, delivery.qos != .atMostOnce { persist(&delivery, packetID: nil, journal) }
        queue.append(delivery)
        if delivery.qos == .atMostOnce { queuedQoS0 += 1 }
    }

    private func sendInflight(_ delivery: Delivery, over connection: any SessionEndpoint) {
        var delivery = delivery
        let id = allocatePacketID()
        if let journal { persist(&delivery, packetID: id, journal) }
        putInflight(id, InflightEntry(delivery: delivery, state: .awaitingAck, sentAt: .now()))
        if !connection.sendPublish(delivery, packetIdentifier: id, dup: delivery.redelivery) { forget(inflight.removeValue(forKey: id)?.delivery) }
    }

    private func allocatePacketID() -> UInt16 {
        while inflight[nextPacketID] != nil { nextPacketID = nextPacketID == .max ? 1 : nextPacketID + 1 }
        let id = nextPacketID
        nextPacketID = nextPacketID == .max ? 1 : nextPacketID + 1
        return id
    }

    /// Sends queued messages while the window has room (after an ack or on reconnect).
    func drainQueue(now: NIODeadline) {
        guard let connection else { return }
        while connection.canSend, inflight.count < window, let next = queue.popFirst() {
            if next.qos == .atMostOnce { queuedQoS0 -= 1 }
            if next.message.isExpired(at: now) { forget(next); continue }
            if next.qos == .atMostOnce {
                connection.sendPublish(next, packetIdentifier: nil, dup: false)
            } else {
                sendInflight(next, over: connection)
            }
        }
    }

    /// PUBACK (QoS 1) or PUBCOMP (QoS 2) arrived: the message is done. False if the id is unknown.
    @discardableResult
    func complete(_ id: UInt16, expecting state: InflightState) -> Bool {
        guard inflight[id]?.state == state else { return false }
        forget(inflight.removeValue(forKey: id)?.delivery)
        return true
    }

    /// PUBREC arrived: the message now waits for PUBCOMP after our PUBREL (sent again for a
    /// repeated PUBREC). False if the id is unknown.
    func received(_ id: UInt16, now: NIODeadline) -> Bool {
        guard let entry = inflight[id], entry.delivery.qos == .exactlyOnce else { return false }
        inflight[id]?.state = .awaitingComplete
        inflight[id]?.sentAt = now
        if entry.delivery.storeID != 0 { journal?.updateDelivery(id: entry.delivery.storeID, packetID: id, awaitingComplete: true) }
        return true
    }

    /// An in-process subscriber acknowledged: the message is done whatever its QoS.
    @discardableResult
    func acknowledge(_ id: UInt16) -> Bool {
        guard let entry = inflight.removeValue(forKey: id) else { return false }
        forget(entry.delivery)
        return true
    }

    /// A PUBREC with an error code ends the QoS 2 exchange for that message.
    func abandon(_ id: UInt16) { forget(inflight.removeValue(forKey: id)?.delivery) }

    /// Sends again every message in flight (DUP set) and every PUBREL awaited, in order:
    /// on reconnect, and for 3.1.1 sessions after `retryInterval`.
    func resendInflight(olderThan cutoff: NIODeadline? = nil, now: NIODeadline) {
        guard let connection else { return }
        for (id, entry) in inflightInOrder {
            if let cutoff, entry.sentAt > cutoff { continue }
            inflight[id]?.sentAt = now
            switch entry.state {
            case .awaitingAck:
                connection.sendPublish(entry.delivery, packetIdentifier: id, dup: true)
            case .awaitingComplete:
                connection.sendRelease(id)
            }
        }
    }

    /// Forgets inbound QoS 2 packet ids whose PUBREL did not come by `cutoff` (awaitRelTimeout).
    func expireAwaitingRelease(before cutoff: NIODeadline) -> Int {
        let stale = awaitingRelease.filter { $0.value < cutoff }.map(\.key)
        for id in stale { release(id) }
        return stale.count
    }

    /// Removes and returns the shared-subscription deliveries not yet acknowledged (in flight or
    /// queued), for another member of their group when this session ends.
    func takeSharedDeliveries() -> [Delivery] {
        var taken = inflightInOrder.compactMap { $0.entry.delivery.shareGroup == nil ? nil : $0.entry.delivery }
        inflight = inflight.filter { $0.value.delivery.shareGroup == nil }
        taken += queue.filter { $0.shareGroup != nil }
        queue.removeAll { $0.shareGroup != nil }
        for delivery in taken { forget(delivery) }
        queuedQoS0 = queue.reduce(0) { $0 + ($1.qos == .atMostOnce ? 1 : 0) }
        return taken
    }

    /// Restores an entry read from the store, keeping its packet id.
    func restoreInflight(_ id: UInt16, _ entry: InflightEntry) {
        putInflight(id, entry)
        nextPacketID = id == .max ? 1 : id + 1
    }

    private func putInflight(_ id: UInt16, _ entry: InflightEntry) {
        var entry = entry
        inflightOrder += 1
        entry.order = inflightOrder
        inflight[id] = entry
    }

    /// The messages in flight in the order they went out.
    private var inflightInOrder: [(id: UInt16, entry: InflightEntry)] {
        inflight.sorted { $0.value.order < $1.value.order }.map { ($0.key, $0.value) }
    }

    /// Restores a queued delivery read from the store.
    func restoreQueued(_ delivery: Delivery) {
        queue.append(delivery)
    }

    /// Drops all outbound state (clean start, or the session ended).
    func reset() {
        inflight.removeAll()
        queue.removeAll()
        queuedQoS0 = 0
        awaitingRelease.removeAll()
    }
}

/// Where a session's messages go: a client connection, or an in-process subscriber.
protocol SessionEndpoint: AnyObject {
    /// Whether this is an in-process attachment (the engine's API) rather than a network connection.
    var isInProcess: Bool { get }
    /// False while the receiver is not keeping up (the socket's write buffer is above its high
    /// watermark): deliveries wait in the session queue, bounded by maxMqueueLen, instead of
    /// piling up in memory.
    var canSend: Bool { get }
    /// Sends one delivery (`packetIdentifier` nil for QoS 0). False when it cannot be sent at all
    /// (larger than the receiver accepts), which ends that message for this session.
    @discardableResult
    func sendPublish(_ delivery: Delivery, packetIdentifier: UInt16?, dup: Bool) -> Bool
    /// Sends PUBREL for a QoS 2 message whose PUBREC came.
    func sendRelease(_ packetIdentifier: UInt16)
    /// Another attachment took the session's client id over.
    func takeOver()
    /// Ends the attachment, with `reasonCode` where the protocol can carry it.
    func disconnect(_ reasonCode: MQTTReasonCode, reason: String?)
}
