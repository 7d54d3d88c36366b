import MQTTBroker
import MQTTCore
import NIOCore

/// PUBLISH and acknowledgement operations.
extension FuzzRun {
    func publish() {
        let slot = input.byte(), flags = input.byte()
        let topic = FuzzVocabulary.topic(&input, maxDepth: maxDepth)
        let aliasByte = input.byte(), split = input.byte()
        guard let client = openClient(slot) else { return }
        let qos = MQTTQoS(rawValue: min(flags & 3, 2)) ?? .atMostOnce
        let retain = flags & 4 != 0, dup = flags & 8 != 0
        let setsAlias = flags & 0x10 != 0, aliasOnly = flags & 0x20 != 0, expires = flags & 0x40 != 0
        let empty = flags & 0x80 != 0
        let v5 = client.version == .v5
        var properties = MQTTProperties()
        var resolved: String? = topic
        if v5 && (setsAlias || aliasOnly) {
            let alias = UInt16(1 + aliasByte % 12)
            properties.append(.topicAlias(alias))
            if aliasOnly || topic.isEmpty {
                resolved = client.aliases[alias]  // an empty topic with an alias is a lookup
            } else if alias <= client.aliasMaximum {
                client.aliases[alias] = topic
            }
        }
        if v5 && expires { properties.append(.messageExpiryInterval(UInt32(aliasByte % 3))) }
        let seq = empty ? nil : newSeq(qos: qos, retain: retain)
        if retain { retainedBound += 1 }
        var id: UInt16?
        if qos != .atMostOnce {
            id = dup ? client.lastPublishID : client.allocatePacketID()
        }
        if let id { client.lastPublishID = id }
        let sentTopic = v5 && aliasOnly ? "" : topic
        trace("publish \(client.slot) \(sentTopic.prefix(40).debugDescription)→\(resolved.map { String($0.prefix(40)) } ?? "?") q\(qos.rawValue)\(retain ? " retain" : "")\(dup ? " dup" : "") id \(id ?? 0) seq \(seq ?? 0)")
        if let id {
            recordPending(client, id: id, seq: seq, topic: resolved, qos: qos, expires: v5 && expires)
        }
        let payload = seq.map { FuzzVocabulary.payload(seq: $0) } ?? []
        let packet = MQTTPublishPacket(topic: sentTopic, payload: ByteBuffer(bytes: payload), qos: qos, retain: retain,
                                       dup: dup, packetIdentifier: id, properties: properties)
        client.send(.publish(packet), version: version(of: client), split: Int(split))
    }

    func publishBurst() {
        let slot = input.byte(), count = Int(input.byte() % 64), qosByte = input.byte()
        let topic = FuzzVocabulary.topic(&input, maxDepth: maxDepth)
        guard let client = openClient(slot) else { return }
        let qos = MQTTQoS(rawValue: min(qosByte & 3, 2)) ?? .atMostOnce
        trace("burst \(client.slot) \(count)× \(topic.prefix(40).debugDescription) q\(qos.rawValue)")
        for _ in 0..<count {
            let seq = newSeq(qos: qos, retain: false)
            var id: UInt16?
            if qos != .atMostOnce {
                let next = client.allocatePacketID()
                recordPending(client, id: next, seq: seq, topic: topic, qos: qos, expires: false)
                id = next
            }
            let packet = MQTTPublishPacket(topic: topic, payload: ByteBuffer(bytes: FuzzVocabulary.payload(seq: seq)), qos: qos,
                                           packetIdentifier: id)
            client.send(.publish(packet), version: version(of: client))
        }
    }

    private func recordPending(_ client: FuzzClient, id: UInt16, seq: UInt32?, topic: String?, qos: MQTTQoS, expires: Bool) {
        var duplicate = false
        if qos == .exactlyOnce, let clientID = client.clientID {
            duplicate = sessions[clientID]?.awaitingRelease.contains(id) == true
                || state.sessions[clientID]?.awaitingRelease[id] != nil
        }
        client.pendingPublishes[id, default: []].append(
            SentMessage(seq: seq, topic: topic, qos: qos, expires: expires, duplicate: duplicate))
    }

    // MARK: Acknowledgements

    func acknowledge() {
        let slot = input.byte(), kind = input.byte() & 3, which = input.byte()
        let raw = which & 0x80 != 0 ? input.u16() : nil
        let reasonByte = input.byte()
        guard let client = openClient(slot) else { return }
        let candidates: [UInt16] = switch kind {
        case 0, 1: client.received.map(\.id)
        case 2: client.pubrecs
        default: client.releases
        }
        let id = raw ?? (candidates.isEmpty ? 1 : candidates[candidates.count - 1 - Int(which & 0x7F) % candidates.count])
        let reason = client.version == .v5 ? MQTTReasonCode(rawValue: reasonByte) : .success
        trace("ack \(client.slot) \(["PUBACK", "PUBREC", "PUBREL", "PUBCOMP"][Int(kind)]) \(id) \(reason)")
        sendAck(client, kind: kind, id: id, reason: reason)
    }

    /// Acknowledges what `client` received, in order, as a correct client does.
    func acknowledgeAll() {
        guard let client = openClient(input.byte()) else { return }
        trace("ack all \(client.slot): \(client.received.count) publishes, \(client.releases.count) releases, \(client.pubrecs.count) pubrecs")
        let received = client.received, releases = client.releases, pubrecs = client.pubrecs
        client.received.removeAll()
        client.releases.removeAll()
        client.pubrecs.removeAll()
        for (id, qos) in received { sendAck(client, kind: qos == .atLeastOnce ? 0 : 1, id: id, reason: .success) }
        for id in releases { sendAck(client, kind: 3, id: id, reason: .success) }
        for id in pubrecs { sendAck(client, kind: 2, id: id, reason: .success) }
    }

    private func sendAck(_ client: FuzzClient, kind: UInt8, id: UInt16, reason: MQTTReasonCode) {
        guard client.isOpen else { return }
        let ack = MQTTPublishAckPacket(packetIdentifier: id, reasonCode: reason)
        let model = client.clientID.flatMap { sessions[$0] }
        switch kind {
        case 0, 1, 3:
            // Any acknowledgement of an id ends what the model owes for it (the broker may
            // accept a PUBACK for a QoS 2 message): fewer checks, never a false alarm.
            if kind == 1 && client.outstanding[id] != nil && client.exactlyOnce.contains(id) { client.expectedReleases.insert(id) }
            client.exactlyOnce.remove(id)
            if let entry = client.outstanding.removeValue(forKey: id), let seq = entry, model?.attached == client.slot {
                model?.obligations[seq] = nil
            }
        default:
            client.releasesSent[id] = model?.awaitingRelease.contains(id) == true && model?.tainted == false
            model?.awaitingRelease.remove(id)
        }
        let packet: MQTTPacket = switch kind {
        case 0: .puback(ack)
        case 1: .pubrec(ack)
        case 2: .pubrel(ack)
        default: .pubcomp(ack)
        }
        client.send(packet, version: version(of: client))
    }
}
