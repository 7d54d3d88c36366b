import Logging
import MQTTCore
import NIOCore
import NIOPosix

/// An MQTT 3.1.1 / 5.0 client for any broker, in the style of mqtt-nio: the connection lives for
/// the duration of ``withConnection(_:eventLoopGroup:logger:isolation:_:)``, publishes return
/// when their QoS flow completed, and subscriptions are `AsyncSequence`s whose QoS 1/2 messages
/// are acknowledged when the application says so.
///
/// ```swift
/// try await MQTTClient.withConnection(.init(host: "127.0.0.1", clientID: "engine")) { client in
///     try await client.publish(to: "status", payload: ByteBuffer(string: "up"), qos: .atLeastOnce)
///     try await client.subscribe(to: [MQTTSubscription(topicFilter: "orders/#", qos: .exactlyOnce)]) { subscription in
///         for try await message in subscription {
///             try await process(message)
///             try await message.ack()
///         }
///     }
/// }
/// ```
///
/// Staying connected: keepalive pings detect a dead connection; a lost connection is
/// re-established with exponential backoff and jitter, trying the configured servers in turn;
/// a persistent session is resumed, with unacknowledged PUBLISH and PUBREL sent again under
/// their original identifiers; subscriptions are restored when the broker lost the session; and
/// publishes made meanwhile wait in a bounded offline queue. All state lives on one event loop.
public final class MQTTClient: Sendable {
    public let configuration: MQTTClientConfiguration
    let loop: EventLoop
    let box: NIOLoopBoundBox<ClientCore>

    /// A client that is not connected yet: call ``connect()``, and ``disconnect(reasonCode:properties:)``
    /// at the end (``withConnection(_:eventLoopGroup:logger:isolation:_:)`` does both).
    public init(configuration: MQTTClientConfiguration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                logger: Logger = MQTTClient.silentLogger) {
        self.configuration = configuration
        let loop = eventLoopGroup.next()
        self.loop = loop
        let core = ClientCore(configuration: configuration, loop: loop, logger: logger)
        let box = NIOLoopBoundBox.makeBoxSendingValue(core, eventLoop: loop)
        self.box = box
        // The acknowledger of delivered messages reaches the core through the box.
        loop.execute {
            box.value.acknowledge = { (id: UInt16, serial: UInt64) async throws(MQTTClientError) -> Void in
                do {
                    try await loop.submit { box.value.acknowledge(packetIdentifier: id, serial: serial) }.get()
                } catch {
                    throw .clientClosed
                }
            }
        }
    }

    /// A logger that discards everything: the default.
    public static let silentLogger = Logger(label: "junction.mqtt.client", factory: { _ in SwiftLogNoOpLogHandler() })

    /// Connects, runs `body` with the connected client, then disconnects (DISCONNECT, normal
    /// disconnection), also when `body` throws. Fails when no configured server accepts the
    /// first connection.
    public static func withConnection<Result>(
        _ configuration: MQTTClientConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = MQTTClient.silentLogger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (MQTTClient) async throws -> Result
    ) async throws -> Result {
        let client = MQTTClient(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
        try await client.connect()
        let result: Result
        do {
            result = try await body(client)
        } catch {
            await client.disconnect()
            throw error
        }
        await client.disconnect()
        return result
    }

    /// Establishes the first connection, trying each configured server once in order.
    public func connect() async throws(MQTTClientError) {
        try await onLoop { core in core.connect() }
    }

    /// Sends DISCONNECT (when connected) and closes for good: waiting operations fail with
    /// ``MQTTClientError/clientClosed``, subscriptions end. `reasonCode`
    /// ``MQTTReasonCode/disconnectWithWillMessage`` asks a 5.0 broker to publish the will.
    public func disconnect(reasonCode: MQTTReasonCode = .normalDisconnection, properties: MQTTProperties = []) async {
        let box = self.box
        let closed = loop.flatSubmit { box.value.shutdown(reasonCode: reasonCode, properties: properties) }
        do {
            try await closed.get()
        } catch {
            // The socket was already gone: nothing left to close.
        }
    }

    /// Whether the client is connected right now.
    public var isConnected: Bool {
        get async {
            let box = self.box
            do {
                return try await loop.submit { box.value.isConnected }.get()
            } catch {
                return false  // the event loop is gone
            }
        }
    }

    /// The last CONNACK and the server it came from, with the client identifier in use (the
    /// broker's assigned one on 5.0 when the configuration left it empty).
    public func connectionInfo() async -> MQTTConnectionInfo? {
        let box = self.box
        do {
            return try await loop.submit { () -> MQTTConnectionInfo? in
                let core = box.value
                guard let connack = core.lastConnAck, let server = core.connectedServer else { return nil }
                return MQTTConnectionInfo(server: server, clientID: core.clientID, connAck: connack)
            }.get()
        } catch {
            return nil  // the event loop is gone
        }
    }

    /// MQTT 5 re-authentication with the configured method and `data`: returns when the broker's
    /// AUTH 0x00 passed the method's ``MQTTEnhancedAuthentication/completed`` hook (for SCRAM, the
    /// server signature is verified). Throws ``MQTTClientError/authenticationFailed(description:)``
    /// when the hook refuses it (the client then ends the connection with DISCONNECT 0x87), or the
    /// error that ended the connection first (e.g. the broker's DISCONNECT 0x87).
    public func reauthenticate(data: ByteBuffer?) async throws(MQTTClientError) {
        try await onLoop { core in core.reauthenticate(data: data) }
    }

    /// Runs `body` on the loop and waits for the future it returns, with typed errors.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable (ClientCore) -> EventLoopFuture<T>) async throws(MQTTClientError) -> T {
        let box = self.box
        do {
            return try await loop.flatSubmit { body(box.value) }.get()
        } catch let error as MQTTClientError {
            throw error
        } catch {
            throw .connectionClosed(description: "\(error)")
        }
    }
}

/// What the broker said when the connection was accepted.
public struct MQTTConnectionInfo: Sendable, Hashable {
    public var server: MQTTServer
    /// The client identifier in use.
    public var clientID: String
    /// The CONNACK: Session Present and, on 5.0, the broker's properties (Receive Maximum,
    /// Maximum Packet Size, Topic Alias Maximum, Assigned Client Identifier, Server Keep Alive...).
    public var connAck: MQTTConnAckPacket
}

/// Counts from the session state, for tests and diagnostics.
struct SessionSnapshot: Sendable, Hashable {
    /// Publishes waiting for the connection or the window.
    var queued: Int
    /// Outgoing QoS 1/2 messages not completed.
    var outbound: Int
    /// Incoming QoS 1/2 messages not finished (awaiting the application or PUBREL).
    var inbound: Int
    /// Filters the broker's session should hold.
    var subscriptions: [String]
}

extension MQTTClient {
    func sessionSnapshot() async throws(MQTTClientError) -> SessionSnapshot {
        try await onLoop { core in
            let session = core.session
            return core.loop.makeSucceededFuture(SessionSnapshot(queued: session.queue.count, outbound: session.outbound.count,
                                                                 inbound: session.inbound.count, subscriptions: Array(session.subscriptions.keys)))
        }
    }
}
