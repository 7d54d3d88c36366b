import MQTTCore
import NIOCore

/// One broker address. Several in ``MQTTClientConfiguration/servers`` are tried in turn.
public struct MQTTServer: Sendable, Hashable, CustomStringConvertible {
    /// How bytes travel.
    public enum Transport: String, Sendable, Hashable {
        /// `mqtt://`: plain TCP.
        case tcp
        /// `mqtts://`: TLS (``MQTTClientConfiguration/tls``).
        case tls
        /// `ws://`: MQTT over WebSocket (subprotocol `mqtt`, binary frames).
        case webSocket
        /// `wss://`: MQTT over WebSocket over TLS.
        case webSocketTLS

        /// Whether the connection is encrypted.
        public var usesTLS: Bool { self == .tls || self == .webSocketTLS }
        /// Whether MQTT travels in WebSocket frames.
        public var usesWebSocket: Bool { self == .webSocket || self == .webSocketTLS }

        var scheme: String {
            switch self {
            case .tcp: "mqtt"
            case .tls: "mqtts"
            case .webSocket: "ws"
            case .webSocketTLS: "wss"
            }
        }

        /// The port a URL without one means: 1883, 8883, 80, 443.
        public var defaultPort: Int {
            switch self {
            case .tcp: 1883
            case .tls: 8883
            case .webSocket: 80
            case .webSocketTLS: 443
            }
        }
    }

    public var host: String
    public var port: Int
    public var transport: Transport
    /// The request path of the WebSocket upgrade (WebSocket transports only).
    public var path: String = "/mqtt"

    public init(host: String, port: Int = 1883, transport: Transport = .tcp) {
        self.host = host
        self.port = port
        self.transport = transport
    }

    /// Parses `mqtt://host[:port]` (or `tcp://`; port 1883), `mqtts://` (or `ssl://`, `tls://`;
    /// 8883), `ws://host[:port][/path]` (80) and `wss://` (443); the WebSocket path defaults to
    /// `/mqtt`. `host[:port]` alone is plain TCP. IPv6 literals go in brackets:
    /// `mqtt://[::1]:1883`. Nil for anything else.
    public init?(url: String) {
        var rest = Substring(url)
        var transport = Transport.tcp
        if let range = rest.firstRange(of: "://") {
            switch rest[..<range.lowerBound].lowercased() {
            case "mqtt", "tcp": transport = .tcp
            case "mqtts", "ssl", "tls": transport = .tls
            case "ws": transport = .webSocket
            case "wss": transport = .webSocketTLS
            default: return nil
            }
            rest = rest[range.upperBound...]
        }
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[slash...])
            rest = rest[..<slash]
        }
        if transport.usesWebSocket {
            guard !path.contains(" ") else { return nil }
        } else {
            guard path.isEmpty || path == "/" else { return nil }
        }
        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else { return nil }
        var port = transport.defaultPort
        if let portText {
            guard let value = Int(portText), (1...65_535).contains(value) else { return nil }
            port = value
        }
        self.init(host: String(host), port: port, transport: transport)
        if transport.usesWebSocket && !path.isEmpty { self.path = path }
    }

    public var description: String {
        let shown = host.contains(":") ? "[\(host)]" : host
        return "\(transport.scheme)://\(shown):\(port)" + (transport.usesWebSocket ? path : "")
    }
}

/// When and how fast the client reconnects after losing its connection: exponential backoff
/// with jitter between ``initialDelay`` and ``maximumDelay``.
public struct MQTTReconnectPolicy: Sendable, Hashable {
    /// Whether a lost connection is re-established at all. When false, a lost connection fails
    /// every pending operation and ends every subscription with the cause.
    public var isEnabled: Bool
    /// The delay before the first attempt after a loss.
    public var initialDelay: Duration
    /// The longest delay between two attempts.
    public var maximumDelay: Duration
    /// The factor the delay grows by after each failed attempt (≥ 1).
    public var multiplier: Double
    /// The fraction (0...1) of each delay that is random: 0.2 draws from 80 % to 100 % of it.
    public var jitter: Double

    public init(isEnabled: Bool = true, initialDelay: Duration = .milliseconds(100), maximumDelay: Duration = .seconds(30),
                multiplier: Double = 2, jitter: Double = 0.2) {
        self.isEnabled = isEnabled
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
        self.multiplier = multiplier
        self.jitter = jitter
    }

    /// Never reconnect.
    public static let disabled = MQTTReconnectPolicy(isEnabled: false)
}

/// Enhanced authentication (MQTT 5 §4.12): the method named in CONNECT, its initial data, and a
/// hook answering each AUTH challenge of the broker.
public struct MQTTEnhancedAuthentication: Sendable {
    /// Authentication Method, e.g. `SCRAM-SHA-256`.
    public var method: String
    /// Authentication Data sent with CONNECT.
    public var initialData: ByteBuffer?
    /// Answers a challenge (AUTH 0x18, or 0x19 when re-authenticating) with the data for the
    /// client's AUTH. Throwing ends the connection attempt with ``MQTTClientError/authenticationFailed(description:)``.
    public var respond: @Sendable (_ challenge: ByteBuffer?, _ properties: MQTTProperties) throws -> ByteBuffer?
    /// Sees the Authentication Data of the final CONNACK and of the AUTH 0x00 that ends a
    /// re-authentication (e.g. the server's proof); throwing refuses the connection (after a
    /// re-authentication: DISCONNECT 0x87).
    public var completed: @Sendable (_ data: ByteBuffer?) throws -> Void

    public init(method: String, initialData: ByteBuffer? = nil,
                respond: @escaping @Sendable (_ challenge: ByteBuffer?, _ properties: MQTTProperties) throws -> ByteBuffer?,
                completed: @escaping @Sendable (_ data: ByteBuffer?) throws -> Void = { _ in }) {
        self.method = method
        self.initialData = initialData
        self.respond = respond
        self.completed = completed
    }
}

/// What happened to the connection; delivered to ``MQTTClientConfiguration/onEvent``.
public enum MQTTClientEvent: Sendable {
    /// CONNACK accepted: `sessionPresent` says whether the broker resumed the session.
    case connected(server: MQTTServer, sessionPresent: Bool)
    /// The connection ended; the client reconnects when its policy says so.
    case disconnected(MQTTClientError)
    /// The next connection attempt starts after `delay`.
    case reconnecting(attempt: Int, delay: Duration)
}

/// Everything an ``MQTTClient`` needs to know before it connects.
public struct MQTTClientConfiguration: Sendable {
    /// Brokers to connect to, tried in order (failover); at least one.
    public var servers: [MQTTServer]
    /// Protocol level: 3.1.1 or 5.0.
    public var version: MQTTProtocolVersion
    /// Client identifier; empty lets a 5.0 broker assign one (kept for reconnects).
    public var clientID: String
    /// Clean Start (5.0) / Clean Session (3.1.1) of the first connection. Reconnects resume the
    /// session whenever it can outlive a connection (3.1.1: `cleanStart` false; 5.0: a session
    /// expiry interval above 0).
    public var cleanStart: Bool
    /// 5.0 Session Expiry Interval in seconds: how long the broker keeps the session after a
    /// disconnection (`UInt32.max`: forever).
    public var sessionExpiryInterval: UInt32
    /// Keep Alive; 0 turns pings off. A 5.0 broker's Server Keep Alive replaces it.
    public var keepAlive: Duration
    /// How long to wait for PINGRESP before the connection counts as dead.
    public var pingTimeout: Duration
    /// How long a TCP connect plus CONNECT/CONNACK may take.
    public var connectTimeout: Duration
    public var username: String?
    public var password: ByteBuffer?
    /// Will message, with its properties on 5.0 (Will Delay Interval, Message Expiry...).
    public var will: MQTTWill?
    /// Extra CONNECT properties (5.0): user properties, Request Problem/Response Information.
    /// Session expiry, Receive Maximum, Maximum Packet Size, Topic Alias Maximum and
    /// authentication come from their own settings.
    public var connectProperties: MQTTProperties
    /// Receive Maximum (5.0): unacknowledged QoS 1/2 messages the broker may send at once.
    public var receiveMaximum: UInt16?
    /// Largest packet accepted from the broker (advertised on 5.0, enforced on both).
    public var maximumPacketSize: UInt32?
    /// Topic aliases the broker may use towards the client (5.0); 0 allows none.
    public var topicAliasMaximum: UInt16
    /// Whether publishes use topic aliases when the broker allows them (5.0).
    public var useTopicAliases: Bool
    /// Whether each subscription gets a 5.0 Subscription Identifier of its own when the broker
    /// supports them, so messages reach exactly the subscriptions they matched.
    public var assignSubscriptionIdentifiers: Bool
    /// QoS 1/2 publishes in flight at most, also where the broker sets no Receive Maximum.
    public var maximumInflight: Int
    /// Publishes kept while disconnected; one more fails with ``MQTTClientError/offlineQueueFull(limit:)``.
    public var offlineQueueLimit: Int
    public var reconnect: MQTTReconnectPolicy
    /// Enhanced authentication (5.0).
    public var authentication: MQTTEnhancedAuthentication?
    /// CA, client certificate and verification for `mqtts://` and `wss://` servers.
    public var tls = MQTTClientTLS()
    /// Called on the client's event loop for each connection event; must not block.
    public var onEvent: (@Sendable (MQTTClientEvent) -> Void)?

    public init(servers: [MQTTServer], version: MQTTProtocolVersion = .v5, clientID: String, cleanStart: Bool = true,
                sessionExpiryInterval: UInt32 = 0, keepAlive: Duration = .seconds(60), pingTimeout: Duration = .seconds(10),
                connectTimeout: Duration = .seconds(10), username: String? = nil, password: ByteBuffer? = nil,
                will: MQTTWill? = nil, connectProperties: MQTTProperties = [], receiveMaximum: UInt16? = nil,
                maximumPacketSize: UInt32? = nil, topicAliasMaximum: UInt16 = 0, useTopicAliases: Bool = false,
                assignSubscriptionIdentifiers: Bool = true, maximumInflight: Int = 65_535, offlineQueueLimit: Int = 1_000, reconnect: MQTTReconnectPolicy = MQTTReconnectPolicy(),
                authentication: MQTTEnhancedAuthentication? = nil, onEvent: (@Sendable (MQTTClientEvent) -> Void)? = nil) {
        self.servers = servers
        self.version = version
        self.clientID = clientID
        self.cleanStart = cleanStart
        self.sessionExpiryInterval = sessionExpiryInterval
        self.keepAlive = keepAlive
        self.pingTimeout = pingTimeout
        self.connectTimeout = connectTimeout
        self.username = username
        self.password = password
        self.will = will
        self.connectProperties = connectProperties
        self.receiveMaximum = receiveMaximum
        self.maximumPacketSize = maximumPacketSize
        self.topicAliasMaximum = topicAliasMaximum
        self.useTopicAliases = useTopicAliases
        self.assignSubscriptionIdentifiers = assignSubscriptionIdentifiers
        self.maximumInflight = maximumInflight
        self.offlineQueueLimit = offlineQueueLimit
        self.reconnect = reconnect
        self.authentication = authentication
        self.onEvent = onEvent
    }

    /// One broker, by host and port.
    public init(host: String, port: Int = 1883, version: MQTTProtocolVersion = .v5, clientID: String) {
        self.init(servers: [MQTTServer(host: host, port: port)], version: version, clientID: clientID)
    }

    /// Whether the broker keeps the session when a connection ends, so reconnects can resume it.
    var sessionOutlivesConnection: Bool {
        version == .v5 ? sessionExpiryInterval > 0 : !cleanStart
    }
}
