import Foundation
import Logging
import MQTTCore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// The embedded MQTT 3.1.1 / 5.0 broker (docs/design.md) as a swift-service-lifecycle `Service`.
///
/// All broker state lives on one event loop of the group: connections are accepted onto that
/// loop and route messages synchronously there. `run()` serves until graceful shutdown;
/// tests use ``start()`` (which returns the bound addresses, port 0 allowed) and ``shutdown()``.
public final class MQTTBroker: Service, Sendable {
    public let listeners: [BrokerListener]
    let logger: Logger
    let loop: EventLoop
    let state: NIOLoopBoundBox<BrokerState>
    private let channels = NIOLockedValueBox<[Channel]>([])
    private let sysTask = NIOLockedValueBox<RepeatedTask?>(nil)
    private let housekeepingTask = NIOLockedValueBox<RepeatedTask?>(nil)
    /// Where `broker.sqlite` keeps durable state; nil keeps everything in memory.
    public let dataDirectory: URL?
    let storeWriter = NIOLockedValueBox<NIOThreadPool?>(nil)
    /// Completed once the store's state is restored (at once without a data directory): the
    /// in-process API waits for it, so a session it opens is never replaced by a stored one.
    let restored: EventLoopPromise<Void>
    /// In-process publishes waiting for the loop (``publish(topic:payload:qos:retain:properties:publisher:)``).
    let localPublishes = LocalPublishQueue()

    /// - Parameter dataDirectory: with one, sessions, subscriptions, retained messages and QoS 1/2
    ///   messages survive restarts and crashes in `<dataDirectory>/broker.sqlite` (see ``BrokerDurability``).
    public init(listeners: [BrokerListener] = [BrokerListener()], settings: BrokerSettings = BrokerSettings(),
                dataDirectory: URL? = nil,
                eventLoopGroup: EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = Logger(label: "junction.broker")) {
        self.listeners = listeners
        self.dataDirectory = dataDirectory
        self.logger = logger
        let loop = eventLoopGroup.next()
        self.loop = loop
        self.state = NIOLoopBoundBox.makeBoxSendingValue(BrokerState(loop: loop, settings: settings, logger: logger), eventLoop: loop)
        self.restored = loop.makePromise(of: Void.self)
        if dataDirectory == nil { restored.succeed() }
    }

    deinit {
        // A broker never started: in-process calls waiting for the store end (no-op once completed).
        restored.fail(MQTTBrokerError.notStarted)
    }

    /// Binds every listener and returns the addresses bound, in listener order.
    @discardableResult
    public func start() async throws -> [SocketAddress] {
        try await openStore()
        var bound: [SocketAddress] = []
        for listener in listeners {
            let state = self.state
            let transport = try ListenerTransport(listener)  // TLS files are read here
            let channel = try await ServerBootstrap(group: loop)
                .serverChannelOption(.backlog, value: 1024)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 16)
                .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 256, maximum: 65536))
                .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 * 1024, high: 1024 * 1024))
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try transport.configure(channel, state: state) }
                }
                .bind(host: listener.host, port: listener.port)
                .get()
            channels.withLockedValue { $0.append(channel) }
            try await register(listener, channel: channel)
            if let address = channel.localAddress { bound.append(address) }
            logger.info("broker listening", metadata: ["listener.address": "\(channel.localAddress.map { "\($0)" } ?? "?")",
                                                       "listener.scheme": "\(transport.scheme)"])
        }
        try await startSys()
        startHousekeeping()
        return bound
    }

    /// Closes the listeners and every client connection.
    public func shutdown() async throws {
        sysTask.withLockedValue { $0?.cancel() }
        housekeepingTask.withLockedValue { $0?.cancel() }
        let listening = channels.withLockedValue { channels in
            defer { channels.removeAll() }
            return channels
        }
        for channel in listening { try? await channel.close() }
        let state = self.state
        try await loop.submit {
            for connection in state.value.connections.values { connection.disconnect(.serverShuttingDown, reason: "server shutting down") }
            for session in state.value.sessions.values where !(session.connection is BrokerConnection) {
                session.connection?.disconnect(.serverShuttingDown, reason: nil)
            }
            state.value.flushPending()
        }.get()
        try await shutdownAccess()
        try await closeStore()
    }

    public func run() async throws {
        try await start()
        try? await gracefulShutdown()
        try await shutdown()
    }

    /// Applies new settings to the running broker: new limits apply to new packets and connections.
    public func update(settings: BrokerSettings) async throws {
        let state = self.state
        try await loop.submit { state.value.settings = settings }.get()
    }

    /// Every half second: disconnect clients silent beyond their keepalive; forget inbound QoS 2
    /// state older than awaitRelTimeout.
    private func startHousekeeping() {
        let state = self.state
        let interval = BrokerState.keepAliveSweepInterval
        let task = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            state.value.sweepKeepAlive()
            state.value.housekeeping()
        }
        housekeepingTask.withLockedValue { $0 = task }
    }

    private func startSys() async throws {
        let state = self.state
        guard let interval = try await loop.submit({ state.value.settings.sysInterval }).get() else { return }
        let task = loop.scheduleRepeatedTask(initialDelay: .zero, delay: interval) { _ in
            state.value.publishSys()
        }
        sysTask.withLockedValue { $0 = task }
    }
}

extension MQTTBroker {
    /// The settings in force.
    public func currentSettings() async throws -> BrokerSettings {
        let state = self.state
        return try await loop.submit { state.value.settings }.get()
    }
}

/// Counters of a running broker, for `/metrics` and `$SYS`.
public struct BrokerStatisticsSnapshot: Sendable, Hashable {
    public var connections: Int
    public var sessions: Int
    public var subscriptions: Int
    public var retained: Int
    public var messagesReceived: Int
    public var messagesSent: Int
    public var messagesDropped: Int
    public var inflight: Int
    public var queued: Int
    /// QoS 1/2 deliveries to persistent sessions written to the store (0 without a data directory).
    public var deliveriesStored: Int = 0
    /// QoS 1/2 deliveries to persistent sessions acknowledged before they were written: they
    /// never reached the disk.
    public var deliveriesSkipped: Int = 0
    /// Topic names and filters refused for having more than ``BrokerSettings/maxTopicLevels`` levels.
    public var topicLevelsRefused: Int = 0
}

extension MQTTBroker {
    /// The broker's counters now.
    public func statistics() async throws -> BrokerStatisticsSnapshot {
        let state = self.state
        return try await loop.submit {
            let s = state.value
            var snapshot = BrokerStatisticsSnapshot(
                connections: s.connections.count, sessions: s.sessions.count, subscriptions: s.tree.count,
                retained: s.retained.count, messagesReceived: s.statistics.messagesReceived,
                messagesSent: s.statistics.messagesSent, messagesDropped: s.statistics.messagesDropped,
                inflight: s.sessions.values.reduce(0) { $0 + $1.inflightCount },
                queued: s.sessions.values.reduce(0) { $0 + $1.queuedCount })
            snapshot.deliveriesStored = s.journal?.deliveriesStored ?? 0
            snapshot.deliveriesSkipped = s.journal?.deliveriesSkipped ?? 0
            snapshot.topicLevelsRefused = s.statistics.topicLevelsRefused
            return snapshot
        }.get()
    }
}
