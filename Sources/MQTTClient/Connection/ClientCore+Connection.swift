import Logging
import MQTTCore
import NIOCore
import NIOPosix

/// Connecting, the CONNECT/CONNACK (and AUTH) handshake, keepalive, losing the connection and
/// getting it back with exponential backoff across the configured servers.
extension ClientCore {
    /// The first connection: each server is tried once, in order; the last error fails it.
    func connect() -> EventLoopFuture<Void> {
        guard case .idle = phase else {
            if case .closed(let error) = phase { return loop.makeFailedFuture(error) }
            return loop.makeSucceededVoidFuture()
        }
        guard !configuration.servers.isEmpty else {
            return loop.makeFailedFuture(MQTTClientError.connectionFailed(server: "(none)", description: "no server configured"))
        }
        let promise = loop.makePromise(of: Void.self)
        initialConnect = (promise, configuration.servers.count)
        attempt()
        return promise.futureResult
    }

    /// Starts one connection attempt to the current server.
    func attempt() {
        connectionCounter += 1
        let connection = connectionCounter
        let server = configuration.servers[serverIndex % configuration.servers.count]
        phase = .connecting(connection: connection)
        connectionError = nil
        logger.debug("connecting", metadata: ["mqtt.server": .string(server.description)])
        connectTimer = loop.assumeIsolated().scheduleTask(in: TimeAmount(configuration.connectTimeout)) { [self] in
            connectionEnded(connection, error: .connectTimeout(server: server.description))
        }
        openChannel(to: server, connection: connection)  // TCP, TLS, WebSocket: ClientCore+Transport.swift
            .assumeIsolated()
            .whenComplete { [self] result in
                switch result {
                case .success(let channel):
                    channelConnected(channel, connection: connection)
                case .failure(let error):
                    connectionEnded(connection, error: .connectionFailed(server: server.description, description: "\(error)"))
                }
            }
    }

    private func isCurrent(_ connection: UInt64) -> Bool {
        switch phase {
        case .connecting(let current), .connected(let current): current == connection
        default: false
        }
    }

    private func channelConnected(_ channel: Channel, connection: UInt64) {
        guard isCurrent(connection) else {
            channel.close(promise: nil)
            return
        }
        self.channel = channel
        write(.connect(connectPacket()))
        flushIfNeeded()
    }

    func connectPacket() -> MQTTConnectPacket {
        let cleanStart = session.hasConnectedBefore ? !configuration.sessionOutlivesConnection : configuration.cleanStart
        var properties = MQTTProperties()
        if configuration.version == .v5 {
            if configuration.sessionExpiryInterval > 0 { properties.append(.sessionExpiryInterval(configuration.sessionExpiryInterval)) }
            if let receiveMaximum = configuration.receiveMaximum { properties.append(.receiveMaximum(receiveMaximum)) }
            if let maximumPacketSize = configuration.maximumPacketSize { properties.append(.maximumPacketSize(maximumPacketSize)) }
            if configuration.topicAliasMaximum > 0 { properties.append(.topicAliasMaximum(configuration.topicAliasMaximum)) }
            if let authentication = configuration.authentication {
                properties.append(.authenticationMethod(authentication.method))
                if let data = authentication.initialData { properties.append(.authenticationData(data)) }
            }
            for property in configuration.connectProperties {
                switch property.identifier {
                case .sessionExpiryInterval, .receiveMaximum, .maximumPacketSize, .topicAliasMaximum, .authenticationMethod,
                    .authenticationData:
                    continue
                default: properties.append(property)
                }
            }
        }
        let keepAlive = UInt16(clamping: configuration.keepAlive.components.seconds)
        return MQTTConnectPacket(protocolVersion: configuration.version, clientIdentifier: clientID, cleanStart: cleanStart,
                                 keepAlive: keepAlive, username: configuration.username, password: configuration.password,
                                 will: configuration.will, properties: properties)
    }

    // MARK: - Packets from the channel

    func channelRead(_ packet: MQTTPacket, connection: UInt64) {
        guard isCurrent(connection) else { return }
        var isPingResponse = false
        if case .pingresp = packet { isPingResponse = true }
        keepAlive?.received(at: .now(), isPingResponse: isPingResponse)
        if case .connecting = phase {
            handshake(packet, connection: connection)
            flushIfNeeded()
            return
        }
        switch packet {
        case .publish, .puback, .pubrec, .pubrel, .pubcomp, .suback, .unsuback:
            perform(session.received(packet))
        case .pingresp:
            break
        case .disconnect(let disconnect):
            connectionError = .serverDisconnected(reasonCode: disconnect.reasonCode, reasonString: disconnect.properties.reasonString)
            logger.info("the broker disconnected: \(disconnect.reasonCode)")
            channel?.close(promise: nil)
        case .auth(let auth):
            // Re-authentication the client started: the broker continues or finishes it.
            switch auth.reasonCode {
            case .continueAuthentication: respondToChallenge(auth)
            case .success: reauthenticationFinished(auth)
            default:
                closeForProtocolError(.protocolViolation(reasonCode: .protocolError, description: "unexpected AUTH \(auth.reasonCode) from the broker"))
            }
        case .connect, .connack, .subscribe, .unsubscribe, .pingreq:
            closeForProtocolError(.protocolViolation(reasonCode: .protocolError, description: "unexpected \(packet.type) from the broker"))
        }
    }

    private func handshake(_ packet: MQTTPacket, connection: UInt64) {
        switch packet {
        case .connack(let connack):
            connectTimer?.cancel()
            guard !connack.reasonCode.isFailure else {
                closeAttempt(connection, error: .connectionRefused(reasonCode: connack.reasonCode, reasonString: connack.properties.reasonString))
                return
            }
            if let authentication = configuration.authentication, configuration.version == .v5 {
                do {
                    try authentication.completed(connack.properties.authenticationData)
                } catch {
                    closeAttempt(connection, error: .authenticationFailed(description: "\(error)"))
                    return
                }
            }
            established(connack, connection: connection)
        case .auth(let auth) where configuration.version == .v5 && auth.reasonCode == .continueAuthentication:
            respondToChallenge(auth)
        default:
            closeForProtocolError(.protocolViolation(reasonCode: .protocolError, description: "expected CONNACK, got \(packet.type)"))
        }
    }

    private func respondToChallenge(_ auth: MQTTAuthPacket) {
        guard let authentication = configuration.authentication, auth.properties.authenticationMethod == authentication.method else {
            closeForProtocolError(.protocolViolation(reasonCode: .badAuthenticationMethod, description: "AUTH for a method the client did not ask for"))
            return
        }
        do {
            let data = try authentication.respond(auth.properties.authenticationData, auth.properties)
            var properties: MQTTProperties = [.authenticationMethod(authentication.method)]
            if let data { properties.append(.authenticationData(data)) }
            write(.auth(MQTTAuthPacket(reasonCode: .continueAuthentication, properties: properties)))
        } catch {
            connectionError = .authenticationFailed(description: "\(error)")
            closeForProtocolError(.protocolViolation(reasonCode: .notAuthorized, description: "authentication hook failed: \(error)"))
        }
    }

    /// Starts re-authentication (MQTT 5 §4.12.1) with the configured method; the future completes
    /// when the broker's AUTH 0x00 passed the mechanism's ``MQTTEnhancedAuthentication/completed``
    /// hook, and fails when the hook refuses it or the connection ends first.
    func reauthenticate(data: ByteBuffer?) -> EventLoopFuture<Void> {
        guard configuration.version == .v5, let authentication = configuration.authentication else {
            return loop.makeFailedFuture(MQTTClientError.authenticationFailed(description: "re-authentication needs MQTT 5 and enhanced authentication"))
        }
        guard isConnected else { return loop.makeFailedFuture(MQTTClientError.notConnected) }
        guard reauthentication == nil else {
            return loop.makeFailedFuture(MQTTClientError.authenticationFailed(description: "a re-authentication is already in progress"))
        }
        let promise = loop.makePromise(of: Void.self)
        reauthentication = promise
        var properties: MQTTProperties = [.authenticationMethod(authentication.method)]
        if let data { properties.append(.authenticationData(data)) }
        write(.auth(MQTTAuthPacket(reasonCode: .reAuthenticate, properties: properties)))
        flushIfNeeded()
        return promise.futureResult
    }

    /// AUTH 0x00: the broker finished the re-authentication; the mechanism checks its data (a
    /// SCRAM server signature) and a refusal ends the connection with DISCONNECT 0x87.
    private func reauthenticationFinished(_ auth: MQTTAuthPacket) {
        guard let promise = reauthentication, let authentication = configuration.authentication else {
            return closeForProtocolError(.protocolViolation(reasonCode: .protocolError, description: "AUTH 0x00 without a re-authentication"))
        }
        guard auth.properties.authenticationMethod == authentication.method else {
            return closeForProtocolError(.protocolViolation(reasonCode: .badAuthenticationMethod, description: "AUTH for a method the client did not ask for"))
        }
        reauthentication = nil
        do {
            try authentication.completed(auth.properties.authenticationData)
            promise.succeed()
        } catch {
            let failure = MQTTClientError.authenticationFailed(description: "\(error)")
            connectionError = failure
            promise.fail(failure)
            closeForProtocolError(.protocolViolation(reasonCode: .notAuthorized, description: "re-authentication refused: \(error)"))
        }
    }

    private func established(_ connack: MQTTConnAckPacket, connection: UInt64) {
        let server = configuration.servers[serverIndex % configuration.servers.count]
        phase = .connected(connection: connection)
        backoff.reset()
        lastConnAck = connack
        connectedServer = server
        let limits = configuration.version == .v5 ? ServerLimits(connack: connack) : ServerLimits()
        if let assigned = connack.properties.assignedClientIdentifier, configuration.version == .v5 {
            clientID = assigned
            logger[metadataKey: "mqtt.client_id"] = .string(assigned)
        }
        logger.info("connected", metadata: ["mqtt.server": .string(server.description),
                                            "mqtt.session_present": .stringConvertible(connack.sessionPresent)])
        let interval = limits.serverKeepAlive.map { TimeAmount.seconds(Int64($0)) } ?? TimeAmount(configuration.keepAlive)
        keepAlive = KeepAliveState(interval: interval, timeout: TimeAmount(configuration.pingTimeout), now: .now())
        scheduleKeepAlive(connection: connection)
        configuration.onEvent?(.connected(server: server, sessionPresent: connack.sessionPresent))
        perform(session.connectionEstablished(sessionPresent: connack.sessionPresent, limits: limits))
        if let initial = initialConnect {
            initialConnect = nil
            initial.promise.succeed()
        }
    }

    // MARK: - Keepalive

    private func scheduleKeepAlive(connection: UInt64) {
        keepAliveTimer?.cancel()
        guard isCurrent(connection), var state = keepAlive else { return }
        let action = state.check(now: .now())
        keepAlive = state
        let next: NIODeadline
        switch action {
        case .disabled:
            return
        case .wait(let deadline):
            next = deadline
        case .sendPing(let deadline):
            write(.pingreq)
            flushIfNeeded()
            next = deadline
        case .timedOut:
            logger.warning("keepalive timeout: no answer to PINGREQ")
            if connectionError == nil { connectionError = .keepAliveTimeout }
            channel?.close(promise: nil)
            return
        }
        keepAliveTimer = loop.assumeIsolated().scheduleTask(deadline: next) { [self] in scheduleKeepAlive(connection: connection) }
    }

    // MARK: - Losing the connection

    /// The channel reported an error: a malformed packet is answered with DISCONNECT (5.0).
    func channelError(_ error: any Error, connection: UInt64) {
        guard isCurrent(connection) else { return }
        if let decodeError = error as? MQTTDecodeError {
            closeForProtocolError(.malformedPacket(decodeError))
        } else {
            if connectionError == nil, case .connecting = phase {
                // e.g. a TLS handshake that failed: the certificate was refused on either side
                let server = configuration.servers[serverIndex % configuration.servers.count]
                connectionError = .connectionFailed(server: server.description, description: "\(error)")
            }
            if connectionError == nil { connectionError = .connectionClosed(description: "\(error)") }
            channel?.close(promise: nil)
        }
    }

    /// Closes the channel of an attempt that failed during the handshake.
    private func closeAttempt(_ connection: UInt64, error: MQTTClientError) {
        connectionError = error
        channel?.close(promise: nil)
        connectionEnded(connection, error: error)
    }

    /// Connection `connection` is over (closed, failed to connect, timed out).
    func connectionEnded(_ connection: UInt64, error: MQTTClientError? = nil) {
        guard isCurrent(connection) else { return }
        let wasConnected = isConnected
        let error = connectionError ?? error ?? .connectionClosed(description: wasConnected ? "closed by the broker" : "closed before CONNACK")
        connectTimer?.cancel()
        keepAliveTimer?.cancel()
        keepAlive = nil
        if let promise = reauthentication {
            reauthentication = nil
            promise.fail(error)
        }
        if let channel {
            channel.close(promise: nil)
            self.channel = nil
        }
        needsFlush = false
        if wasConnected {
            logger.info("connection lost: \(error)")
            session.connectionLost()
            configuration.onEvent?(.disconnected(error))
        } else {
            logger.debug("connection attempt failed: \(error)")
            serverIndex += 1
        }
        if var initial = initialConnect {
            initial.attemptsLeft -= 1
            initialConnect = initial
            if initial.attemptsLeft > 0 {
                attemptAgain(after: nil)
            } else {
                initialConnect = nil
                terminate(error)
                initial.promise.fail(error)
            }
            return
        }
        guard configuration.reconnect.isEnabled else {
            terminate(error)
            return
        }
        let delay = backoff.nextDelay(random: Double.random(in: 0..<1))
        configuration.onEvent?(.reconnecting(attempt: backoff.failures, delay: delay))
        attemptAgain(after: delay)
    }

    private func attemptAgain(after delay: Duration?) {
        phase = .waitingToReconnect
        guard let delay else {
            loop.assumeIsolated().execute { [self] in if case .waitingToReconnect = phase { attempt() } }
            return
        }
        reconnectTimer = loop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) { [self] in
            if case .waitingToReconnect = phase { attempt() }
        }
    }

    /// Ends the client for good: every waiting operation fails with `error`, subscriptions end.
    func terminate(_ error: MQTTClientError) {
        if case .closed = phase { return }
        phase = .closed(error)
        connectTimer?.cancel()
        keepAliveTimer?.cancel()
        reconnectTimer?.cancel()
        perform(session.failAll(error))
        finishLocalSubscriptions(error == .clientClosed ? nil : error)
    }

    /// DISCONNECT (when connected), then close; completes when the socket is closed.
    func shutdown(reasonCode: MQTTReasonCode, properties: MQTTProperties) -> EventLoopFuture<Void> {
        let channel = self.channel
        let wasConnected = isConnected
        self.channel = nil
        needsFlush = false
        if let initial = initialConnect {
            initialConnect = nil
            initial.promise.fail(MQTTClientError.clientClosed)
        }
        terminate(.clientClosed)
        guard let channel else { return loop.makeSucceededVoidFuture() }
        if wasConnected {
            let disconnect = MQTTDisconnectPacket(reasonCode: reasonCode, properties: configuration.version == .v5 ? properties : [])
            channel.writeAndFlush(MQTTPacket.disconnect(disconnect)).assumeIsolated().whenComplete { _ in channel.close(promise: nil) }
        } else {
            channel.close(promise: nil)
        }
        return channel.closeFuture
    }
}
