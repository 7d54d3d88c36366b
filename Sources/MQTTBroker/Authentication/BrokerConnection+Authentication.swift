import Logging
import MQTTCore
import NIOCore
import NIOPosix

/// What one connection knows about who it is and what it may still do: the authentication in
/// progress, the enhanced authentication method, its message rate bucket.
struct ConnectionAccess {
    enum Stage: Equatable {
        /// No CONNECT yet, or connected.
        case idle
        /// A password check runs on the thread pool; reading is paused and packets are held.
        case verifying
        /// SCRAM: server-first sent, waiting for the client's AUTH with client-final.
        case scram
    }

    var stage = Stage.idle
    var address = ""
    /// The enhanced authentication method of this connection (5.0), nil for none.
    var method: String?
    var messages: TokenBucket?
    /// What only an authentication in progress needs, allocated then and released after, so an
    /// idle connection carries one pointer for it.
    private var pending: Pending?

    private final class Pending {
        var connect: MQTTConnectPacket?
        var held: [MQTTPacket] = []
        var scram: SCRAMServer?
        var isEmpty: Bool { connect == nil && held.isEmpty && scram == nil }
    }

    private mutating func update(_ change: (Pending) -> Void) {
        let box = pending ?? Pending()
        change(box)
        pending = box.isEmpty ? nil : box
    }

    /// The CONNECT being authenticated.
    var pendingConnect: MQTTConnectPacket? {
        get { pending?.connect }
        set { update { $0.connect = newValue } }
    }

    /// Packets the client sent behind its CONNECT while the password was being checked.
    var held: [MQTTPacket] {
        get { pending?.held ?? [] }
        set { update { $0.held = newValue } }
    }

    /// The SCRAM exchange in progress (at CONNECT or a re-authentication).
    var scram: SCRAMServer? {
        get { pending?.scram }
        set { update { $0.scram = newValue } }
    }
}

extension BrokerListener {
    /// Whether the configured host is a loopback address (127.0.0.0/8, ::1, localhost).
    public var isLoopback: Bool {
        let h = host.lowercased().trimmingCharacters(in: ["[", "]"])
        return h == "localhost" || h.hasPrefix("127.") || h.hasPrefix("::ffff:127.") || h == "::1" || h == "0:0:0:0:0:0:0:1"
    }

    /// `allowAnonymous` as configured, else true exactly on a loopback host (Mosquitto 2).
    public var anonymousAllowed: Bool { allowAnonymous ?? isLoopback }
}

extension MQTTBroker {
    /// Remembers which listener a server channel serves, so its connections apply its rules.
    func register(_ listener: BrokerListener, channel: Channel) async throws {
        let state = self.state
        try await loop.submit { state.value.accessGuard.listeners[ObjectIdentifier(channel)] = listener }.get()
    }

    /// Stops the password-check threads, after the checks queued finished.
    func shutdownAccess() async throws {
        let state = self.state
        let pool = try await loop.submit { state.value.accessGuard.takePool() }.get()
        try await pool?.shutdownGracefully()
    }
}

extension BrokerState {
    /// Whether users are authenticated at all (a password file, or a TLS listener whose client
    /// certificates name the user): then a session belongs to the user who made it.
    var authenticatesUsers: Bool {
        settings.passwords != nil || accessGuard.listeners.values.contains { $0.tls?.usernameFrom != nil }
    }
}

extension BrokerConnection {
    /// Whether this connection's listener accepts clients without a user name.
    var anonymousAllowed: Bool {
        guard let parent = context?.channel.parent else { return true }  // not a listener's connection
        if let listener = state.accessGuard.listeners[ObjectIdentifier(parent)] { return listener.anonymousAllowed }
        return BrokerListener(host: parent.localAddress?.ipAddress ?? "", port: 0).anonymousAllowed
    }

    /// CONNECT, first half: limits, then who the client is. Ends in ``acceptConnect(_:username:properties:)``
    /// or a refusing CONNACK; a password check runs off the event loop.
    func handleConnect(_ connect: MQTTConnectPacket) {
        version = connect.protocolVersion
        // Known from here on: a refusing CONNACK must fit it too.
        if version == .v5 { clientMaximumPacketSize = Int(connect.properties.maximumPacketSize ?? .max) }
        let settings = state.settings
        access.address = context?.channel.remoteAddress?.ipAddress ?? "unknown"
        if settings.maxConnections > 0 && state.connections.count > settings.maxConnections {
            return refuseConnect(.serverBusy, "too many connections")
        }
        if let refusal = state.accessGuard.admit(access.address, settings: settings, now: now) { return refuse(refusal) }
        if let will = connect.will, isTooDeep(will.topic) {
            // 3.1.1 has no CONNACK code for it: the connection is closed without one.
            guard version == .v5 else { return close() }
            return refuseConnect(.topicNameInvalid, "will topic has more than \(settings.maxTopicLevels) levels")
        }
        if connect.clientIdentifier.hasPrefix(MQTTBroker.inProcessClientIDPrefix) {
            return refuseConnect(.clientIdentifierNotValid,
                                 "client ids starting with \"\(MQTTBroker.inProcessClientIDPrefix)\" are reserved for the broker's in-process sessions")
        }
        // A TLS listener with `usernameFrom`: the verified client certificate names the user, as
        // Mosquitto's use_identity_as_username does; no password is asked for.
        if let certificateUser = certificateUsername() { return acceptConnect(connect, username: certificateUser) }
        if let method = connect.properties.authenticationMethod {
            return startEnhancedAuthentication(connect, method: method)
        }
        guard let user = connect.username else {
            guard anonymousAllowed else { return refuseConnect(.notAuthorized, "this listener does not accept anonymous clients") }
            return acceptConnect(connect, username: nil)
        }
        guard let passwords = settings.passwords else {
            guard anonymousAllowed else { return refuseConnect(.badUserNameOrPassword, "no password file to check user names against") }
            return acceptConnect(connect, username: user)
        }
        verifyPassword(connect, user: user, passwords: passwords)
    }

    /// Refuses the CONNECT with `code` (mapped to a 3.1.1 return code) and closes.
    func refuseConnect(_ code: MQTTReasonCode, _ reason: String, properties extra: MQTTProperties = []) {
        logger.info("connection refused", metadata: [
            "mqtt.reason_code": "\(code)", "reason": "\(reason)", "mqtt.client_id": "\(connectClientID)", "client.address": "\(access.address)",
        ])
        var properties = extra
        if version == .v5 { properties.append(.reasonString(Self.boundedReason(reason))) }
        endAuthentication()
        send(.connack(MQTTConnAckPacket(reasonCode: code, properties: properties)))
        close()
    }

    /// Drops what a refused or abandoned authentication held, and reads again so the client's
    /// close is seen while the connection lingers (see ``close()``).
    private func endAuthentication() {
        if access.stage == .verifying { try? context?.channel.syncOptions?.setOption(.autoRead, value: true) }
        access.stage = .idle
        access.held = []
        access.pendingConnect = nil
        access.scram = nil
    }

    private var connectClientID: String { access.pendingConnect?.clientIdentifier ?? clientID }

    private func refuse(_ refusal: AccessGuard.Refusal) {
        switch refusal {
        case .connectionRate: refuseConnect(.connectionRateExceeded, "too many connections from \(access.address)")
        case .blocked(let seconds):
            refuseConnect(.connectionRateExceeded, "too many failed authentications from \(access.address); retry in \(seconds) s")
        case .tooManyVerifications: refuseConnect(.connectionRateExceeded, "too many authentications in progress from \(access.address)")
        case .busy: refuseConnect(.serverBusy, "too many authentications in progress")
        }
    }

    /// Checks the password on the thread pool, reading paused; the answer comes back to the loop.
    private func verifyPassword(_ connect: MQTTConnectPacket, user: String, passwords: BrokerPasswordFile) {
        guard let context else { return }
        let address = access.address
        if let refusal = state.accessGuard.beginVerification(address) { return refuse(refusal) }
        access.stage = .verifying
        access.pendingConnect = connect
        try? context.channel.syncOptions?.setOption(.autoRead, value: false)
        let password = connect.password.map { Array($0.readableBytesView) } ?? []
        state.accessGuard.passwordPool().runIfActive(eventLoop: context.eventLoop) {
            passwords.verify(user: user, password: password)
        }.assumeIsolated().whenComplete { [self] result in
            state.accessGuard.endVerification(address)
            guard phase == .awaitingConnect, !closing, access.stage == .verifying else { return }
            let valid: Bool
            switch result {
            case .success(let matched): valid = matched
            case .failure(let error):
                // The pool stopped (the broker is shutting down): refuse rather than admit unchecked.
                logger.warning("password check did not run", metadata: ["error": "\(error)", "client.address": "\(address)"])
                refuseConnect(.serverUnavailable, "the password could not be checked")
                return state.flushPending()
            }
            guard valid else {
                state.accessGuard.failed(address, settings: state.settings, now: now)
                logger.notice("authentication failed", metadata: ["mqtt.username": "\(user)", "client.address": "\(address)"])
                refuseConnect(.badUserNameOrPassword, "bad user name or password")
                return state.flushPending()
            }
            state.accessGuard.succeeded(address)
            access.stage = .idle
            acceptConnect(connect, username: user)
            resumeReading()
        }
    }

    /// After a password check: packets held meanwhile are handled in order, reading resumes.
    private func resumeReading() {
        guard let context else { return }
        let held = access.held
        access.held = []
        for packet in held where phase == .connected { channelRead(context: context, data: NIOAny(packet)) }
        state.flushPending()
        try? context.channel.syncOptions?.setOption(.autoRead, value: true)
        context.read()
    }

    /// A packet that arrived while the CONNECT is still being authenticated.
    func handleWhileAuthenticating(_ packet: MQTTPacket) {
        switch (access.stage, packet) {
        case (.verifying, .disconnect):
            endAuthentication()
            close()
        case (.verifying, _):
            // Bounded by the read batch: reading is paused while the check runs.
            access.held += [packet]
        case (.scram, .auth(let auth)):
            continueConnectAuthentication(auth)
        case (.scram, .disconnect):
            endAuthentication()
            close()
        default:
            refuseConnect(.protocolError, "\(packet.type) before the authentication finished")
        }
    }

    // MARK: Enhanced authentication (MQTT 5 §4.12)

    private func startEnhancedAuthentication(_ connect: MQTTConnectPacket, method: String) {
        guard method == SCRAMServer.method else {
            return refuseConnect(.badAuthenticationMethod, "authentication method \(method) is not supported; this broker offers \(SCRAMServer.method)")
        }
        guard let passwords = state.settings.passwords else {
            return refuseConnect(.badAuthenticationMethod, "\(SCRAMServer.method) needs a password file, and none is configured")
        }
        guard let data = connect.properties.authenticationData else {
            return refuseConnect(.protocolError, "\(SCRAMServer.method) needs the client-first message as Authentication Data")
        }
        var server = SCRAMServer()
        let step = server.start(clientFirst: Array(data.readableBytesView), serverNonce: SCRAMServer.makeNonce(),
                                decoy: passwords.decoyCredentials, lookup: passwords.scramCredentials(of:))
        access.pendingConnect = connect
        access.method = method
        guard case .challenge(let serverFirst) = step else { return connectAuthenticationFailed(step, user: server.user) }
        access.scram = server
        access.stage = .scram
        sendAuth(.continueAuthentication, data: serverFirst)
    }

    private func continueConnectAuthentication(_ auth: MQTTAuthPacket) {
        guard var server = access.scram, let connect = access.pendingConnect else { return close() }
        guard auth.reasonCode == .continueAuthentication, auth.properties.authenticationMethod == access.method else {
            return refuseConnect(.protocolError, "expected AUTH 0x18 with method \(access.method ?? "")")
        }
        let step = server.finish(clientFinal: auth.properties.authenticationData.map { Array($0.readableBytesView) } ?? [])
        access.scram = nil
        guard case .success(let user, let serverFinal) = step else { return connectAuthenticationFailed(step, user: server.user) }
        state.accessGuard.succeeded(access.address)
        access.stage = .idle
        acceptConnect(connect, username: user, properties: [
            .authenticationMethod(SCRAMServer.method), .authenticationData(ByteBuffer(bytes: serverFinal)),
        ])
    }

    private func connectAuthenticationFailed(_ step: SCRAMServer.Step, user: String) {
        state.accessGuard.failed(access.address, settings: state.settings, now: now)
        logger.notice("authentication failed", metadata: [
            "mqtt.username": "\(user)", "client.address": "\(access.address)", "auth.method": "\(SCRAMServer.method)",
        ])
        if case .failure(.malformed(let detail)) = step { return refuseConnect(.notAuthorized, "malformed SCRAM message: \(detail)") }
        refuseConnect(.badUserNameOrPassword, "bad user name or password")
    }

    /// AUTH on an established connection: re-authentication (0x19, then 0x18 rounds).
    func handleAuth(_ auth: MQTTAuthPacket) {
        guard version == .v5, let method = access.method else {
            return disconnect(.protocolError, reason: "AUTH without enhanced authentication")
        }
        guard auth.properties.authenticationMethod == method else {
            return disconnect(.protocolError, reason: "AUTH must keep the authentication method \(method)")
        }
        let data = auth.properties.authenticationData.map { Array($0.readableBytesView) } ?? []
        switch auth.reasonCode {
        case .reAuthenticate where access.scram == nil:
            guard let passwords = state.settings.passwords else { return disconnect(.notAuthorized, reason: "no password file") }
            var server = SCRAMServer()
            let step = server.start(clientFirst: data, serverNonce: SCRAMServer.makeNonce(), decoy: passwords.decoyCredentials,
                                    lookup: passwords.scramCredentials(of:))
            guard case .challenge(let serverFirst) = step, server.user == session?.username else {
                return reauthenticationFailed(user: server.user)
            }
            access.scram = server
            sendAuth(.continueAuthentication, data: serverFirst)
        case .continueAuthentication where access.scram != nil:
            guard var server = access.scram else { return }
            access.scram = nil
            guard case .success(_, let serverFinal) = server.finish(clientFinal: data) else { return reauthenticationFailed(user: server.user) }
            logger.debug("re-authenticated", metadata: ["mqtt.client_id": "\(clientID)", "mqtt.username": "\(server.user)"])
            sendAuth(.success, data: serverFinal)
        default:
            disconnect(.protocolError, reason: "unexpected AUTH \(auth.reasonCode)")
        }
    }

    private func reauthenticationFailed(user: String) {
        state.accessGuard.failed(access.address, settings: state.settings, now: now)
        logger.notice("re-authentication failed", metadata: ["mqtt.client_id": "\(clientID)", "mqtt.username": "\(user)"])
        disconnect(.notAuthorized, reason: "re-authentication failed")
    }

    private func sendAuth(_ code: MQTTReasonCode, data: [UInt8]) {
        send(.auth(MQTTAuthPacket(reasonCode: code, properties: [
            .authenticationMethod(SCRAMServer.method), .authenticationData(ByteBuffer(bytes: data)),
        ])))
    }

    // MARK: Message rate

    /// Counts one inbound PUBLISH against `maxMessageRate`; over it the connection ends (5.0:
    /// DISCONNECT 0x96) and the message is not acknowledged, so its sender keeps it.
    func admitPublish() -> Bool {
        guard let rate = state.settings.maxMessageRate else { return true }
        var bucket = access.messages ?? TokenBucket(rate: rate, now: now)
        let allowed = bucket.take(rate: rate, now: now)
        access.messages = bucket
        if !allowed {
            logger.notice("message rate too high, disconnecting", metadata: ["mqtt.client_id": "\(clientID)", "rate": "\(rate)"])
            disconnect(.messageRateTooHigh, reason: "more than \(rate.count) messages in \(rate.interval.nanoseconds / 1_000_000) ms")
        }
        return allowed
    }
}
