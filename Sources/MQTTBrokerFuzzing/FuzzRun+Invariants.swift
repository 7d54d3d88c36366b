import MQTTBroker
import MQTTCore
import NIOCore

/// Closed connections, and the checks of the broker's state after every step.
extension FuzzRun {
    func handleClose(of client: FuzzClient) throws {
        client.closeHandled = true
        if !client.endedByClient { report.closedByBroker += 1 }
        trace("slot \(client.slot) closed\(client.endedByClient ? " by the client" : " by the broker")")
        guard client.accepted, !client.tainted else { return }
        if client.version == .v5 && !client.endedByClient {
            try expect(client.lastPacketFromBroker == .disconnect, client,
                       "the broker closed a 5.0 connection after CONNACK without DISCONNECT (last packet: \(client.lastPacketFromBroker.map { "\($0)" } ?? "none"))")
        }
        let willDeleted = client.sentNormalDisconnect && !client.brokerSentDisconnect
        guard let id = client.clientID, let model = sessions[id] else { return }
        if let seq = client.willSeq {
            if willDeleted {
                try forbidWill(seq, "its connection ended with DISCONNECT 0x00 [MQTT-3.1.2-10]")
            } else {
                wills[seq]?.closedAt = now
                if let slot = model.attached, slot != client.slot, let will = wills[seq], min(will.delay, will.expiry) > 0 {
                    try forbidWill(seq, "a new connection took \(id) over before the Will Delay Interval elapsed [MQTT-3.1.2-8]")
                }
            }
        }
        guard model.attached == client.slot else { return }
        model.attached = nil
        model.detachedAt = now
        if let expiry = client.disconnectExpiry, client.endedByClient, !client.brokerSentDisconnect, !(model.expiry == 0 && expiry != 0) {
            model.expiry = expiry
        }
        // A SUBSCRIBE or UNSUBSCRIBE cut short may have partly taken effect.
        for requests in client.pendingSubscribes.values {
            for request in requests { if let parsed = FuzzTopics.parse(request.topicFilter) { model.everSubscribed.insert(parsed.filter) } }
        }
        for filters in client.pendingUnsubscribes.values { for filter in filters { model.subscriptions[filter] = nil } }
        if model.expiry == 0 {
            model.reset()
            return
        }
        for (seq, obligation) in model.obligations {
            if obligation.qos == .atMostOnce { model.obligations[seq] = nil } else { model.obligations[seq]?.delivered = false }
        }
    }

    private func forbidWill(_ seq: UInt32, _ reason: String) throws {
        guard wills[seq]?.forbidden == nil else { return }
        wills[seq]?.forbidden = reason
        if deliveredSeqs.contains(seq) { throw fail("will \(seq) was published, but \(reason)") }
    }

    func checkState() throws {
        let settings = state.settings
        let open = allClients.filter(\.isOpen).count
        guard state.connections.count == open else {
            throw fail("the broker tracks \(state.connections.count) connections, \(open) are open")
        }
        for client in allClients where client.isOpen && client.refused {
            throw fail("slot \(client.slot): the connection is still open after a refusing CONNACK")
        }
        let attachedSessions = Set(state.connections.values.compactMap { $0.session.map(ObjectIdentifier.init) })
        for (id, session) in state.sessions {
            let name = "session \(id.prefix(20).debugDescription)"
            guard session.clientID == id else { throw fail("\(name) is filed under another client id: \(session.clientID)") }
            guard session.queuedCount <= settings.maxMqueueLen else { throw fail("\(name) queues \(session.queuedCount) > maxMqueueLen \(settings.maxMqueueLen)") }
            guard session.inflightCount <= settings.maxInflight else { throw fail("\(name) has \(session.inflightCount) in flight > maxInflight \(settings.maxInflight)") }
            guard session.awaitingRelease.count <= settings.maxAwaitingRel || options.knownIssues.contains(.awaitingReleaseLimit) else {
                throw fail("\(name) awaits \(session.awaitingRelease.count) PUBRELs > maxAwaitingRel \(settings.maxAwaitingRel)")
            }
            guard settings.maxSubscriptions == 0 || session.subscriptions.count <= settings.maxSubscriptions else {
                throw fail("\(name) has \(session.subscriptions.count) subscriptions > maxSubscriptions \(settings.maxSubscriptions)")
            }
            if attachedSessions.contains(ObjectIdentifier(session)) {
                detachedSince[id] = nil
                continue
            }
            guard session.expiryInterval != 0 else { throw fail("\(name) has no connection and session expiry 0: it should have ended") }
            let oid = ObjectIdentifier(session)
            if detachedSince[id]?.session != oid { detachedSince[id] = (oid, now) }
            if session.expiryInterval != .max, let since = detachedSince[id]?.since,
               now - since > .seconds(Int64(session.expiryInterval) + 1) {
                throw fail("\(name) outlived its expiry of \(session.expiryInterval) s by \((now - since - .seconds(Int64(session.expiryInterval))).nanoseconds / 1_000_000) ms")
            }
        }
        if !anyRaw {
            guard state.sessions.count <= report.connectionsAccepted else {
                throw fail("\(state.sessions.count) sessions from \(report.connectionsAccepted) accepted connections")
            }
            guard state.retained.count <= retainedBound else {
                throw fail("\(state.retained.count) retained messages from \(retainedBound) retained publishes")
            }
        }
        for client in allClients where client.isConnected && !client.tainted {
            try checkConnected(client)
        }
    }

    /// A connected client: its broker session is the one filed under its id, its queue is not
    /// stalled, and every delivery it is owed was written or waits in its queue.
    private func checkConnected(_ client: FuzzClient) throws {
        guard let id = client.clientID else { return }
        guard let session = client.connection.session, state.sessions[id] === session else {
            throw fail("slot \(client.slot): connected as \(id.prefix(20).debugDescription), but the broker's session for that id is not this connection's")
        }
        if options.knownIssues.contains(.lostAcknowledgements), let model = sessions[id], model.attached == client.slot {
            // Whatever the unanswered packets did may have happened.
            for requests in client.pendingSubscribes.values {
                for request in requests { if let parsed = FuzzTopics.parse(request.topicFilter) { model.everSubscribed.insert(parsed.filter) } }
            }
            for filters in client.pendingUnsubscribes.values { for filter in filters { model.subscriptions[filter] = nil } }
            client.pendingSubscribes.removeAll()
            client.pendingUnsubscribes.removeAll()
        }
        // Nothing here waits for anything (no store, no password check): every packet that asks
        // for an answer has it by the end of the step, or the connection is gone.
        let unanswered = client.pendingSubscribes.keys.map { "SUBSCRIBE \($0)" } + client.pendingUnsubscribes.keys.map { "UNSUBSCRIBE \($0)" }
            + client.pendingPublishes.keys.map { "PUBLISH \($0)" } + client.releasesSent.keys.map { "PUBREL \($0)" }
            + (client.pendingPings > 0 ? ["PINGREQ"] : [])
        if !unanswered.isEmpty {
            throw fail("slot \(client.slot) (\(id)): the connection is open but the broker did not answer \(unanswered.sorted().joined(separator: ", "))")
        }
        if client.channel.isWritable && session.queuedCount > 0 && session.inflightCount < session.window {
            throw fail("slot \(client.slot): \(session.queuedCount) messages wait in the queue while only \(session.inflightCount) of \(session.window) are in flight: the queue is stalled")
        }
        guard let model = sessions[id], model.attached == client.slot, !model.tainted, !model.obligations.isEmpty else { return }
        var queued: Set<UInt32>?
        for (seq, obligation) in model.obligations where !obligation.delivered {
            let waiting = queued ?? Set(session.queue.compactMap { FuzzVocabulary.seq(of: $0.message.payload.readableBytesView) })
            queued = waiting
            if waiting.contains(seq) { continue }
            if session.dropped > obligation.droppedBaseline {
                report.deliveriesExcused += 1
                model.obligations[seq] = nil
                continue
            }
            throw fail("slot \(client.slot) (\(id)): seq \(seq) on \(obligation.topic.prefix(60).debugDescription) from \(obligation.publisher) was acknowledged to its publisher and matches the subscription \(obligation.filter.prefix(60).debugDescription) (QoS \(obligation.qos)), but it was neither delivered nor queued, and the queue dropped nothing")
        }
    }
}
