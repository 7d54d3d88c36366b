import Foundation
import MQTTCore
import NIOCore

/// An application message as the store keeps it: the expiry as wall-clock milliseconds, since
/// the broker's monotonic deadlines mean nothing after a restart.
struct StoredMessage: Sendable {
    var topic: String
    var payload: ByteBuffer
    var qos: MQTTQoS
    var retain: Bool
    var properties: MQTTProperties
    var expiresAt: Int64?
    var publisher: String?

    init(topic: String, payload: ByteBuffer, qos: MQTTQoS, retain: Bool, properties: MQTTProperties,
         expiresAt: Int64?, publisher: String?) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.expiresAt = expiresAt
        self.publisher = publisher
    }

    init(_ message: BrokerMessage, clock: WallClock) {
        self.init(topic: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
                  properties: message.properties, expiresAt: message.expiry.map(clock.wall), publisher: message.publisher)
    }

    func brokerMessage(clock: WallClock) -> BrokerMessage {
        BrokerMessage(topic: topic, payload: payload, qos: qos, retain: retain, properties: properties,
                      expiry: expiresAt.map(clock.deadline), publisher: publisher)
    }
}

/// One QoS 1/2 message queued or in flight for one persistent session.
struct StoredDelivery: Sendable {
    var id: Int64
    var clientID: String
    var message: StoredMessage
    var qos: MQTTQoS
    var retain: Bool
    var subscriptionIdentifiers: [UInt32]
    /// Set once the message was sent (in flight); nil while it is queued.
    var packetID: UInt16?
    /// QoS 2: PUBREC came and PUBREL was sent; PUBCOMP is awaited.
    var awaitingComplete: Bool
}

struct StoredSession: Sendable, Hashable {
    var clientID: String
    var protocolVersion: UInt8
    var expiryInterval: UInt32
    var username: String?
    /// Wall-clock milliseconds; nil while connected (a restart counts as the disconnection).
    var disconnectedAt: Int64?
    /// Last attached in process (the engine's API) rather than over the network.
    var isInProcess: Bool = false
}

struct StoredSubscription: Sendable, Hashable {
    var clientID: String
    var filter: String
    var qos: MQTTQoS
    var noLocal: Bool
    var retainAsPublished: Bool
    var identifier: UInt32?
}

/// One change of durable broker state, applied in order inside a group's transaction.
enum StoreOperation: Sendable {
    case upsertSession(StoredSession)
    /// Removes the session with its subscriptions, deliveries and inbound QoS 2 state.
    case deleteSession(String)
    case upsertSubscription(StoredSubscription)
    case deleteSubscription(clientID: String, filter: String)
    /// nil clears the topic.
    case setRetained(topic: String, StoredMessage?)
    case insertDelivery(StoredDelivery)
    case updateDelivery(id: Int64, packetID: UInt16?, awaitingComplete: Bool)
    case deleteDelivery(Int64)
    case addAwaitingRelease(clientID: String, packetID: UInt16)
    case removeAwaitingRelease(clientID: String, packetID: UInt16)
}

/// Everything a store holds, read at start.
struct StoreSnapshot: Sendable {
    var sessions: [StoredSession] = []
    var subscriptions: [StoredSubscription] = []
    var retained: [StoredMessage] = []
    /// In id order, which is the order they were routed in.
    var deliveries: [StoredDelivery] = []
    var awaitingRelease: [(clientID: String, packetID: UInt16)] = []
    var maxDeliveryID: Int64 = 0
    /// Sessions and messages dropped on load because they had expired.
    var expiredSessions = 0
    var expiredMessages = 0
}

/// Converts between the loop's monotonic deadlines and wall-clock milliseconds, from one pair of
/// readings taken together.
struct WallClock {
    let wallNow: Int64
    let deadlineNow: NIODeadline

    init(wallNow: Int64 = WallClock.currentMilliseconds(), deadlineNow: NIODeadline = .now()) {
        self.wallNow = wallNow
        self.deadlineNow = deadlineNow
    }

    static func currentMilliseconds() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded()) }

    func wall(_ deadline: NIODeadline) -> Int64 {
        wallNow + (deadline - deadlineNow).nanoseconds / 1_000_000
    }

    func deadline(_ wall: Int64) -> NIODeadline {
        deadlineNow + .milliseconds(wall - wallNow)
    }
}
