import MQTTCore
import NIOCore

/// What one bench connection does.
enum BenchRole: Sendable {
    case publisher, subscriber, idle
}

/// The settings of one bench connection, resolved from the plan (topic templates filled in).
struct BenchClientConfig: Sendable {
    var role: BenchRole
    /// The publisher's index (stamped in its payloads), or the subscriber's or idle connection's.
    var index: Int
    var clientID: String
    var version: MQTTProtocolVersion
    var keepAlive: UInt16
    /// The publisher's topic or the subscriber's filter.
    var topic: String
    var qos: MQTTQoS
    var payloadSize: Int
    /// Messages per second; 0 is as fast as the connection and the inflight window allow.
    var rate: Double
    /// Messages this publisher sends at most.
    var limit: Int?
    /// QoS 1/2 messages in flight at most (lowered to a 5.0 server's Receive Maximum).
    var inflight: Int
    /// Messages written per write-and-flush at most.
    var batch: Int
    /// How many subscribers of this run receive each message of this publisher.
    var fanOut: Int
    /// A subscriber with a persistent session (clean session off; 5.0: expiry 1 h).
    var persistent = false
}

/// Errors that end a bench connection before it is ready.
struct BenchError: Error, CustomStringConvertible {
    var description: String
}

/// One bench connection: an MQTT client as a channel handler behind
/// `ByteToMessageHandler(MQTTPacketDecoder(version:))`.
///
/// It connects (and subscribes), then completes `ready`. A publisher sends when its loop's
/// ``BenchLoop`` pumps it, in batches encoded into one buffer with one write and flush; it
/// answers PUBREC with PUBREL and frees its window on PUBACK/PUBCOMP. A subscriber acknowledges
/// deliveries (PUBACK, or PUBREC then PUBCOMP), collecting its answers of a read batch into one
/// write flushed at the end of the batch, and reads the stamp of every payload for latency,
/// duplicates and order. Everything runs on the channel's event loop; counters go to `home`.
final class BenchClient: ChannelInboundHandler {
    typealias InboundIn = MQTTPacket
    typealias OutboundOut = ByteBuffer

    enum Phase { case connecting, subscribing, ready, closing, closed }

    let config: BenchClientConfig
    unowned let home: BenchLoop
    private let ready: EventLoopPromise<Void>
    private var readyDone = false
    private var context: ChannelHandlerContext?
    private(set) var phase = Phase.connecting
    private var handshakeTimeout: Scheduled<Void>?
    /// Packets encoded but not written yet; written and flushed by ``flushOut()``.
    private var pending: ByteBuffer?
    /// When this client last wrote, for keepalive pings.
    private(set) var lastWrite = NIODeadline.now()

    // Publisher state.
    private var packet: MQTTPublishPacket
    private(set) var sent = 0
    private var window: Int
    /// Per packet id: 0 free, 1 awaiting PUBACK/PUBREC, 2 awaiting PUBCOMP.
    private var inflightState: [UInt8] = []
    private var inflightCount = 0
    private var nextPacketID: UInt16 = 1
    private(set) var finished = false
    /// Free window slots that make an ack batch refill the window at once.
    private var refillThreshold: Int { max(1, min(config.batch, window / 4)) }

    // Subscriber state.
    /// The sequences seen from each publisher.
    private var seen = DeliveryTally()
    /// Inbound QoS 2 packet ids whose PUBREL has not come yet.
    private var awaitingRelease: Set<UInt16> = []

    init(config: BenchClientConfig, home: BenchLoop, ready: EventLoopPromise<Void>) {
        self.config = config
        self.home = home
        self.ready = ready
        self.window = max(1, config.inflight)
        var payload = ByteBuffer(repeating: 0x2E, count: config.payloadSize)
        if config.payloadSize >= BenchStamp.size {
            BenchStamp.write(into: &payload, at: 0, publisher: UInt32(truncatingIfNeeded: config.index), sequence: 0, nanos: 0)
        }
        self.packet = MQTTPublishPacket(topic: config.topic, payload: payload, qos: config.qos)
        if config.role == .publisher && config.qos != .atMostOnce { inflightState = [UInt8](repeating: 0, count: 65_536) }
    }

    var isPublisher: Bool { config.role == .publisher }

    // MARK: Channel events

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func channelActive(context: ChannelHandlerContext) {
        let connect = MQTTConnectPacket(protocolVersion: config.version, clientIdentifier: config.clientID,
                                        cleanStart: !config.persistent, keepAlive: config.keepAlive,
                                        properties: config.persistent && config.version == .v5 ? [.sessionExpiryInterval(3600)] : [])
        enqueue(.connect(connect))
        flushOut()
        handshakeTimeout = context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(15)) { [weak self] in
            guard let self, self.phase == .connecting || self.phase == .subscribing else { return }
            self.failReady(BenchError(description: "no CONNACK/SUBACK within 15 s"))
            self.context?.close(promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .connack(let ack): handleConnAck(ack)
        case .suback(let ack): handleSubAck(ack)
        case .publish(let publish): handleDelivery(publish)
        case .puback(let ack): complete(ack.packetIdentifier, expecting: 1)
        case .pubrec(let ack): handlePubRec(ack)
        case .pubrel(let ack):
            awaitingRelease.remove(ack.packetIdentifier)
            enqueue(.pubcomp(MQTTPublishAckPacket(packetIdentifier: ack.packetIdentifier)))
        case .pubcomp(let ack): complete(ack.packetIdentifier, expecting: 2)
        case .pingresp, .unsuback: break
        case .disconnect(let disconnect):
            home.recordDisconnectReason("\(config.clientID): DISCONNECT \(disconnect.reasonCode)"
                                        + (disconnect.properties.reasonString.map { " (\($0))" } ?? ""))
        case .connect, .subscribe, .unsubscribe, .pingreq, .auth:
            home.recordDisconnectReason("\(config.clientID): unexpected packet from the server")
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Acks freed a good part of the window: refill it now rather than at the next tick (not
        // for every single ack, which would cost a write per message against a broker that
        // acknowledges one packet per segment).
        if isPublisher && config.rate == 0 && phase == .ready && window - inflightCount >= refillThreshold { pump(now: .now()) }
        flushOut()
        context.fireChannelReadComplete()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && isPublisher && phase == .ready { pump(now: .now()) }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        let wasClosing = phase == .closing
        phase = .closed
        handshakeTimeout?.cancel()
        failReady(BenchError(description: "connection closed during the handshake"))
        if !wasClosing && readyDone {
            home.counters.unexpectedDisconnects += 1
            home.counters.connected -= 1
        }
        if isPublisher {
            home.counters.inflight -= inflightCount
            inflightCount = 0
            finish()
        }
        self.context = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if phase != .closing { home.recordDisconnectReason("\(config.clientID): \(error)") }
        failReady(error)
        context.close(promise: nil)
    }

    // MARK: Handshake

    private func handleConnAck(_ ack: MQTTConnAckPacket) {
        guard phase == .connecting else { return }
        guard !ack.reasonCode.isFailure else {
            failReady(BenchError(description: "connection refused: \(ack.reasonCode)"))
            context?.close(promise: nil)
            return
        }
        if config.version == .v5, let receiveMaximum = ack.properties.receiveMaximum {
            window = max(1, min(window, Int(receiveMaximum)))
        }
        if config.role == .subscriber {
            phase = .subscribing
            let subscribe = MQTTSubscribePacket(packetIdentifier: 1, subscriptions: [MQTTSubscription(topicFilter: config.topic, qos: config.qos)])
            enqueue(.subscribe(subscribe))
        } else {
            becomeReady()
        }
    }

    private func handleSubAck(_ ack: MQTTSubAckPacket) {
        guard phase == .subscribing else { return }
        guard let code = ack.reasonCodes.first, !code.isFailure else {
            failReady(BenchError(description: "subscription to \(config.topic) refused: \(ack.reasonCodes)"))
            context?.close(promise: nil)
            return
        }
        becomeReady()
    }

    private func becomeReady() {
        phase = .ready
        handshakeTimeout?.cancel()
        readyDone = true
        home.counters.connected += 1
        ready.succeed()
    }

    private func failReady(_ error: Error) {
        guard !readyDone else { return }
        readyDone = true
        ready.fail(error)
    }

    // MARK: Publishing

    /// Sends what is due: up to `batch` messages, fewer when the rate, the inflight window, the
    /// limit or the socket's write buffer says so. Finishes at the loop's deadline or the limit.
    func pump(now: NIODeadline) {
        guard phase == .ready, !finished, home.publishing, let context else { return }
        if now >= home.deadline || (config.limit.map { sent >= $0 } ?? false) { return finish() }
        var allowance = config.batch
        if config.rate > 0 {
            let elapsed = Double((now - home.start).nanoseconds) / 1e9
            allowance = min(allowance, Int(elapsed * config.rate) + 1 - sent)
        }
        if config.qos != .atMostOnce { allowance = min(allowance, window - inflightCount) }
        if let limit = config.limit { allowance = min(allowance, limit - sent) }
        guard allowance > 0, context.channel.isWritable else { return }

        let nanos = now.uptimeNanoseconds
        let stamped = config.payloadSize >= BenchStamp.size
        let publisher = UInt32(truncatingIfNeeded: config.index)
        var buffer = pending ?? context.channel.allocator.buffer(capacity: 0)
        pending = nil
        buffer.reserveCapacity(minimumWritableBytes: allowance * (config.payloadSize + config.topic.utf8.count + 8))
        for _ in 0..<allowance {
            if config.qos != .atMostOnce { packet.packetIdentifier = allocatePacketID() }
            do {
                try MQTTPacket.publish(packet).encode(into: &buffer, version: config.version)
            } catch {
                home.recordDisconnectReason("\(config.clientID): cannot encode PUBLISH: \(error)")
                return finish()
            }
            if stamped {
                BenchStamp.write(into: &buffer, at: buffer.writerIndex - config.payloadSize,
                                 publisher: publisher, sequence: UInt64(sent), nanos: nanos)
            }
            sent += 1
        }
        home.counters.sent += allowance
        home.counters.expected += allowance * config.fanOut
        if home.counters.firstSendNanos == .max { home.counters.firstSendNanos = nanos }
        home.counters.lastSendNanos = nanos
        pending = buffer
        flushOut()
    }

    /// Stops publishing (the deadline passed, the limit was reached or the run stops).
    func finish() {
        guard isPublisher, !finished else { return }
        finished = true
        home.counters.publishersDone += 1
    }

    private func allocatePacketID() -> UInt16 {
        while inflightState[Int(nextPacketID)] != 0 { nextPacketID = nextPacketID == .max ? 1 : nextPacketID + 1 }
        let id = nextPacketID
        nextPacketID = nextPacketID == .max ? 1 : nextPacketID + 1
        inflightState[Int(id)] = 1
        inflightCount += 1
        home.counters.inflight += 1
        return id
    }

    private func complete(_ id: UInt16, expecting state: UInt8) {
        guard !inflightState.isEmpty, inflightState[Int(id)] == state else { return }
        inflightState[Int(id)] = 0
        inflightCount -= 1
        home.counters.inflight -= 1
        home.counters.acknowledged += 1
    }

    private func handlePubRec(_ ack: MQTTPublishAckPacket) {
        let id = ack.packetIdentifier
        guard !inflightState.isEmpty, inflightState[Int(id)] != 0 else { return }
        if ack.reasonCode.isFailure {
            // The exchange ends here (5.0): the message was refused.
            inflightState[Int(id)] = 0
            inflightCount -= 1
            home.counters.inflight -= 1
            home.recordDisconnectReason("\(config.clientID): PUBREC \(ack.reasonCode)")
            return
        }
        inflightState[Int(id)] = 2
        enqueue(.pubrel(MQTTPublishAckPacket(packetIdentifier: id)))
    }

    // MARK: Receiving

    private func handleDelivery(_ publish: MQTTPublishPacket) {
        switch publish.qos {
        case .atMostOnce: break
        case .atLeastOnce:
            enqueue(.puback(MQTTPublishAckPacket(packetIdentifier: publish.packetIdentifier ?? 0)))
        case .exactlyOnce:
            let id = publish.packetIdentifier ?? 0
            enqueue(.pubrec(MQTTPublishAckPacket(packetIdentifier: id)))
            // A PUBLISH sent again before our PUBREL was answered is the same message.
            guard awaitingRelease.insert(id).inserted else { return }
        }
        home.recordDelivery(publish.payload, into: &seen)
    }

    // MARK: Writing

    private func enqueue(_ packet: MQTTPacket) {
        guard let context else { return }
        var buffer = pending ?? context.channel.allocator.buffer(capacity: 64)
        do {
            try packet.encode(into: &buffer, version: config.version)
        } catch {
            home.recordDisconnectReason("\(config.clientID): cannot encode \(packet.type): \(error)")
        }
        pending = buffer
    }

    /// Writes and flushes what was encoded since the last call, as one buffer.
    func flushOut() {
        guard let buffer = pending, let context else { return }
        pending = nil
        lastWrite = .now()
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    /// Sends PINGREQ when nothing was written for half the keepalive.
    func ping(now: NIODeadline) {
        guard phase == .ready, config.keepAlive > 0, now - lastWrite >= .milliseconds(Int64(config.keepAlive) * 500) else { return }
        enqueue(.pingreq)
        flushOut()
    }

    /// Ends the connection with DISCONNECT.
    func disconnect() {
        guard let context, phase != .closing, phase != .closed else { return }
        if phase == .ready { enqueue(.disconnect(MQTTDisconnectPacket())) }
        flushOut()
        phase = .closing
        context.close(promise: nil)
    }
}
