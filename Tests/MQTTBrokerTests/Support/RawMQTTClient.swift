import MQTTCore
import NIOCore
import NIOPosix
import Synchronization

/// Why a ``RawMQTTClient`` expectation failed.
struct RawClientError: Error, CustomStringConvertible {
    var description: String

    static func timeout(_ what: String, _ timeout: Duration) -> RawClientError {
        RawClientError(description: "timed out after \(timeout) waiting for \(what)")
    }

    static func closed(_ what: String, _ error: String?) -> RawClientError {
        RawClientError(description: "connection closed while waiting for \(what)" + (error.map { " (\($0))" } ?? ""))
    }

    static func unexpected(_ packet: MQTTPacket, expected: String) -> RawClientError {
        RawClientError(description: "expected \(expected), got \(packet.brief)")
    }
}

/// A deliberately thin MQTT client for broker scenario tests: it sends exactly the packets it is
/// told to and hands back exactly what the broker sent, in order. No retries, no automatic acks.
///
/// Pipeline: `ByteToMessageHandler(MQTTPacketDecoder(version:))` →
/// `MessageToByteHandler(MQTTPacketEncoder(version:))` → a handler feeding a ``PacketInbox``.
final class RawMQTTClient: Sendable {
    let version: MQTTProtocolVersion
    let channel: Channel
    private let inbox: PacketInbox
    private let nextPacketID = Mutex<UInt16>(0)

    private init(version: MQTTProtocolVersion, channel: Channel, inbox: PacketInbox) {
        self.version = version
        self.channel = channel
        self.inbox = inbox
    }

    deinit { channel.close(promise: nil) }

    /// Opens a TCP connection to the broker on 127.0.0.1:`port`; nothing is sent yet.
    /// `source` binds the local address first (e.g. 127.0.0.2, to be another address on loopback).
    static func open(port: Int, version: MQTTProtocolVersion, source: String? = nil) async throws -> RawMQTTClient {
        let inbox = PacketInbox()
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if let source { bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: source, port: 0)) }
        let channel = try await bootstrap
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(15))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(ByteToMessageHandler(MQTTPacketDecoder(version: version)))
                    try sync.addHandler(MessageToByteHandler(MQTTPacketEncoder(version: version)))
                    try sync.addHandler(InboxHandler(inbox: inbox))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .get()
        return RawMQTTClient(version: version, channel: channel, inbox: inbox)
    }

    /// Opens a connection and completes CONNECT/CONNACK; fails unless the broker accepts.
    static func connected(
        port: Int, version: MQTTProtocolVersion, clientID: String, cleanStart: Bool = true, keepAlive: UInt16 = 60,
        will: MQTTWill? = nil, properties: MQTTProperties = []
    ) async throws -> RawMQTTClient {
        let client = try await open(port: port, version: version)
        let connack = try await client.connect(clientID: clientID, cleanStart: cleanStart, keepAlive: keepAlive,
                                               will: will, properties: properties)
        guard connack.reasonCode == .success else {
            throw RawClientError(description: "CONNECT of \(clientID) refused: \(connack.reasonCode)")
        }
        return client
    }

    // MARK: Sending

    func send(_ packet: MQTTPacket) async throws {
        try await channel.writeAndFlush(packet).get()
    }

    /// Encodes `packets` into one buffer and writes them at once (a burst the broker reads together).
    func sendBatch(_ packets: [MQTTPacket]) async throws {
        var buffer = ByteBuffer()
        for packet in packets { try packet.encode(into: &buffer, version: version) }
        try await sendRaw(Array(buffer.readableBytesView))
    }

    /// Writes bytes as they are, past the encoder: for malformed packets.
    func sendRaw(_ bytes: [UInt8]) async throws {
        let channel = self.channel
        try await channel.eventLoop.flatSubmit { () -> EventLoopFuture<Void> in
            do {
                let context = try channel.pipeline.syncOperations.context(handlerType: MessageToByteHandler<MQTTPacketEncoder>.self)
                let promise = channel.eventLoop.makePromise(of: Void.self)
                context.writeAndFlush(NIOAny(channel.allocator.buffer(bytes: bytes)), promise: promise)
                return promise.futureResult
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }.get()
    }

    /// Closes the socket without DISCONNECT (an abrupt end: the will is published).
    func closeAbruptly() async {
        try? await channel.close().get()
    }

    /// A fresh packet identifier (1, 2, 3...).
    func packetID() -> UInt16 {
        nextPacketID.withLock { id in
            id = id == .max ? 1 : id + 1
            return id
        }
    }

    // MARK: Receiving

    /// The next packet from the broker; throws on timeout or when the connection closed.
    func receive(timeout: Duration = .seconds(15), _ what: String = "a packet") async throws -> MQTTPacket {
        switch await inbox.next(timeout: timeout, on: channel.eventLoop) {
        case .packet(let packet): return packet
        case .closed(let error): throw RawClientError.closed(what, error)
        case nil: throw RawClientError.timeout(what, timeout)
        }
    }

    /// Waits until the broker closes the connection; returns what it sent before.
    @discardableResult
    func expectClosed(timeout: Duration = .seconds(15)) async throws -> [MQTTPacket] {
        let deadline = ContinuousClock.now + timeout
        var packets: [MQTTPacket] = []
        while true {
            let left = deadline - ContinuousClock.now
            switch await inbox.next(timeout: max(left, .zero), on: channel.eventLoop) {
            case .packet(let packet): packets.append(packet)
            case .closed: return packets
            case nil:
                throw RawClientError(description: "connection still open after \(timeout); received \(packets.map(\.brief))")
            }
        }
    }

    /// Waits for the broker to end the connection and returns the DISCONNECT reason code it sent
    /// first (nil when it closed without one, as a 3.1.1 server must). Any other packet fails.
    func expectServerDisconnect(timeout: Duration = .seconds(15)) async throws -> MQTTReasonCode? {
        let packets = try await expectClosed(timeout: timeout)
        guard let first = packets.first else { return nil }
        guard packets.count == 1, case .disconnect(let disconnect) = first else {
            throw RawClientError(description: "expected at most one DISCONNECT before the close, got \(packets.map(\.brief))")
        }
        return disconnect.reasonCode
    }

    /// Proves nothing else is pending: the broker answers a connection's packets in order, so a
    /// PINGRESP that comes next means no PUBLISH (or other packet) was queued before it.
    func expectNothingPending(timeout: Duration = .seconds(15)) async throws {
        try await send(.pingreq)
        let packet = try await receive(timeout: timeout, "PINGRESP")
        guard case .pingresp = packet else { throw RawClientError.unexpected(packet, expected: "PINGRESP (nothing pending)") }
    }

    func receivePublish(timeout: Duration = .seconds(15)) async throws -> MQTTPublishPacket {
        let packet = try await receive(timeout: timeout, "PUBLISH")
        guard case .publish(let publish) = packet else { throw RawClientError.unexpected(packet, expected: "PUBLISH") }
        return publish
    }

    // MARK: Conveniences

    /// Sends CONNECT and returns the CONNACK, whatever its reason code.
    @discardableResult
    func connect(clientID: String, cleanStart: Bool = true, keepAlive: UInt16 = 60, will: MQTTWill? = nil,
                 properties: MQTTProperties = []) async throws -> MQTTConnAckPacket {
        try await send(.connect(MQTTConnectPacket(protocolVersion: version, clientIdentifier: clientID, cleanStart: cleanStart,
                                                  keepAlive: keepAlive, will: will, properties: properties)))
        let packet = try await receive(timeout: .seconds(15), "CONNACK")
        guard case .connack(let connack) = packet else { throw RawClientError.unexpected(packet, expected: "CONNACK") }
        return connack
    }

    /// Subscribes and returns the SUBACK's reason codes; the SUBACK must be the next packet.
    @discardableResult
    func subscribe(_ subscriptions: [MQTTSubscription], identifier: UInt32? = nil) async throws -> [MQTTReasonCode] {
        let id = packetID()
        let properties: MQTTProperties = identifier.map { [.subscriptionIdentifier($0)] } ?? []
        try await send(.subscribe(MQTTSubscribePacket(packetIdentifier: id, subscriptions: subscriptions, properties: properties)))
        let packet = try await receive(timeout: .seconds(15), "SUBACK")
        guard case .suback(let suback) = packet, suback.packetIdentifier == id else {
            throw RawClientError.unexpected(packet, expected: "SUBACK \(id)")
        }
        return suback.reasonCodes
    }

    @discardableResult
    func subscribe(_ filter: String, qos: MQTTQoS = .atMostOnce, identifier: UInt32? = nil) async throws -> [MQTTReasonCode] {
        try await subscribe([MQTTSubscription(topicFilter: filter, qos: qos)], identifier: identifier)
    }

    /// Publishes and completes the sender's side of the QoS flow: QoS 1 waits for PUBACK,
    /// QoS 2 for PUBREC, sends PUBREL and waits for PUBCOMP. Each acknowledgement must be the next
    /// packet. Returns the reason code of PUBACK / PUBREC (success for QoS 0).
    @discardableResult
    func publish(_ topic: String, _ payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false,
                 properties: MQTTProperties = []) async throws -> MQTTReasonCode {
        let id: UInt16? = qos == .atMostOnce ? nil : packetID()
        try await send(.publish(MQTTPublishPacket(topic: topic, payload: payload, qos: qos, retain: retain,
                                                  packetIdentifier: id, properties: properties)))
        guard let id else { return .success }
        if qos == .atLeastOnce { return try await expectAck(.puback, id).reasonCode }
        let pubrec = try await expectAck(.pubrec, id)
        if pubrec.reasonCode.isFailure { return pubrec.reasonCode }
        try await send(.pubrel(MQTTPublishAckPacket(packetIdentifier: id)))
        let pubcomp = try await expectAck(.pubcomp, id)
        guard pubcomp.reasonCode == .success else {
            throw RawClientError(description: "PUBCOMP \(id) with \(pubcomp.reasonCode)")
        }
        return pubrec.reasonCode
    }

    @discardableResult
    func publish(_ topic: String, _ payload: String, qos: MQTTQoS = .atMostOnce, retain: Bool = false,
                 properties: MQTTProperties = []) async throws -> MQTTReasonCode {
        try await publish(topic, ByteBuffer(string: payload), qos: qos, retain: retain, properties: properties)
    }

    /// Completes the receiver's side of the QoS flow of `publish`: PUBACK, or PUBREC → PUBREL → PUBCOMP.
    func acknowledge(_ publish: MQTTPublishPacket) async throws {
        guard let id = publish.packetIdentifier else { return }
        switch publish.qos {
        case .atMostOnce: return
        case .atLeastOnce: try await send(.puback(MQTTPublishAckPacket(packetIdentifier: id)))
        case .exactlyOnce:
            try await send(.pubrec(MQTTPublishAckPacket(packetIdentifier: id)))
            _ = try await expectAck(.pubrel, id)
            try await send(.pubcomp(MQTTPublishAckPacket(packetIdentifier: id)))
        }
    }

    /// The next packet must be the acknowledgement `type` for `id`.
    func expectAck(_ type: MQTTPacketType, _ id: UInt16, timeout: Duration = .seconds(15)) async throws -> MQTTPublishAckPacket {
        let packet = try await receive(timeout: timeout, "\(type) \(id)")
        let ack: MQTTPublishAckPacket? = switch (type, packet) {
        case (.puback, .puback(let a)), (.pubrec, .pubrec(let a)), (.pubrel, .pubrel(let a)), (.pubcomp, .pubcomp(let a)): a
        default: nil
        }
        guard let ack, ack.packetIdentifier == id else { throw RawClientError.unexpected(packet, expected: "\(type) \(id)") }
        return ack
    }

    /// Ends the connection the normal way: DISCONNECT, then waits for the broker to close.
    func disconnect(_ reason: MQTTReasonCode = .normalDisconnection, properties: MQTTProperties = []) async throws {
        try await send(.disconnect(MQTTDisconnectPacket(reasonCode: reason, properties: properties)))
        try await expectClosed()
    }
}

// MARK: - Inbox

/// Packets received by one connection, handed to one waiting receiver at a time.
final class PacketInbox: Sendable {
    enum Event: Sendable {
        case packet(MQTTPacket)
        /// The connection closed; the error that closed it, if any.
        case closed(String?)
    }

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Event?, Never>
    }

    private struct State {
        var events: [Event] = []
        var isClosed = false
        var closeError: String?
        var waiter: Waiter?
        var lastWaiterID: UInt64 = 0
    }

    private let state = Mutex(State())

    func push(_ packet: MQTTPacket) {
        let waiter = state.withLock { state -> Waiter? in
            guard let waiter = state.waiter else {
                state.events.append(.packet(packet))
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.continuation.resume(returning: .packet(packet))
    }

    func close(error: String?) {
        let (waiter, closeError) = state.withLock { state -> (Waiter?, String?) in
            if !state.isClosed {
                state.isClosed = true
                state.closeError = error
            } else if state.closeError == nil {
                state.closeError = error
            }
            defer { state.waiter = nil }
            return (state.waiter, state.closeError)
        }
        waiter?.continuation.resume(returning: .closed(closeError))
    }

    /// The next event, or nil when none came within `timeout`.
    func next(timeout: Duration, on loop: EventLoop) async -> Event? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Event?, Never>) in
            let (immediate, waiterID) = state.withLock { state -> (Event?, UInt64) in
                if !state.events.isEmpty { return (state.events.removeFirst(), 0) }
                if state.isClosed { return (.closed(state.closeError), 0) }
                precondition(state.waiter == nil, "one receiver at a time")
                state.lastWaiterID += 1
                state.waiter = Waiter(id: state.lastWaiterID, continuation: continuation)
                return (nil, state.lastWaiterID)
            }
            if let immediate { return continuation.resume(returning: immediate) }
            loop.scheduleTask(in: TimeAmount(timeout)) { [self] in expire(waiterID) }
        }
    }

    private func expire(_ id: UInt64) {
        let waiter = state.withLock { state -> Waiter? in
            guard let waiter = state.waiter, waiter.id == id else { return nil }
            state.waiter = nil
            return waiter
        }
        waiter?.continuation.resume(returning: nil)
    }
}

private final class InboxHandler: ChannelInboundHandler {
    typealias InboundIn = MQTTPacket
    let inbox: PacketInbox

    init(inbox: PacketInbox) { self.inbox = inbox }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inbox.push(unwrapInboundIn(data))
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        inbox.close(error: "\(error)")
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbox.close(error: nil)
        context.fireChannelInactive()
    }
}

extension MQTTPacket {
    /// A one-line summary for failure messages.
    var brief: String {
        switch self {
        case .publish(let p):
            "PUBLISH(\(p.topic), q\(p.qos.rawValue), id \(p.packetIdentifier.map(String.init) ?? "-"), \(p.payload.readableBytes) bytes"
                + (p.retain ? ", retain" : "") + (p.dup ? ", dup" : "") + ")"
        case .puback(let a), .pubrec(let a), .pubrel(let a), .pubcomp(let a): "\(type)(\(a.packetIdentifier), \(a.reasonCode))"
        case .connack(let c): "CONNACK(\(c.reasonCode), session present \(c.sessionPresent))"
        case .disconnect(let d): "DISCONNECT(\(d.reasonCode))"
        case .suback(let s), .unsuback(let s): "\(type)(\(s.packetIdentifier), \(s.reasonCodes))"
        default: "\(type)"
        }
    }
}
