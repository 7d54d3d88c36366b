import MQTTBroker
import MQTTCore
import NIOCore
import NIOEmbedded

/// The operations: each reads all its operands first (so an input's framing never depends on
/// the broker's state), then acts on its client slot if there is one to act on.
extension FuzzRun {
    func perform(_ code: UInt8) throws {
        guard let op = BrokerFuzzScript.Op(rawValue: code % 16) else {
            return code % 16 == 14 ? subscribe() : publish()  // the two spare codes weigh the commonest operations
        }
        switch op {
        case .connect: try connect()
        case .subscribe: subscribe()
        case .unsubscribe: unsubscribe()
        case .publish: publish()
        case .acknowledge: acknowledge()
        case .acknowledgeAll: acknowledgeAll()
        case .ping:
            if let client = openClient(input.byte()) {
                client.pendingPings += 1
                client.send(.pingreq, version: version(of: client))
            }
        case .disconnect: disconnect()
        case .drop:
            if let client = openClient(input.byte()) {
                trace("drop \(client.slot)")
                client.endedByClient = true
                client.channel.close(promise: nil)
            }
        case .raw: try raw()
        case .advance: try advance()
        case .toggleWritable:
            if let client = openClient(input.byte()) {
                client.channel.isWritable.toggle()
                trace("writable \(client.slot) \(client.channel.isWritable)")
                client.channel.pipeline.fireChannelWritabilityChanged()
            }
        case .publishSys:
            trace("publishSys")
            retainedBound += 11
            state.publishSys()
        case .publishBurst: publishBurst()
        }
    }

    func version(of client: FuzzClient?) -> MQTTProtocolVersion { client?.version ?? .v5 }

    /// The open client of the slot a byte names, nil when there is none.
    func openClient(_ byte: UInt8) -> FuzzClient? {
        guard let client = clients[Int(byte & 3)], client.isOpen else { return nil }
        return client
    }

    private func newClient(_ slot: Int) throws -> FuzzClient {
        if let client = clients[slot], client.isOpen { return client }
        let client = try FuzzClient(slot: slot, loop: loop, state: state)
        clients[slot] = client
        allClients.append(client)
        return client
    }

    func newSeq(qos: MQTTQoS, retain: Bool) -> UInt32 {
        let seq = nextSeq
        nextSeq += 1
        messages[seq] = (qos, retain)
        return seq
    }

    private func qos(_ byte: UInt8) -> MQTTQoS { MQTTQoS(rawValue: min(byte & 3, 2)) ?? .atMostOnce }

    // MARK: Connections

    private func connect() throws {
        let who = input.byte(), flags = input.byte()
        let expiryIndex = input.byte(), delayIndex = input.byte(), keepAliveIndex = input.byte(), extras = input.byte()
        let willTopic = flags & 4 != 0 ? FuzzVocabulary.topic(&input, maxDepth: maxDepth) : nil
        let slot = Int(who & 3)
        let id = Self.clientIDs[Int(who >> 2) & 3]
        let v5 = flags & 1 != 0
        let cleanStart = flags & 2 != 0
        let version: MQTTProtocolVersion = v5 ? .v5 : .v311
        let requested = BrokerFuzzScript.expiries[Int(expiryIndex) % BrokerFuzzScript.expiries.count]
        let expiry: UInt32 = v5 ? requested : (cleanStart ? 0 : .max)
        let delay = v5 ? BrokerFuzzScript.willDelays[Int(delayIndex) % BrokerFuzzScript.willDelays.count] : 0
        var properties = MQTTProperties()
        if v5 {
            if requested != 0 { properties.append(.sessionExpiryInterval(requested)) }
            if flags & 0x40 != 0 { properties.append(.receiveMaximum(1)) }
            if flags & 0x80 != 0 { properties.append(.maximumPacketSize(UInt32(FuzzClient.maximumPacketSize))) }
            if extras & 1 != 0 { properties.append(.topicAliasMaximum(2)) }
            if extras & 2 != 0 { properties.append(.requestProblemInformation(0)) }
        }
        var will: MQTTWill?
        var willSeq: UInt32?
        if let willTopic {
            let willQoS = qos(flags >> 3), willRetain = flags & 0x20 != 0
            let seq = newSeq(qos: willQoS, retain: willRetain)
            if willRetain { retainedBound += 1 }
            will = MQTTWill(topic: willTopic, payload: ByteBuffer(bytes: FuzzVocabulary.payload(seq: seq)), qos: willQoS,
                            retain: willRetain, properties: delay > 0 ? [.willDelayInterval(delay)] : [])
            willSeq = seq
        }
        let keepAlive = BrokerFuzzScript.keepAlives[Int(keepAliveIndex) % BrokerFuzzScript.keepAlives.count]
        let client = try newClient(slot)
        let packet = MQTTConnectPacket(protocolVersion: version, clientIdentifier: id, cleanStart: cleanStart,
                                       keepAlive: keepAlive, will: will, properties: properties)
        trace("connect \(slot) id=\(id.debugDescription) \(version) clean=\(cleanStart) expiry=\(expiry) keepalive=\(keepAlive) will=\(willTopic.map { "\($0.prefix(40)) delay \(delay) seq \(willSeq ?? 0)" } ?? "none")")
        if client.connectSent {
            // A second CONNECT on the connection: a protocol error the broker must answer.
            return client.send(.connect(packet), version: client.version ?? version)
        }
        client.connectSent = true
        client.version = version
        client.requestedID = id
        client.cleanStart = cleanStart
        client.expiry = expiry
        client.limitsPacketSize = v5 && flags & 0x80 != 0
        client.willSeq = willSeq
        if let willSeq { wills[willSeq] = WillRecord(clientID: id, delay: delay, expiry: expiry) }
        client.send(.connect(packet), version: version)
    }

    private func disconnect() {
        let slot = input.byte(), reasonByte = input.byte(), expiryByte = input.byte()
        guard let client = openClient(slot) else { return }
        let reason: MQTTReasonCode = switch reasonByte {
        case 0: .normalDisconnection
        case 1: .disconnectWithWillMessage
        case 2: .unspecifiedError
        default: MQTTReasonCode(rawValue: reasonByte)
        }
        var properties = MQTTProperties()
        if expiryByte != 0, client.version == .v5 {
            let expiry = BrokerFuzzScript.expiries[Int(expiryByte - 1) % BrokerFuzzScript.expiries.count]
            properties.append(.sessionExpiryInterval(expiry))
            client.disconnectExpiry = expiry
        }
        trace("disconnect \(client.slot) \(reason) expiry \(client.disconnectExpiry.map { "\($0)" } ?? "-")")
        client.endedByClient = true
        client.sentNormalDisconnect = reason == .normalDisconnection || client.version == .v311
        client.send(.disconnect(MQTTDisconnectPacket(reasonCode: reason, properties: properties)), version: version(of: client))
    }

    private func raw() throws {
        let slot = Int(input.byte() & 3)
        let bytes = input.bytes(Int(input.byte()))
        let client = try newClient(slot)
        trace("raw \(slot) \(bytes.count) bytes")
        if !client.connectSent { unknownSessions = true }
        anyRaw = true
        client.tainted = true
        if client.accepted, let id = client.clientID { sessions[id]?.tainted = true }
        client.write(ByteBuffer(bytes: bytes))
    }

    private func advance() throws {
        let total = BrokerFuzzScript.advances[Int(input.byte()) % BrokerFuzzScript.advances.count]
        trace("advance \(total) ms")
        var left = total
        while left > 0 {
            let step = min(left, 500)
            left -= step
            loop.advanceTime(by: .milliseconds(step))
            sweepKeepAlive()
            try settle()
        }
    }

    /// The broker's keepalive sweep with each connection's clock running on virtual time since
    /// its CONNACK (the connection reads the wall clock when it starts counting).
    private func sweepKeepAlive() {
        let wall = NIODeadline.now()
        for client in allClients where client.isOpen && client.accepted {
            client.connection.checkKeepAlive(at: wall + (now - client.acceptedAt))
        }
        state.flushPending()
    }

    // MARK: Subscriptions

    private func subscribe() {
        let slot = input.byte()
        let count = Int(input.byte() % 4)
        var requests: [MQTTSubscription] = []
        for _ in 0..<count {
            let filter = FuzzVocabulary.filter(&input, maxDepth: maxDepth)
            let options = input.byte()
            requests.append(MQTTSubscription(topicFilter: filter, qos: qos(options), noLocal: options & 4 != 0,
                                             retainAsPublished: options & 8 != 0,
                                             retainHandling: MQTTSubscription.RetainHandling(rawValue: min((options >> 4) & 3, 2)) ?? .sendOnSubscribe))
        }
        let identifier = input.byte()
        guard let client = openClient(slot) else { return }
        let id = client.allocatePacketID()
        client.pendingSubscribes[id] = requests
        trace("subscribe \(client.slot) id \(id) \(requests.map { "\($0.topicFilter.prefix(40)) q\($0.qos.rawValue)\($0.noLocal ? " nl" : "")" })")
        let properties: MQTTProperties = identifier != 0 ? [.subscriptionIdentifier(UInt32(identifier))] : []
        client.send(.subscribe(MQTTSubscribePacket(packetIdentifier: id, subscriptions: requests, properties: properties)),
                    version: version(of: client))
    }

    private func unsubscribe() {
        let slot = input.byte()
        let filters = (0..<Int(input.byte() % 4)).map { _ in FuzzVocabulary.filter(&input, maxDepth: maxDepth) }
        guard let client = openClient(slot) else { return }
        let id = client.allocatePacketID()
        client.pendingUnsubscribes[id] = filters
        trace("unsubscribe \(client.slot) id \(id) \(filters.map { $0.prefix(40) })")
        client.send(.unsubscribe(MQTTUnsubscribePacket(packetIdentifier: id, topicFilters: filters)), version: version(of: client))
    }
}
