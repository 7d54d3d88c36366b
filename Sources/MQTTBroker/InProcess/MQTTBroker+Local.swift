import DequeModule
import MQTTCore
import NIOCore
import Synchronization

/// The engine's in-process access to the broker: no socket, same sessions and routing.
extension MQTTBroker {
    /// Client ids starting with this are reserved for in-process sessions: a network client's
    /// CONNECT using one is refused (0x85 Client Identifier not valid, 0x02 on 3.1.1).
    public static let inProcessClientIDPrefix = "junction."

    /// The reserved client id of an in-process session: `junction.<kind>.<name>`, e.g.
    /// `junction.process.orders` for a process, `junction.bridge.cloud` for a bridge.
    public static func inProcessClientID(_ kind: String, _ name: String) -> String {
        "\(inProcessClientIDPrefix)\(kind).\(name)"
    }

    /// Publishes a message as the broker itself; returns the number of sessions it went to. With a
    /// data directory and QoS 1/2, it returns once the message is durable (see ``BrokerDurability``).
    /// `publisher` (a client id) lets No Local subscriptions of that session skip it.
    @discardableResult
    public func publish(topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false,
                        properties: MQTTProperties = [], publisher: String? = nil) async throws -> Int {
        guard MQTTTopic.isValidName(topic) else { throw MQTTBrokerError.invalidTopicName(topic) }
        let packet = MQTTPublishPacket(topic: topic, payload: payload, qos: qos, retain: retain, properties: properties)
        let (state, restored, queue) = (self.state, self.restored.futureResult, self.localPublishes)
        return try await withUnsafeThrowingContinuation { continuation in
            queue.enqueue(CollectionOfOne(.init(packet: packet, publisher: publisher, completion: .resume(continuation))),
                          state: state, restored: restored)
        }
    }

    /// Opens (or resumes) the in-process session `clientID` with these subscriptions and returns
    /// its deliveries. A QoS 1/2 delivery stays unacknowledged — counted against `receiveMaximum`
    /// and sent again when the session is resumed — until its ``BrokerDelivery/ack()``.
    /// The session outlives the subscription for `sessionExpiry` seconds (`UInt32.max`: forever).
    public func subscribe(clientID: String, subscriptions: [MQTTSubscription], cleanStart: Bool = false,
                          sessionExpiry: UInt32 = .max, receiveMaximum: Int = 16) async throws -> BrokerSubscription {
        let filters = try subscriptions.map { subscription in
            guard let filter = MQTTTopicFilter(subscription.topicFilter) else {
                throw MQTTBrokerError.invalidTopicFilter(subscription.topicFilter)
            }
            return filter
        }
        try await restored.futureResult.get()
        let (stream, continuation) = AsyncStream<[BrokerDelivery]>.makeStream()
        let state = self.state
        let loop = self.loop
        let box = try await loop.submit {
            let endpoint = LocalEndpoint(continuation: continuation, clientID: clientID, state: state, loop: loop)
            let (session, _) = state.value.attach(endpoint, clientID: clientID, cleanStart: cleanStart, version: .v5,
                                                  expiry: sessionExpiry, window: max(1, receiveMaximum))
            endpoint.epoch = session.epoch
            var retained: [Delivery] = []
            for (filter, request) in zip(filters, subscriptions) {
                retained += state.value.subscribe(session, to: filter, request: request, identifier: nil)
            }
            session.resendInflight(now: .now())
            let settings = state.value.settings
            for delivery in retained { session.deliver(delivery, maxQueue: settings.maxMqueueLen, queueQoS0: settings.mqueueStoreQos0) }
            session.drainQueue(now: .now())
            state.value.flushPending()
            return NIOLoopBound(endpoint, eventLoop: loop)
        }.get()
        return BrokerSubscription(stream: stream, endpoint: box, loop: loop)
    }
}

/// Errors of the in-process API.
public enum MQTTBrokerError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalidTopicName(String)
    case invalidTopicFilter(String)
    /// The broker went away before it was started.
    case notStarted

    public var description: String {
        switch self {
        case .notStarted: "the broker was never started"
        case .invalidTopicName(let topic): "invalid topic name \"\(topic)\" (empty, or contains + or #)"
        case .invalidTopicFilter(let filter): "invalid topic filter \"\(filter)\""
        }
    }
}

/// One message delivered to an in-process subscriber.
public struct BrokerDelivery: Sendable {
    public let topic: String
    public let payload: ByteBuffer
    public let qos: MQTTQoS
    public let retain: Bool
    /// Set when the message is delivered again after the session was resumed.
    public let dup: Bool
    /// Forwarded properties, with the remaining Message Expiry Interval.
    public let properties: MQTTProperties
    let packetIdentifier: UInt16?
    let epoch: UInt64
    let acknowledger: LocalAcknowledger

    /// Completes the QoS 1/2 exchange for this message; until then the session holds it.
    /// Does nothing for QoS 0 or when the session has since ended.
    public func ack() async {
        guard let packetIdentifier else { return }
        acknowledger.acknowledge(packetIdentifier, epoch: epoch)
    }
}

/// The deliveries of an in-process session, in order.
///
/// The broker hands them over in batches (what one turn of its event loop delivered), so a
/// busy session costs the consumer one wake-up per batch, not per message; the iterator gives
/// them out one by one.
public struct BrokerSubscription: AsyncSequence, Sendable {
    public typealias Element = BrokerDelivery
    let stream: AsyncStream<[BrokerDelivery]>
    let endpoint: NIOLoopBound<LocalEndpoint>
    let loop: EventLoop

    /// What the last batch still holds: kept with the subscription, not the iterator, so an
    /// iterator given up early (a `for` loop left with `break`, `first(where:)`) loses nothing.
    let leftovers = Leftovers()

    final class Leftovers: Sendable {
        private let queue = Mutex<Deque<BrokerDelivery>>([])
        func pop() -> BrokerDelivery? { queue.withLock { $0.popFirst() } }
        func keep(_ batch: ArraySlice<BrokerDelivery>) { queue.withLock { $0.append(contentsOf: batch) } }
    }

    public func makeAsyncIterator() -> Iterator { Iterator(batches: stream.makeAsyncIterator(), leftovers: leftovers) }

    public struct Iterator: AsyncIteratorProtocol {
        var batches: AsyncStream<[BrokerDelivery]>.AsyncIterator
        let leftovers: Leftovers

        public mutating func next() async -> BrokerDelivery? {
            if let kept = leftovers.pop() { return kept }
            guard let batch = await batches.next(), let first = batch.first else { return nil }
            leftovers.keep(batch.dropFirst())
            return first
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async -> BrokerDelivery? {
            if let kept = leftovers.pop() { return kept }
            guard let batch = await batches.next(isolation: actor), let first = batch.first else { return nil }
            leftovers.keep(batch.dropFirst())
            return first
        }
    }

    /// Detaches from the session (which lives on for its expiry) and ends the sequence.
    public func close() async {
        let endpoint = self.endpoint
        try? await loop.submit { endpoint.value.detach() }.get()
    }
}

/// Acknowledges the in-process deliveries of one session on the broker's loop, in batches.
final class LocalAcknowledger: Sendable {
    let clientID: String
    let state: NIOLoopBoundBox<BrokerState>
    let loop: EventLoop
    /// Acknowledgements not yet applied: (session epoch, packet identifier).
    private let pending = Mutex<[(epoch: UInt64, id: UInt16)]>([])

    init(clientID: String, state: NIOLoopBoundBox<BrokerState>, loop: EventLoop) {
        self.clientID = clientID
        self.state = state
        self.loop = loop
    }

    /// One acknowledgement to apply on the loop.
    struct Acknowledgement {
        var acknowledger: LocalAcknowledger
        var id: UInt16
        var epoch: UInt64
    }

    /// Queues the acknowledgement and returns. The first one queued schedules a task on the
    /// broker's loop that applies all of them queued by then, so a busy session costs the loop
    /// one task per batch, and the engine no suspension per document. The loop runs its tasks in
    /// order: a session query, subscribe or close asked after this returned sees the
    /// acknowledgement done (a publish may join a batch queued before it).
    func acknowledge(_ id: UInt16, epoch: UInt64) {
        let first = pending.withLock { pending in
            pending.append((epoch, id))
            return pending.count == 1
        }
        guard first else { return }
        loop.execute { [self] in
            let acknowledgements = pending.withLock { pending in
                defer { pending.removeAll(keepingCapacity: true) }
                return pending
            }
            Self.apply(acknowledgements.map { Acknowledgement(acknowledger: self, id: $0.id, epoch: $0.epoch) }, state.value)
        }
    }

    /// Applies `acknowledgements` (on the loop): each completes its message in its session when
    /// that session is still the one it was delivered in; the sessions then send what waited.
    static func apply(_ acknowledgements: [Acknowledgement], _ state: BrokerState) {
        var (acknowledger, session): (LocalAcknowledger?, Session?) = (nil, nil)
        var completed: [Session] = []
        for acknowledgement in acknowledgements {
            if acknowledger !== acknowledgement.acknowledger {
                acknowledger = acknowledgement.acknowledger
                session = state.sessions[acknowledgement.acknowledger.clientID]
            }
            guard let session, session.epoch == acknowledgement.epoch, session.acknowledge(acknowledgement.id) else { continue }
            if !completed.contains(where: { $0 === session }) { completed.append(session) }
        }
        guard !completed.isEmpty else { return }
        let now = NIODeadline.now()
        for session in completed { session.drainQueue(now: now) }
        state.flushSoon()
    }
}

/// The session endpoint of an in-process subscriber: deliveries go into an AsyncStream, in
/// batches handed over once per turn of the loop.
final class LocalEndpoint: SessionEndpoint {
    var isInProcess: Bool { true }
    let continuation: AsyncStream<[BrokerDelivery]>.Continuation
    let clientID: String
    let state: NIOLoopBoundBox<BrokerState>
    let loop: EventLoop
    var epoch: UInt64 = 0
    let acknowledger: LocalAcknowledger
    /// Deliveries of this turn of the loop, not yet handed over.
    private var batch: [BrokerDelivery] = []

    init(continuation: AsyncStream<[BrokerDelivery]>.Continuation, clientID: String, state: NIOLoopBoundBox<BrokerState>, loop: EventLoop) {
        self.continuation = continuation
        self.clientID = clientID
        self.state = state
        self.loop = loop
        self.acknowledger = LocalAcknowledger(clientID: clientID, state: state, loop: loop)
    }

    /// The stream buffers what the consumer has not taken yet; QoS 1/2 are bounded by the
    /// receive maximum, QoS 0 by the rate of publishers (the engine reads as it goes).
    var canSend: Bool { true }

    func sendPublish(_ delivery: Delivery, packetIdentifier: UInt16?, dup: Bool) -> Bool {
        let now = NIODeadline.now()
        var properties = delivery.message.properties
        if let remaining = delivery.message.remainingExpiry(at: now) { properties.append(.messageExpiryInterval(remaining)) }
        if batch.isEmpty {
            // Handed over after the tasks already queued on the loop: one batch per turn.
            let this = NIOLoopBound(self, eventLoop: loop)
            loop.execute { this.value.handOver() }
        }
        batch.append(BrokerDelivery(
            topic: delivery.message.topic, payload: delivery.message.payload, qos: delivery.qos, retain: delivery.retain,
            dup: dup, properties: properties, packetIdentifier: packetIdentifier, epoch: epoch,
            acknowledger: acknowledger))
        return true
    }

    private func handOver() {
        guard !batch.isEmpty else { return }
        continuation.yield(batch)
        batch = []
    }

    /// In process, QoS 2 needs no PUBREL round: the subscriber's ack completes it.
    func sendRelease(_ packetIdentifier: UInt16) {}

    func takeOver() {
        handOver()
        continuation.finish()
    }

    func disconnect(_ reasonCode: MQTTReasonCode, reason: String?) { detach() }

    func detach() {
        handOver()
        continuation.finish()
        if let session = state.value.sessions[clientID], session.connection === self {
            state.value.detach(session)
        }
    }
}

/// A snapshot of one session, for the admin API and tests.
public struct BrokerSessionInfo: Sendable, Hashable {
    public var clientID: String
    public var connected: Bool
    public var subscriptions: [String]
    /// QoS 1/2 messages sent and not yet acknowledged.
    public var inflight: Int
    /// Messages waiting behind the inflight window.
    public var queued: Int
}
