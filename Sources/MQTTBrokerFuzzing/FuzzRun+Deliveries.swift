import MQTTBroker
import MQTTCore
import NIOCore

/// Deliveries, the acknowledgements of our PUBLISHes, and what each of them owes.
extension FuzzRun {
    func handleDelivery(_ publish: MQTTPublishPacket, client: FuzzClient) throws {
        var topic = publish.topic
        if client.version == .v5, let alias = publish.properties.topicAlias {
            if topic.isEmpty {
                guard let known = client.brokerAliases[alias] else { throw fail("slot \(client.slot): PUBLISH with unknown topic alias \(alias)") }
                topic = known
            } else {
                client.brokerAliases[alias] = topic
            }
        }
        try expect(FuzzTopics.isValidName(topic), client, "PUBLISH to invalid topic name \(topic.prefix(60).debugDescription)")
        if let id = publish.packetIdentifier {
            client.received.append((id, publish.qos))
            if client.received.count > 64 { client.received.removeFirst(client.received.count - 64) }
        }
        guard let seq = FuzzVocabulary.seq(of: publish.payload.readableBytesView) else { return }
        trace("slot \(client.slot) ← PUBLISH seq \(seq) q\(publish.qos.rawValue) id \(publish.packetIdentifier ?? 0)\(publish.dup ? " dup" : "")\(publish.retain ? " retain" : "") \(topic.prefix(40))")
        if let id = publish.packetIdentifier, let previous = client.outstanding[id] {
            try expect(publish.dup && previous == seq, client,
                       "PUBLISH seq \(seq) with packet id \(id)\(publish.dup ? " (DUP)" : ""), which is still in use by \(previous.map { "seq \($0)" } ?? "a PUBREL") and not acknowledged")
        }
        if let id = publish.packetIdentifier {
            client.outstanding[id] = .some(seq)
            if publish.qos == .exactlyOnce { client.exactlyOnce.insert(id) } else { client.exactlyOnce.remove(id) }
        }
        deliveredSeqs.insert(seq)
        client.delivered.insert(seq)
        if let will = wills[seq], let reason = will.forbidden {
            throw fail("will \(seq) of \(will.clientID) was published, but \(reason)")
        }
        if !anyRaw, let message = messages[seq] {
            try expect(publish.qos <= message.qos, client, "seq \(seq) delivered at QoS \(publish.qos), published at \(message.qos)")
            try expect(!publish.retain || message.retain, client, "seq \(seq) delivered with RETAIN, published without")
        }
        guard let id = client.clientID, let model = sessions[id], model.attached == client.slot, !model.tainted else { return }
        if !anyRaw {
            try expect(model.everSubscribed.contains { FuzzTopics.matches(filter: $0, topic: topic) }, client,
                       "seq \(seq) on \(topic.prefix(60).debugDescription) delivered, but no subscription of the session ever matched it")
        }
        if var obligation = model.obligations[seq], !obligation.delivered {
            report.deliveriesSeen += 1
            obligation.delivered = true
            model.obligations[seq] = publish.qos == .atMostOnce ? nil : obligation
        }
    }

    func handlePublishAck(_ ack: MQTTPublishAckPacket, isPubRec: Bool, client: FuzzClient, v5: Bool) throws {
        let name = isPubRec ? "PUBREC" : "PUBACK"
        guard var queue = client.pendingPublishes[ack.packetIdentifier], !queue.isEmpty else {
            throw fail("slot \(client.slot): \(name) for packet id \(ack.packetIdentifier), which no PUBLISH of ours awaits")
        }
        let sent = queue.removeFirst()
        client.pendingPublishes[ack.packetIdentifier] = queue.isEmpty ? nil : queue
        try expect(isPubRec == (sent.qos == .exactlyOnce), client, "\(name) for a QoS \(sent.qos) PUBLISH")
        let code = ack.reasonCode
        trace("slot \(client.slot) ← \(name) \(ack.packetIdentifier) \(code) seq \(sent.seq ?? 0)")
        if v5 {
            try expect(code == .success || code == .noMatchingSubscribers || code.isFailure, client, "\(name) with reason \(code)")
        }
        guard !code.isFailure else {
            report.refusals += 1
            return
        }
        if isPubRec {
            client.pubrecs.append(ack.packetIdentifier)
            if let id = client.clientID { sessions[id]?.awaitingRelease.insert(ack.packetIdentifier) }
        }
        report.publishesAcknowledged += 1
        guard !sent.duplicate, !client.tainted, let publisher = client.clientID, let topic = sent.topic else { return }
        try expect(FuzzTopics.isValidName(topic), client, "\(name) \(code) for a PUBLISH to invalid topic name \(topic.prefix(60).debugDescription)")
        guard let seq = sent.seq, !sent.expires, !FuzzTopics.isSys(topic) else { return }
        let matched = owe(seq: seq, topic: topic, qos: sent.qos, publisher: publisher)
        if v5 && code == .noMatchingSubscribers && matched {
            throw fail("slot \(client.slot): \(name) 0x10 No matching subscribers for seq \(seq) on \(topic.prefix(60).debugDescription), but a connected client's subscription matches it")
        }
    }

    /// Records seq as owed to every modelled session whose subscriptions match `topic`; returns
    /// whether a connected session's subscription (shared ones included) matched.
    private func owe(seq: UInt32, topic: String, qos: MQTTQoS, publisher: String) -> Bool {
        var connectedMatch = false
        for model in sessions.values where !model.tainted {
            let subscriber = model.attached.flatMap { clients[$0] }
            let connected = subscriber?.isConnected == true
            var best: (qos: MQTTQoS, filter: String)?
            for subscription in model.subscriptions.values where FuzzTopics.matches(filter: subscription.filter, topic: topic) {
                if subscription.noLocal && model.clientID == publisher { continue }
                if connected { connectedMatch = true }
                guard !subscription.shared else { continue }  // one member of the group gets it
                if best.map({ subscription.qos > $0.qos }) ?? true { best = (subscription.qos, subscription.filter) }
            }
            guard let best else { continue }
            let delivery = min(qos, best.qos)
            // Owed to a connected client (unless it limits packet sizes), or to a persistent
            // session offline at QoS 1/2 (queued for it).
            if connected {
                if subscriber?.limitsPacketSize == true || subscriber?.tainted == true { continue }
            } else {
                guard model.attached == nil, model.expiry != 0, delivery != .atMostOnce, state.sessions[model.clientID] != nil else { continue }
            }
            let alreadySeen = connected && subscriber?.delivered.contains(seq) == true
            report.deliveriesOwed += 1
            if alreadySeen {
                report.deliveriesSeen += 1
                if delivery == .atMostOnce { continue }
            }
            model.obligations[seq] = FuzzSessionModel.Obligation(
                qos: delivery, topic: topic, filter: best.filter, publisher: publisher,
                droppedBaseline: droppedBefore[model.clientID] ?? 0, delivered: alreadySeen)
        }
        return connectedMatch
    }

    func handleSubAck(_ ack: MQTTSubAckPacket, client: FuzzClient, v5: Bool) throws {
        guard let requests = client.pendingSubscribes.removeValue(forKey: ack.packetIdentifier) else {
            throw fail("slot \(client.slot): SUBACK for packet id \(ack.packetIdentifier), which no SUBSCRIBE of ours awaits")
        }
        try expect(ack.reasonCodes.count == requests.count, client, "SUBACK with \(ack.reasonCodes.count) codes for \(requests.count) filters")
        trace("slot \(client.slot) ← SUBACK \(ack.packetIdentifier) \(ack.reasonCodes.map(\.description))")
        let model = client.clientID.flatMap { sessions[$0] }
        for (request, code) in zip(requests, ack.reasonCodes) {
            if code.isFailure {
                report.refusals += 1
                try expect(v5 || code == .unspecifiedError, client, "SUBACK code \(code) on 3.1.1")
                continue
            }
            try expect(code.rawValue <= request.qos.rawValue, client, "SUBACK grants \(code) for a QoS \(request.qos) request")
            guard let parsed = FuzzTopics.parse(request.topicFilter) else {
                throw fail("slot \(client.slot): SUBACK grants \(code) for the invalid filter \(request.topicFilter.prefix(60).debugDescription)")
            }
            guard let model, model.attached == client.slot else { continue }
            let qos = MQTTQoS(rawValue: code.rawValue) ?? .atMostOnce
            model.subscriptions[request.topicFilter] = FuzzSessionModel.Subscription(
                qos: qos, noLocal: v5 && request.noLocal, filter: parsed.filter, shared: parsed.group != nil)
            model.everSubscribed.insert(parsed.filter)
        }
    }

    func handleUnsubAck(_ ack: MQTTSubAckPacket, client: FuzzClient, v5: Bool) throws {
        guard let filters = client.pendingUnsubscribes.removeValue(forKey: ack.packetIdentifier) else {
            throw fail("slot \(client.slot): UNSUBACK for packet id \(ack.packetIdentifier), which no UNSUBSCRIBE of ours awaits")
        }
        let model = client.clientID.flatMap { sessions[$0] }
        guard v5 else {
            for filter in filters { model?.subscriptions[filter] = nil }
            return
        }
        try expect(ack.reasonCodes.count == filters.count, client, "UNSUBACK with \(ack.reasonCodes.count) codes for \(filters.count) filters")
        for (filter, code) in zip(filters, ack.reasonCodes) {
            try expect(code == .success || code == .noSubscriptionExisted || code.isFailure, client, "UNSUBACK code \(code)")
            if code.isFailure { report.refusals += 1 }
            if code == .noSubscriptionExisted, let model, model.attached == client.slot, !model.tainted {
                try expect(model.subscriptions[filter] == nil, client,
                           "UNSUBACK 0x11 No subscription existed for \(filter.prefix(60).debugDescription), which the session holds")
            }
            if !code.isFailure { model?.subscriptions[filter] = nil }
        }
    }
}
