import Logging
import MQTTCore
import NIOCore

/// Everything the broker knows, confined to its one event loop: sessions, the subscription
/// tree, retained messages, counters. Connections call into it synchronously from their channel
/// handlers, so the per-message path has no hop, lock or task (docs/design.md, "One message, end to end").
package final class BrokerState {
    let loop: EventLoop
    package var settings: BrokerSettings
    let logger: Logger
    let startedAt: NIODeadline

    package var sessions: [String: Session] = [:]
    let tree = SubscriptionTree()
    package let retained = RetainedStore()
    var statistics = BrokerStatistics()
    /// Every open client connection, with or without a session yet.
    package var connections: [ObjectIdentifier: BrokerConnection] = [:]
    /// Per-address limits and the listener of each server channel (Authentication/AccessGuard.swift).
    let accessGuard = AccessGuard()
    /// With a data directory: where persistent sessions and retained messages record their changes.
    var journal: BrokerJournal?
    /// Callers of ``MQTTBroker/waitForSessions(_:timeout:)`` whose sessions do not all exist yet.
    var sessionWaiters: [SessionWaiter] = []

    /// Connections written to during the current read batch, flushed once at its end.
    private var pendingFlush: [BrokerConnection] = []
    /// Reused between PUBLISHes to collect plain matches without allocating.
    private var matchBuffer: [Match] = []

    private struct Match {
        var clientID: String
        var options: SubscriptionOptions
        var identifiers: [UInt32]
    }

    package init(loop: EventLoop, settings: BrokerSettings, logger: Logger) {
        self.loop = loop
        self.settings = settings
        self.logger = logger
        self.startedAt = .now()
    }

    var now: NIODeadline { .now() }

    // MARK: Flushing

    func markForFlush(_ connection: BrokerConnection) {
        pendingFlush.append(connection)
    }

    /// Whether a ``flushSoon()`` flush is queued on the loop.
    private var flushQueued = false

    /// Flushes after the tasks already queued on the loop: in-process publishes and acks arrive
    /// as one loop task each, and a flush per task was a socket write per message; this gives
    /// them what network reads get, one flush per batch.
    func flushSoon() {
        // Also with nothing to write: the journal's group ends there (see flushPending()).
        guard !flushQueued else { return }
        flushQueued = true
        let this = NIOLoopBound(self, eventLoop: loop)
        loop.execute {
            this.value.flushQueued = false
            this.value.flushPending()
        }
    }

    /// Flushes every connection written to since the last call.
    package func flushPending() {
        journal?.endOfWork()
        guard !pendingFlush.isEmpty else { return }
        let connections = pendingFlush
        pendingFlush.removeAll(keepingCapacity: true)
        for connection in connections { connection.flushIfNeeded() }
    }

    // MARK: Routing

    /// Delivers `message` to every session with a matching subscription, once per session
    /// (highest granted QoS, every matching subscription identifier), and to one member of each
    /// matching shared group. Returns how many sessions it went to.
    @discardableResult
    func route(_ message: BrokerMessage) -> Int {
        statistics.messagesReceived += 1
        matchBuffer.removeAll(keepingCapacity: true)
        var delivered = 0
        tree.forEachMatch(of: message.topic) { node in
            for (clientID, options) in node.subscribers {
                if options.noLocal && clientID == message.publisher { continue }
                matchBuffer.append(Match(clientID: clientID, options: options, identifiers: options.identifier.map { [$0] } ?? []))
            }
            for group in node.shared.values where !group.members.isEmpty {
                if deliverToShareGroup(group, message) { delivered += 1 }
            }
        }
        if matchBuffer.count > 1 { mergeOverlapping() }
        for match in matchBuffer {
            guard let session = sessions[match.clientID] else { continue }
            deliver(message, to: session, options: match.options, identifiers: match.identifiers)
            delivered += 1
        }
        return delivered
    }

    /// Overlapping subscriptions of one session become one delivery: the highest QoS, retain as
    /// published if any asked for it, all subscription identifiers.
    private func mergeOverlapping() {
        var merged: [Match] = []
        merged.reserveCapacity(matchBuffer.count)
        for match in matchBuffer {
            if let index = merged.firstIndex(where: { $0.clientID == match.clientID }) {
                merged[index].options.qos = max(merged[index].options.qos, match.options.qos)
                merged[index].options.retainAsPublished = merged[index].options.retainAsPublished || match.options.retainAsPublished
                merged[index].identifiers += match.identifiers
            } else {
                merged.append(match)
            }
        }
        matchBuffer = merged
    }

    private func deliver(_ message: BrokerMessage, to session: Session, options: SubscriptionOptions, identifiers: [UInt32],
                         shareGroup: SubscriptionTree.SharedGroup? = nil) {
        if !settings.acl.isEmpty,
           !settings.acl.permits(.receive, topic: message.topic, clientID: session.clientID, username: session.username) {
            return
        }
        let delivery = Delivery(message: message, qos: min(message.qos, options.qos),
                                retain: options.retainAsPublished && message.retain, subscriptionIdentifiers: identifiers,
                                shareGroup: shareGroup)
        session.deliver(delivery, maxQueue: settings.maxMqueueLen, queueQoS0: settings.mqueueStoreQos0)
    }

    /// Round robin over the group, preferring members that are connected.
    @discardableResult
    private func deliverToShareGroup(_ group: SubscriptionTree.SharedGroup, _ message: BrokerMessage) -> Bool {
        let count = group.members.count
        var chosen: Int?
        for step in 0..<count {
            let index = (group.next + step) % count
            if sessions[group.members.keys[index]]?.connection != nil { chosen = index; break }
        }
        let index = chosen ?? group.next % count
        group.next = (index + 1) % count
        let (clientID, options) = (group.members.keys[index], group.members.values[index])
        guard let session = sessions[clientID] else { return false }
        deliver(message, to: session, options: options, identifiers: options.identifier.map { [$0] } ?? [], shareGroup: group)
        return true
    }

    /// Routes a message published by a client (or a will): stores it when retained, then routes.
    @discardableResult
    func publish(_ message: BrokerMessage) -> Int {
        if message.retain {
            retained.store(message)
            journal?.retained(message)
        }
        return route(message)
    }

    // MARK: Sessions

    /// Attaches `endpoint` to the session of `clientID`: an attached one is taken over, a clean
    /// start ends the old session, otherwise the session resumes. A will still waiting for its
    /// delay is cancelled either way: a new connection came before the delay elapsed
    /// (MQTT-3.1.2-8). Returns the session and whether it was present.
    func attach(_ endpoint: any SessionEndpoint, clientID: String, cleanStart: Bool, version: MQTTProtocolVersion,
                expiry: UInt32, window: Int) -> (Session, present: Bool) {
        var present = false
        var session = Session(clientID: clientID, protocolVersion: version, window: window, isInProcess: endpoint.isInProcess)
        if let existing = sessions[clientID] {
            existing.connection?.takeOver()
            existing.connection = nil
            existing.expiryTask?.cancel()
            existing.expiryTask = nil
            existing.pendingWill?.task.cancel()
            existing.pendingWill = nil
            // A session with expiry 0 ends with its connection (MQTT 5 §3.1.2.11.2), and taking
            // the connection over ends it, whether or not its close was seen yet.
            if cleanStart || existing.expiryInterval == 0 {
                endSession(existing)
            } else {
                session = existing
                present = true
            }
        }
        session.protocolVersion = version
        session.isInProcess = endpoint.isInProcess
        session.expiryInterval = expiry
        session.window = window
        session.connection = endpoint
        sessions[clientID] = session
        journal?.attached(session)
        sessionAttached(clientID)
        return (session, present)
    }

    /// Whether the access rules let `session` do `action` on `topic`; a denial is logged.
    func authorize(_ action: BrokerACLRule.Actions, topic: String, session: Session) -> Bool {
        guard !settings.acl.isEmpty else { return true }
        if settings.acl.permits(action, topic: topic, clientID: session.clientID, username: session.username) { return true }
        logger.notice("access denied", metadata: [
            "mqtt.client_id": "\(session.clientID)", "mqtt.username": "\(session.username ?? "")",
            "mqtt.topic": "\(topic)", "acl.action": "\(action == .publish ? "publish" : "subscribe")",
        ])
        return false
    }

    /// Adds (or replaces) one subscription of `session` and returns the retained messages it
    /// should receive now, as Retain Handling says (none for shared subscriptions).
    func subscribe(_ session: Session, to filter: MQTTTopicFilter, request: MQTTSubscription, identifier: UInt32?) -> [Delivery] {
        let options = SubscriptionOptions(qos: request.qos, noLocal: request.noLocal,
                                          retainAsPublished: request.retainAsPublished, identifier: identifier)
        let existed = tree.insert(clientID: session.clientID, filter: filter, options: options)
        session.subscriptions[request.topicFilter] = (filter, options)
        session.journal?.subscribed(session, request.topicFilter, options)
        let sendRetained = filter.shareGroup == nil
            && (request.retainHandling == .sendOnSubscribe || (request.retainHandling == .sendOnNewSubscribe && !existed))
        guard sendRetained else { return [] }
        return retained.matching(filter, now: now).map { message in
            Delivery(message: message, qos: min(message.qos, request.qos), retain: true,
                     subscriptionIdentifiers: identifier.map { [$0] } ?? [])
        }
    }

    /// Removes a session and its subscriptions; a will still waiting for its delay is published now.
    func endSession(_ session: Session) {
        session.expiryTask?.cancel()
        session.expiryTask = nil
        if let pending = session.pendingWill {
            pending.task.cancel()
            session.pendingWill = nil
            publishWill(pending.will, clientID: session.clientID)
        }
        for (filter, _) in session.subscriptions.values { tree.remove(clientID: session.clientID, filter: filter) }
        session.subscriptions.removeAll()
        let orphans = session.takeSharedDeliveries()
        session.reset()
        journal?.ended(session)
        if sessions[session.clientID] === session { sessions[session.clientID] = nil }
        // MQTT 5 §4.8.2: a shared message the ended session never acknowledged goes to another member.
        for orphan in orphans {
            if let group = orphan.shareGroup, !group.members.isEmpty { deliverToShareGroup(group, orphan.message) }
        }
    }

    /// The connection of a session closed: keep the session for its expiry interval, or end it.
    func detach(_ session: Session) {
        session.connection = nil
        journal?.detached(session)
        if session.expiryInterval == 0 {
            endSession(session)
        } else if session.expiryInterval != .max {
            scheduleExpiry(session, in: .seconds(Int64(session.expiryInterval)))
        }
    }

    /// Ends the session `delay` from now unless something attached to it by then.
    func scheduleExpiry(_ session: Session, in delay: TimeAmount) {
        session.expiryTask = loop.assumeIsolated().scheduleTask(in: delay) { [weak self, weak session] in
            guard let self, let session, session.connection == nil else { return }
            self.logger.debug("session expired", metadata: ["mqtt.client_id": "\(session.clientID)"])
            self.endSession(session)
            self.flushPending()
        }
    }

    func publishWill(_ will: MQTTWill, clientID: String) {
        var properties = will.properties
        var expiry: NIODeadline?
        if let interval = properties.messageExpiryInterval { expiry = now + .seconds(Int64(interval)) }
        properties.elements.removeAll {
            if case .willDelayInterval = $0 { return true }
            if case .messageExpiryInterval = $0 { return true }
            return false
        }
        logger.debug("publishing will", metadata: ["mqtt.client_id": "\(clientID)", "mqtt.topic": "\(will.topic)"])
        publish(BrokerMessage(topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain,
                              properties: properties, expiry: expiry, publisher: clientID))
    }
}
