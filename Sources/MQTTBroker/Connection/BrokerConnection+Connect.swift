import MQTTCore
import NIOCore

extension BrokerConnection {
    /// CONNECT, second half, once the client is admitted and authenticated as `username`: take
    /// over or resume its session, answer CONNACK (with `properties`, e.g. the SCRAM server-final),
    /// and send what the resumed session still owes.
    func acceptConnect(_ connect: MQTTConnectPacket, username: String?, properties extra: MQTTProperties = []) {
        connectTimeout?.cancel()
        access.pendingConnect = nil
        let settings = state.settings
        func refuse(_ code: MQTTReasonCode, _ reason: String) { refuseConnect(code, reason) }

        var id = connect.clientIdentifier
        var assigned: String?
        if id.isEmpty {
            guard version == .v5 || connect.cleanStart else {
                return refuse(.clientIdentifierNotValid, "an empty client id needs a clean session")
            }
            id = "junction-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
            if version == .v5 { assigned = id }
        }
        // Taking over (or discarding) another user's session is refused wherever users are
        // authenticated; anonymous setups keep Mosquitto's behaviour (any client may).
        if let existing = state.sessions[id], existing.username != username, state.authenticatesUsers {
            return refuse(.notAuthorized, "client id \(id) belongs to another user's session")
        }
        clientID = id

        let expiry: UInt32 = version == .v5 ? (connect.properties.sessionExpiryInterval ?? 0) : (connect.cleanStart ? 0 : .max)
        let receiveMaximum = Int(connect.properties.receiveMaximum ?? .max)
        let window = max(1, min(settings.maxInflight, receiveMaximum))

        let (session, sessionPresent) = state.attach(self, clientID: id, cleanStart: connect.cleanStart,
                                                     version: version, expiry: expiry, window: window)
        self.session = session
        session.username = username
        will = connect.will
        phase = .connected

        var keepAlive = connect.keepAlive
        var serverKeepAlive: UInt16?
        // Only a 5.0 client can be told to use a shorter keepalive (Server Keep Alive).
        if version == .v5 && (keepAlive > settings.maxKeepalive || (keepAlive == 0 && settings.maxKeepalive < .max)) {
            keepAlive = settings.maxKeepalive
            serverKeepAlive = keepAlive
        }
        if keepAlive > 0 { enforceKeepAlive(keepAlive) }

        var properties = MQTTProperties()
        if version == .v5 {
            for property in extra { properties.append(property) }
            outboundAliasMaximum = connect.properties.topicAliasMaximum ?? 0
            sendsProblemInformation = connect.properties.requestProblemInformation != 0
            inboundAliasMaximum = settings.topicAliasMaximum
            if settings.maxAwaitingRel < 65_535 { properties.append(.receiveMaximum(UInt16(settings.maxAwaitingRel))) }
            if inboundAliasMaximum > 0 { properties.append(.topicAliasMaximum(inboundAliasMaximum)) }
            if settings.maxPacketSize < mqttMaximumVariableByteInteger + 5 {
                properties.append(.maximumPacketSize(UInt32(settings.maxPacketSize)))
            }
            if let assigned { properties.append(.assignedClientIdentifier(assigned)) }
            if let serverKeepAlive { properties.append(.serverKeepAlive(serverKeepAlive)) }
        }
        logger.debug("client connected", metadata: [
            "mqtt.client_id": "\(id)", "mqtt.version": "\(version)", "mqtt.session_present": "\(sessionPresent)",
        ])
        send(.connack(MQTTConnAckPacket(sessionPresent: sessionPresent, reasonCode: .success, properties: properties)))

        if sessionPresent {
            session.resendInflight(now: now)
        }
        session.drainQueue(now: now)
        if version == .v311 { scheduleRetry() }
    }

    /// 3.1.1 sessions get unacknowledged messages again every `retryInterval` (5.0 only on reconnect).
    private func scheduleRetry() {
        let interval = state.settings.retryInterval
        retryTask = state.loop.assumeIsolated().scheduleTask(in: interval) { [weak self] in
            guard let self, let session = self.session, self.phase == .connected else { return }
            session.resendInflight(olderThan: self.now - interval, now: self.now)
            self.state.flushPending()
            self.scheduleRetry()
        }
    }

    /// DISCONNECT: a clean end; the will is dropped unless 5.0 reason 0x04 keeps it.
    func handleDisconnect(_ packet: MQTTDisconnectPacket) {
        if version == .v5, let expiry = packet.properties.sessionExpiryInterval, let session {
            if session.expiryInterval == 0 && expiry != 0 {
                return disconnect(.protocolError, reason: "session expiry cannot be set after connecting with 0")
            }
            session.expiryInterval = expiry
        }
        if packet.reasonCode != .disconnectWithWillMessage { will = nil }
        close()
    }
}
