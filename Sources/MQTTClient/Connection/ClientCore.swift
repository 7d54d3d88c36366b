import DequeModule
import Logging
import MQTTCore
import NIOCore

/// The I/O side of one ``MQTTClient``: owns the protocol state machine, the current channel, the
/// callers' promises and the local subscriptions. Every method runs on the client's event loop;
/// nothing here is shared across threads, so there is no lock.
final class ClientCore {
    enum Phase {
        /// Not connected yet.
        case idle
        /// TCP connect, CONNECT and CONNACK (and AUTH) of connection `connection` in progress.
        case connecting(connection: UInt64)
        case connected(connection: UInt64)
        /// Between attempts; the reconnect timer runs.
        case waitingToReconnect
        /// For good: shut down, or the connection was lost with reconnection disabled.
        case closed(MQTTClientError)
    }

    /// A subscription of the application, with the stream its messages go to.
    struct LocalSubscription {
        var filters: [MQTTTopicFilter]
        var identifier: UInt32?
        var continuation: AsyncThrowingStream<MQTTMessage, any Error>.Continuation
    }

    let loop: EventLoop
    let configuration: MQTTClientConfiguration
    var logger: Logger
    var session: ClientSessionState
    var phase = Phase.idle
    var channel: Channel?
    var connectionCounter: UInt64 = 0
    var serverIndex = 0
    var clientID: String
    var backoff: ReconnectBackoff
    var keepAlive: KeepAliveState?
    var keepAliveTimer: Scheduled<Void>?
    var connectTimer: Scheduled<Void>?
    var reconnectTimer: Scheduled<Void>?
    /// Why the current connection ended, set by whoever noticed first.
    var connectionError: MQTTClientError?
    /// The first connect() waiting, with the attempts it has left (one per server).
    var initialConnect: (promise: EventLoopPromise<Void>, attemptsLeft: Int)?
    /// The re-authentication waiting for the broker's AUTH 0x00.
    var reauthentication: EventLoopPromise<Void>?
    var lastConnAck: MQTTConnAckPacket?
    var connectedServer: MQTTServer?
    var needsFlush = false
    var lastOperation: OperationID = 0
    var publishes: [OperationID: EventLoopPromise<MQTTPublishResult>] = [:]
    var subscribes: [OperationID: EventLoopPromise<MQTTSubAckPacket>] = [:]
    var unsubscribes: [OperationID: EventLoopPromise<MQTTSubAckPacket>] = [:]
    var localSubscriptions: [UInt64: LocalSubscription] = [:]
    var lastLocalSubscription: UInt64 = 0
    var lastSubscriptionIdentifier: UInt32 = 0
    /// QoS 1/2 messages no local subscription matched yet (a resumed session delivers before
    /// the application subscribes); handed to the first subscription that matches.
    var unrouted: Deque<InboundDelivery> = []
    /// Local copies of each QoS 1/2 delivery not acknowledged yet, by serial.
    var pendingCopies: [UInt64: (packetIdentifier: UInt16, count: Int)] = [:]
    /// Acknowledges deliveries from any thread; set by ``MQTTClient`` once the core is boxed.
    var acknowledge: (@Sendable (UInt16, UInt64) async throws(MQTTClientError) -> Void)?

    init(configuration: MQTTClientConfiguration, loop: EventLoop, logger: Logger) {
        self.loop = loop
        self.configuration = configuration
        self.clientID = configuration.clientID
        self.backoff = ReconnectBackoff(policy: configuration.reconnect)
        var settings = ClientSessionState.Settings(version: configuration.version)
        settings.offlineQueueLimit = max(0, configuration.offlineQueueLimit)
        settings.maximumInflight = max(1, configuration.maximumInflight)
        settings.inboundTopicAliasMaximum = configuration.version == .v5 ? configuration.topicAliasMaximum : 0
        settings.useTopicAliases = configuration.useTopicAliases
        self.session = ClientSessionState(settings: settings)
        var logger = logger
        logger[metadataKey: "mqtt.client_id"] = .string(configuration.clientID)
        self.logger = logger
    }

    var isClosed: Bool {
        if case .closed = phase { return true }
        return false
    }

    var isConnected: Bool {
        if case .connected = phase { return true }
        return false
    }

    func nextOperation() -> OperationID {
        lastOperation += 1
        return lastOperation
    }

    // MARK: - Operations from the application

    func publish(_ packet: MQTTPublishPacket) -> EventLoopFuture<MQTTPublishResult> {
        if case .closed(let error) = phase { return loop.makeFailedFuture(error) }
        let operation = nextOperation()
        let promise = loop.makePromise(of: MQTTPublishResult.self)
        publishes[operation] = promise
        perform(session.publish(packet, operation: operation))
        return promise.futureResult
    }

    func subscribe(_ subscriptions: [MQTTSubscription], properties: MQTTProperties) -> EventLoopFuture<MQTTSubAckPacket> {
        if case .closed(let error) = phase { return loop.makeFailedFuture(error) }
        let operation = nextOperation()
        let promise = loop.makePromise(of: MQTTSubAckPacket.self)
        subscribes[operation] = promise
        perform(session.subscribe(subscriptions, properties: properties, operation: operation))
        return promise.futureResult
    }

    func unsubscribe(_ filters: [String], properties: MQTTProperties) -> EventLoopFuture<MQTTSubAckPacket> {
        if case .closed(let error) = phase { return loop.makeFailedFuture(error) }
        let operation = nextOperation()
        let promise = loop.makePromise(of: MQTTSubAckPacket.self)
        unsubscribes[operation] = promise
        perform(session.unsubscribe(filters, properties: properties, operation: operation))
        return promise.futureResult
    }

    /// One local copy of delivery `serial` is acknowledged; the broker hears of it after the last.
    func acknowledge(packetIdentifier: UInt16, serial: UInt64) {
        guard var copies = pendingCopies[serial] else { return }
        copies.count -= 1
        if copies.count > 0 {
            pendingCopies[serial] = copies
            return
        }
        pendingCopies[serial] = nil
        perform(session.acknowledge(packetIdentifier: packetIdentifier, serial: serial))
    }

    // MARK: - Carrying out actions

    func perform(_ actions: [ClientAction]) {
        for action in actions {
            switch action {
            case .send(let packet):
                write(packet)
            case .completePublish(let operation, let result):
                publishes.removeValue(forKey: operation)?.completeWith(result.mapError { $0 as any Error })
            case .completeSubscribe(let operation, let result):
                subscribes.removeValue(forKey: operation)?.completeWith(result.mapError { $0 as any Error })
            case .completeUnsubscribe(let operation, let result):
                unsubscribes.removeValue(forKey: operation)?.completeWith(result.mapError { $0 as any Error })
            case .deliver(let delivery):
                route(delivery)
            case .closeConnection(let error):
                closeForProtocolError(error)
            }
        }
        flushIfNeeded()
    }

    /// Writes a packet on the current connection (flushed at the end of the batch).
    func write(_ packet: MQTTPacket) {
        guard let channel else { return }
        channel.write(packet, promise: nil)
        needsFlush = true
        keepAlive?.sent(at: .now())
        if logger.logLevel <= .trace { logger.trace("sent \(packet.type)") }
    }

    func flushIfNeeded() {
        guard needsFlush else { return }
        needsFlush = false
        channel?.flush()
    }

    /// The broker broke the protocol: DISCONNECT with the reason (5.0), then close.
    func closeForProtocolError(_ error: MQTTClientError) {
        guard channel != nil else { return }
        if connectionError == nil { connectionError = error }
        logger.warning("closing the connection: \(error)")
        if configuration.version == .v5, let code = error.reasonCode {
            write(.disconnect(MQTTDisconnectPacket(reasonCode: code)))
        }
        flushIfNeeded()
        channel?.close(promise: nil)
    }

    // MARK: - Routing to local subscriptions

    /// Registers a subscription before its SUBSCRIBE goes out (retained messages may follow the
    /// SUBACK at once) and hands it what waited unrouted.
    func addLocalSubscription(filters: [MQTTTopicFilter], identifier: UInt32?) -> (UInt64, AsyncThrowingStream<MQTTMessage, any Error>) {
        let (stream, continuation) = AsyncThrowingStream<MQTTMessage, any Error>.makeStream()
        lastLocalSubscription += 1
        let id = lastLocalSubscription
        localSubscriptions[id] = LocalSubscription(filters: filters, identifier: identifier, continuation: continuation)
        if !unrouted.isEmpty {
            let waiting = unrouted
            unrouted = []
            for delivery in waiting { route(delivery) }
        }
        return (id, stream)
    }

    func removeLocalSubscription(_ id: UInt64) {
        localSubscriptions.removeValue(forKey: id)?.continuation.finish()
    }

    /// Whether another local subscription still uses `filter`.
    func filterInUse(_ filter: String, except id: UInt64) -> Bool {
        localSubscriptions.contains { $0.key != id && $0.value.filters.contains { $0.rawValue == filter } }
    }

    func nextSubscriptionIdentifier() -> UInt32? {
        guard configuration.version == .v5, configuration.assignSubscriptionIdentifiers,
              session.limits.subscriptionIdentifiersAvailable else { return nil }
        lastSubscriptionIdentifier = lastSubscriptionIdentifier >= 268_435_455 ? 1 : lastSubscriptionIdentifier + 1
        return lastSubscriptionIdentifier
    }

    /// Hands a delivery to every local subscription it belongs to: by Subscription Identifier
    /// when the broker sent one of ours, else by topic filter.
    func route(_ delivery: InboundDelivery) {
        let packet = delivery.packet
        let identifiers = packet.properties.subscriptionIdentifiers
        var targets: [UInt64] = []
        if !identifiers.isEmpty {
            targets = localSubscriptions.compactMap { entry in
                entry.value.identifier.map { identifiers.contains($0) } == true ? entry.key : nil
            }
        }
        if targets.isEmpty {
            targets = localSubscriptions.compactMap { entry in
                entry.value.filters.contains { $0.matches(packet.topic) } ? entry.key : nil
            }
        }
        targets.sort()
        guard !targets.isEmpty else {
            if delivery.serial != nil {
                unrouted.append(delivery)
            } else {
                logger.debug("QoS 0 message matches no subscription; dropped", metadata: ["mqtt.topic": .string(packet.topic)])
            }
            return
        }
        if let serial = delivery.serial, let id = packet.packetIdentifier, let acknowledge {
            pendingCopies[serial] = (id, targets.count)
            for target in targets {
                let copy = MQTTAcknowledger(packetIdentifier: id, serial: serial, send: acknowledge)
                localSubscriptions[target]?.continuation.yield(MQTTMessage(packet: packet, acknowledger: copy))
            }
            return
        }
        for target in targets {
            localSubscriptions[target]?.continuation.yield(MQTTMessage(packet: packet, acknowledger: nil))
        }
    }

    /// Ends every local subscription: normally when the client closes, with `error` otherwise.
    func finishLocalSubscriptions(_ error: MQTTClientError?) {
        for subscription in localSubscriptions.values {
            if let error { subscription.continuation.finish(throwing: error) } else { subscription.continuation.finish() }
        }
        localSubscriptions = [:]
        unrouted = []
        pendingCopies = [:]
    }
}
