import Logging
import MQTTCore
import MQTTTransport
import NIOCore

/// One client connection: the MQTT protocol state machine of the broker side, as a channel
/// handler behind ``MQTTPacketDecoder``. It runs on the broker's event loop and calls
/// ``BrokerState`` synchronously; outbound packets are written without flushing and flushed once
/// per read batch.
package final class BrokerConnection: ChannelInboundHandler, SessionEndpoint {
    package typealias InboundIn = MQTTPacket
    package typealias OutboundOut = ByteBuffer

    enum Phase { case awaitingConnect, connected, closed }

    let state: BrokerState
    var context: ChannelHandlerContext?
    var phase = Phase.awaitingConnect
    var version = MQTTProtocolVersion.v311
    package var session: Session?
    var clientID = ""
    var will: MQTTWill?
    var connectTimeout: Scheduled<Void>?
    var retryTask: Scheduled<Void>?
    var needsFlush = false
    var closing = false
    /// Topic aliases the client set up (5.0), and the highest it may use.
    var inboundAliases: [UInt16: String] = [:]
    var inboundAliasMaximum: UInt16 = 0
    /// Topic aliases the broker set up towards the client, and how many the client accepts.
    var outboundAliases: [String: UInt16] = [:]
    var outboundAliasMaximum: UInt16 = 0
    /// The client's Maximum Packet Size (5.0): larger messages are not sent to it.
    var clientMaximumPacketSize = Int.max
    /// Whether a 5.0 client accepts reason strings on acknowledgements (Request Problem Information).
    var sendsProblemInformation = true
    /// Set on TLS listeners with `usernameFrom`: the verified client certificate's CN or SAN is
    /// the user name (see ``certificateUsername()`` in BrokerConnection+Transport.swift).
    var certificateUsernameSource: ListenerTLS.UsernameSource?
    /// Authentication in progress, enhanced authentication method, message rate (Authentication/).
    var access = ConnectionAccess()
    /// Keepalive × `keepaliveMultiplier` once connected with a keepalive; nil: not enforced.
    var keepAliveTimeout: TimeAmount?
    /// When the broker's keepalive sweep last saw a packet from the client had come.
    var lastHeard = NIODeadline.uptimeNanoseconds(0)
    /// A packet came since the last sweep (a flag, not a clock read per packet).
    var heardSinceSweep = false

    init(state: BrokerState) { self.state = state }

    /// A network connection, never an in-process attachment.
    var isInProcess: Bool { false }

    var now: NIODeadline { .now() }
    var logger: Logger { state.logger }

    // MARK: Channel events

    package func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Added after a WebSocket upgrade, the channel is already active: no channelActive comes.
        if context.channel.isActive { activate(context: context) }
    }

    package func channelActive(context: ChannelHandlerContext) {
        activate(context: context)
        context.fireChannelActive()
    }

    private func activate(context: ChannelHandlerContext) {
        state.connections[ObjectIdentifier(self)] = self
        state.statistics.connectionsTotal += 1
        connectTimeout = context.eventLoop.assumeIsolated().scheduleTask(in: state.settings.connectTimeout) { [weak self] in
            guard let self, self.phase == .awaitingConnect else { return }
            self.logger.debug("no CONNECT in time, closing")
            self.close()
        }
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let packet = unwrapInboundIn(data)
        guard phase != .closed else { return }
        heardSinceSweep = true
        if phase == .awaitingConnect {
            if access.stage != .idle { return handleWhileAuthenticating(packet) }
            guard case .connect(let connect) = packet else { return close() }
            handleConnect(connect)
            return
        }
        switch packet {
        case .publish(let publish): handlePublish(publish)
        case .puback(let ack): handlePubAck(ack)
        case .pubrec(let ack): handlePubRec(ack)
        case .pubrel(let ack): handlePubRel(ack)
        case .pubcomp(let ack): handlePubComp(ack)
        case .subscribe(let subscribe): handleSubscribe(subscribe)
        case .unsubscribe(let unsubscribe): handleUnsubscribe(unsubscribe)
        case .pingreq: send(.pingresp)
        case .disconnect(let disconnect): handleDisconnect(disconnect)
        case .connect:
            disconnect(.protocolError, reason: "second CONNECT")
        case .auth(let auth): handleAuth(auth)
        case .connack, .suback, .unsuback, .pingresp:
            disconnect(.protocolError, reason: "\(packet.type) is sent by servers only")
        }
    }

    var canSend: Bool { context?.channel.isWritable ?? false }

    package func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let session {
            session.drainQueue(now: now)
            state.flushPending()
        }
        context.fireChannelWritabilityChanged()
    }

    package func channelReadComplete(context: ChannelHandlerContext) {
        state.flushPending()
        context.fireChannelReadComplete()
    }

    package func channelInactive(context: ChannelHandlerContext) {
        state.connections[ObjectIdentifier(self)] = nil
        state.journal?.forget(self)
        phase = .closed
        connectTimeout?.cancel()
        retryTask?.cancel()
        leaveSession()
        self.context = nil
        state.flushPending()
        context.fireChannelInactive()
    }

    /// Releases the session as soon as the connection is ending (not when the socket finally
    /// closes, which a lingering close delays): the will goes out now or after its delay, and
    /// messages published from here on are queued for the session instead of written to a
    /// connection that is going away. Runs once.
    func leaveSession() {
        defer {
            will = nil
            session = nil
        }
        guard let session, session.connection === self as AnyObject else { return }
        if let will {
            let delay = min(will.properties.willDelayInterval ?? 0, session.expiryInterval)
            if delay == 0 {
                state.publishWill(will, clientID: clientID)
            } else {
                let task = state.loop.assumeIsolated().scheduleTask(in: .seconds(Int64(delay))) { [state, weak session] in
                    guard let session, let pending = session.pendingWill else { return }
                    session.pendingWill = nil
                    state.publishWill(pending.will, clientID: session.clientID)
                    state.flushPending()
                }
                session.pendingWill = (will, task)
            }
        }
        state.detach(session)
    }

    package func errorCaught(context: ChannelHandlerContext, error: Error) {
        guard let decodeError = error as? MQTTDecodeError else {
            logger.debug("connection error", metadata: ["error": "\(error)", "mqtt.client_id": "\(clientID)"])
            return close()
        }
        logger.info("bad packet, closing connection", metadata: [
            "error": "\(decodeError)", "mqtt.reason_code": "\(decodeError.reasonCode)", "mqtt.client_id": "\(clientID)",
        ])
        if phase == .awaitingConnect {
            if case .unsupportedProtocolVersion = decodeError {
                // Answered in the 3.1.1 layout, which every version's client can read (return code 0x01).
                version = .v311
                send(.connack(MQTTConnAckPacket(reasonCode: .unsupportedProtocolVersion)))
            }
            return close()
        }
        disconnect(decodeError.reasonCode, reason: "\(decodeError)")
    }

    // MARK: Writing

    /// Encodes and writes `packet`; the flush happens at the end of the read batch.
    func send(_ packet: MQTTPacket) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: 0)
        do {
            try packet.encode(into: &buffer, version: version)
            // PUBLISH checks the size itself (``sendPublish``): it is dropped, not trimmed.
            if buffer.readableBytes > clientMaximumPacketSize, let trimmed = Self.withoutProblemInformation(packet) {
                buffer.clear()
                try trimmed.encode(into: &buffer, version: version)
            }
        } catch {
            logger.error("cannot encode packet", metadata: ["error": "\(error)", "mqtt.client_id": "\(clientID)"])
            return
        }
        if buffer.readableBytes > clientMaximumPacketSize {
            logger.info("packet larger than the client's maximum packet size, not sent", metadata: [
                "mqtt.client_id": "\(clientID)", "mqtt.packet_type": "\(packet.type)", "bytes": "\(buffer.readableBytes)",
            ])
            return
        }
        // Durable state: an acknowledgement waits until what it acknowledges is committed.
        if let journal = state.journal, journal.mustHold(packet, for: self) {
            let soon = switch packet { case .connack, .suback, .unsuback: true; default: false }
            return journal.hold(buffer, for: self, soon: soon)
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
        if !needsFlush {
            needsFlush = true
            state.markForFlush(self)
        }
    }

    func flushIfNeeded() {
        guard needsFlush else { return }
        needsFlush = false
        context?.flush()
    }

    /// Ends the connection: on 5.0 with a DISCONNECT carrying `reasonCode` first.
    func disconnect(_ reasonCode: MQTTReasonCode, reason: String?) {
        if version == .v5 && phase == .connected {
            var properties = MQTTProperties()
            if let reason { properties.append(.reasonString(Self.boundedReason(reason))) }
            send(.disconnect(MQTTDisconnectPacket(reasonCode: reasonCode, properties: properties)))
        }
        close()
    }

    /// Closes the connection gracefully: our side is shut for writing at once (after what was
    /// written, e.g. a DISCONNECT), input is discarded until the client closes or `lingerTime`
    /// passes. Closing both sides at once would make the kernel reset the connection while the
    /// client may still be writing, and the client could lose the DISCONNECT it has not read.
    func close() {
        guard context != nil, !closing else { return }
        closing = true
        flushIfNeeded()
        phase = .closed
        leaveSession()
        if let journal = state.journal, journal.deferClose(self) { return }
        shutOutput()
    }

    /// Writes output the journal held until its group committed; flushed by the journal.
    func writeHeld(_ buffer: ByteBuffer) {
        guard let context else { return }
        context.write(wrapOutboundOut(buffer), promise: nil)
        needsFlush = true
    }

    /// Shuts our side for writing and lets the client close (see ``close()``).
    func shutOutput() {
        guard let context else { return }
        let channel = context.channel
        let promise = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: promise)
        promise.futureResult.whenFailure { _ in channel.close(promise: nil) }
        context.eventLoop.scheduleTask(in: Self.lingerTime) { channel.close(promise: nil) }
    }

    /// How long a closing connection waits for the client to close its side.
    static let lingerTime = TimeAmount.seconds(2)

    /// Another connection took this client id over: this one ends with 0x8E. The will goes out
    /// now only if it had no delay (its delay is at most the session's expiry, as when the
    /// connection closes); otherwise the new connection came within the delay, so it is not
    /// published at all (MQTT-3.1.2-8), whatever the new connection's Clean Start.
    func takeOver() {
        let expiry = session?.expiryInterval ?? 0
        session = nil
        if let will, min(will.properties.willDelayInterval ?? 0, expiry) == 0 {
            state.publishWill(will, clientID: clientID)
        }
        will = nil
        disconnect(.sessionTakenOver, reason: nil)
    }
}
