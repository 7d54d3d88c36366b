import MQTTBroker
import MQTTCore
import NIOCore

/// What the broker wrote to each client, decoded with MQTTCore's decoder and checked packet by packet.
extension FuzzRun {
    func readPackets(of client: FuzzClient) throws {
        guard client.inbox.readableBytes > 0 else { return }
        guard let version = client.version, !client.tainted else {
            client.inbox.clear()  // raw bytes went in: the output follows no model
            return
        }
        while true {
            let packet: MQTTPacket
            let before = client.inbox.readableBytes
            do {
                guard let next = try MQTTPacket.decode(from: &client.inbox, version: version) else { break }
                packet = next
            } catch {
                throw fail("slot \(client.slot): the broker wrote bytes that do not decode on \(version): \(error)")
            }
            report.packetsFromBroker += 1
            let size = before - client.inbox.readableBytes
            if client.limitsPacketSize && size > FuzzClient.maximumPacketSize && !options.knownIssues.contains(.oversizedPackets) {
                throw fail("slot \(client.slot): \(packet.type) of \(size) bytes sent to a client whose Maximum Packet Size is \(FuzzClient.maximumPacketSize) [MQTT-3.1.2-24]\(packet.type == .publish ? "" : " (a Reason String or User Property that does not fit must be left out, MQTT-3.1.2-25)")")
            }
            if client.brokerSentDisconnect {
                throw fail("slot \(client.slot): \(packet.type) written after the broker's DISCONNECT")
            }
            if client.lastPacketFromBroker == nil, packet.type != .connack {
                throw fail("slot \(client.slot): the broker's first packet is \(packet.type), not CONNACK")
            }
            client.lastPacketFromBroker = packet.type
            try handle(packet, from: client, version: version)
        }
        if client.inbox.readableBytes > 0 && !client.isOpen {
            throw fail("slot \(client.slot): the broker's output ends in the middle of a packet")
        }
    }

    private func handle(_ packet: MQTTPacket, from client: FuzzClient, version: MQTTProtocolVersion) throws {
        let v5 = version == .v5
        switch packet {
        case .connack(let connack): try handleConnAck(connack, client: client)
        case .publish(let publish):
            if options.loseDeliveriesToSlot == client.slot { return }
            try handleDelivery(publish, client: client)
        case .puback(let ack), .pubrec(let ack):
            try handlePublishAck(ack, isPubRec: packet.type == .pubrec, client: client, v5: v5)
        case .pubrel(let ack):
            try expect(!v5 || ack.reasonCode == .success || ack.reasonCode == .packetIdentifierNotFound,
                       client, "PUBREL with reason \(ack.reasonCode)")
            client.releases.append(ack.packetIdentifier)
            if client.expectedReleases.remove(ack.packetIdentifier) != nil && ack.reasonCode == .success {
                client.outstanding[ack.packetIdentifier] = .some(nil)
            }
        case .pubcomp(let ack):
            try expect(!v5 || ack.reasonCode == .success || ack.reasonCode == .packetIdentifierNotFound,
                       client, "PUBCOMP with reason \(ack.reasonCode)")
            if v5, client.releasesSent[ack.packetIdentifier] == true {
                try expect(ack.reasonCode == .success, client,
                           "PUBCOMP \(ack.reasonCode) for packet id \(ack.packetIdentifier), whose PUBREC the session sent and whose PUBREL came")
            }
            client.releasesSent[ack.packetIdentifier] = nil
        case .suback(let ack): try handleSubAck(ack, client: client, v5: v5)
        case .unsuback(let ack): try handleUnsubAck(ack, client: client, v5: v5)
        case .pingresp:
            try expect(client.pendingPings > 0, client, "PINGRESP without PINGREQ")
            client.pendingPings -= 1
        case .disconnect(let disconnect):
            try expect(v5, client, "DISCONNECT sent to a 3.1.1 client (3.1.1 has no server DISCONNECT)")
            try expect(disconnect.reasonCode.isFailure, client, "server DISCONNECT with reason \(disconnect.reasonCode), not 0x80 or above")
            trace("slot \(client.slot) ← DISCONNECT \(disconnect.reasonCode) \(disconnect.properties.reasonString ?? "")")
            report.refusals += 1
            client.brokerSentDisconnect = true
        case .auth:
            try expect(v5, client, "AUTH sent to a 3.1.1 client")
        case .connect, .subscribe, .unsubscribe, .pingreq:
            throw fail("slot \(client.slot): the broker sent \(packet.type), a client's packet")
        }
    }

    func expect(_ condition: Bool, _ client: FuzzClient, _ message: @autoclosure () -> String) throws {
        if !condition { throw fail("slot \(client.slot) (\(client.clientID ?? client.requestedID.debugDescription), \(client.version.map { "\($0)" } ?? "?")): \(message())") }
    }

    // MARK: CONNACK

    private func handleConnAck(_ connack: MQTTConnAckPacket, client: FuzzClient) throws {
        try expect(!client.accepted, client, "a second CONNACK")
        trace("slot \(client.slot) ← CONNACK \(connack.reasonCode) present=\(connack.sessionPresent)")
        guard connack.reasonCode == .success else {
            report.refusals += 1
            client.refused = true
            try expect(client.version == .v311 || connack.reasonCode.isFailure, client, "CONNACK refusal \(connack.reasonCode) below 0x80")
            try expect(!connack.sessionPresent, client, "a refusing CONNACK with Session Present 1")
            return
        }
        report.connectionsAccepted += 1
        client.accepted = true
        client.acceptedAt = now
        client.sessionPresent = connack.sessionPresent
        client.aliasMaximum = connack.properties.topicAliasMaximum ?? 0
        var id = client.requestedID
        if id.isEmpty {
            // 5.0 is told the id; a 3.1.1 client's is the broker's secret (its session knows it).
            let assigned = connack.properties.assignedClientIdentifier
            try expect(client.version == .v311 || assigned != nil, client, "no Assigned Client Identifier for an empty client id")
            id = assigned ?? client.connection.session?.clientID ?? "?\(client.slot)-\(allClients.count)"
        }
        client.clientID = id
        if let seq = client.willSeq { wills[seq]?.clientID = id }
        if client.cleanStart {
            try expect(!connack.sessionPresent, client, "Session Present 1 after Clean Start 1")
        }
        let model = sessions[id] ?? FuzzSessionModel(clientID: id)
        sessions[id] = model
        if !unknownSessions && !model.tainted, let expected = expectedPresent(model, cleanStart: client.cleanStart) {
            try expect(connack.sessionPresent == expected, client,
                       "Session Present \(connack.sessionPresent ? 1 : 0), expected \(expected ? 1 : 0) (session expiry \(model.expiry), offline since \(model.detachedAt.map { "\((now - $0).nanoseconds / 1_000_000) ms" } ?? "-"))")
        }
        if !connack.sessionPresent { model.reset() }
        model.attached = client.slot
        model.detachedAt = nil
        model.expiry = client.expiry
        // A resumed session owes again what the last connection did not acknowledge.
        for seq in model.obligations.keys { model.obligations[seq]?.delivered = false }
        try forbidWills(of: id, reason: "a new connection for \(id) opened before the Will Delay Interval elapsed [MQTT-3.1.2-8]")
    }

    /// Whether a CONNACK must say Session Present; nil where timing makes both right.
    private func expectedPresent(_ model: FuzzSessionModel, cleanStart: Bool) -> Bool? {
        if cleanStart { return false }
        if let slot = model.attached, let other = clients[slot], other.isConnected || other.closeHandled == false {
            return model.expiry != 0  // a takeover: the session goes on unless it ends with its connection
        }
        guard let since = model.detachedAt else { return model.attached == nil ? false : nil }
        if model.expiry == 0 { return false }
        if model.expiry == .max { return true }
        let elapsed = now - since
        let limit = TimeAmount.seconds(Int64(model.expiry))
        if elapsed + .seconds(1) < limit { return true }
        if elapsed > limit + .seconds(1) { return false }
        return nil
    }

    /// Wills of `clientID` still waiting out their delay must not be published any more.
    private func forbidWills(of clientID: String, reason: String) throws {
        for (seq, will) in wills where will.clientID == clientID && will.forbidden == nil {
            guard let closedAt = will.closedAt else { continue }
            let delay = min(will.delay, will.expiry)
            guard delay > 0, now < closedAt + .seconds(Int64(delay)) else { continue }
            wills[seq]?.forbidden = reason
            if deliveredSeqs.contains(seq) { throw fail("will \(seq) of \(clientID) was published, but \(reason)") }
        }
    }
}
