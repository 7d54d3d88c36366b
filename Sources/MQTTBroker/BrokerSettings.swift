import MQTTTransport
import NIOCore

/// The broker's tunable limits, named as in the `mqtt` section of an `mqtt-broker` connector
/// (docs/design.md). Every value can be changed while the broker runs: new limits apply to new
/// packets and connections.
public struct BrokerSettings: Sendable, Hashable {
    /// Largest packet accepted from a client (fixed header included), 1 byte to 260 MB.
    public var maxPacketSize: Int = 1 << 20
    /// Messages queued per session behind the inflight window; the oldest is dropped when full (QoS 0 first).
    public var maxMqueueLen: Int = 1000
    /// Unacknowledged QoS 1/2 messages are sent again after this long (3.1.1 sessions; 5.0 only on reconnect).
    public var retryInterval: TimeAmount = .seconds(30)
    /// A client silent for keepalive × this is disconnected (must be > 0.5).
    public var keepaliveMultiplier: Double = 1.5
    /// Most levels a topic name or filter may have (`a/b/c` has 3), as EMQX's `max_topic_levels`.
    /// A deeper one is refused: SUBACK/UNSUBACK 0x8F, PUBACK/PUBREC 0x90, DISCONNECT 0x90 for
    /// QoS 0, CONNACK 0x90 for a Will topic on 5.0; the connection is closed on 3.1.1.
    public var maxTopicLevels: Int = 128
    /// Largest total size of the properties of one packet.
    public var propertySize: Int = 65_536
    /// Outbound QoS 1/2 messages in flight per session (a 5.0 client's Receive Maximum can lower it).
    public var maxInflight: Int = 32
    /// Inbound QoS 2 messages awaiting PUBREL per session; advertised as the server's Receive Maximum.
    public var maxAwaitingRel: Int = 100
    /// An inbound QoS 2 message whose PUBREL does not come within this is forgotten.
    public var awaitRelTimeout: TimeAmount = .seconds(300)
    /// Whether QoS 0 messages are queued for offline persistent sessions.
    public var mqueueStoreQos0: Bool = true
    /// Concurrent client connections; 0 is unlimited.
    public var maxConnections: Int = 0
    /// Highest keepalive a 5.0 client may use; a larger one (or 0) is replaced and announced as
    /// Server Keep Alive. 3.1.1 clients cannot be told, so their own keepalive stands.
    public var maxKeepalive: UInt16 = 65_535
    /// Topic aliases a 5.0 client may use towards the broker.
    public var topicAliasMaximum: UInt16 = 10
    /// A socket that has not sent CONNECT within this is closed.
    public var connectTimeout: TimeAmount = .seconds(10)
    /// How often `$SYS/broker/...` statistics are published; nil turns them off.
    public var sysInterval: TimeAmount? = .seconds(10)

    /// Access rules; empty allows everything (see ``BrokerACLRule``).
    public var acl: [BrokerACLRule] = []

    // Authentication and limits (docs/broker.md).
    /// Users and their password hashes; nil: user names are not checked (see ``BrokerListener/allowAnonymous``).
    public var passwords: BrokerPasswordFile?
    /// Subscriptions per client; one more is refused with 0x97 (0x80 on 3.1.1). 0 is unlimited.
    public var maxSubscriptions: Int = 0
    /// CONNECTs per address; over it CONNACK 0x9F (0x03 on 3.1.1). nil is unlimited.
    public var maxConnectionRate: BrokerRate?
    /// PUBLISH packets per client connection; over it the connection ends (5.0: DISCONNECT 0x96). nil is unlimited.
    public var maxMessageRate: BrokerRate?
    /// Failed authentications in a row from one address before it is refused for a while; 0 turns that off.
    public var maxAuthFailures: Int = 5
    /// The first refusal window after `maxAuthFailures`; it doubles with each further failure (up to 64×).
    public var authFailureBlock: TimeAmount = .seconds(10)
    /// How acknowledged QoS 1/2 messages are made durable when the broker has a data directory
    /// (see ``BrokerDurability``); without one the broker keeps everything in memory.
    public var durability: BrokerDurability = .batch
    /// With `batch`: the longest a committed group waits before the write-ahead log is fsynced,
    /// which bounds what an OS crash or power loss (never a process crash) can take.
    public var durabilityMaxWait: TimeAmount = .milliseconds(5)

    public init() {}
}

/// Where the broker listens.
public struct BrokerListener: Sendable, Hashable {
    public var host: String
    /// 0 picks a free port (tests).
    public var port: Int
    /// TLS on this listener (with ``webSocket``: WSS); nil is plain TCP.
    public var tls: ListenerTLS? = nil
    /// MQTT over WebSocket on this listener (HTTP upgrade on its path); nil is MQTT straight on the socket.
    public var webSocket: WebSocketListenerOptions? = nil
    /// Whether clients without a user name may connect; nil: only on a loopback `host` (Mosquitto 2's rule).
    public var allowAnonymous: Bool?

    public init(host: String = "127.0.0.1", port: Int = 1883) {
        self.host = host
        self.port = port
    }
}
