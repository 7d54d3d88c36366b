import MQTTCore
import NIOCore

/// An application message as the broker routes it: what a PUBLISH (or a will) carried.
///
/// `properties` holds only what is forwarded to subscribers unchanged (payload format, content
/// type, response topic, correlation data, user properties); the expiry is kept as a deadline
/// and re-announced with the remaining interval, subscription identifiers and topic aliases are
/// per delivery.
///
/// A class, immutable once made: routing hands one message to every matching session, the
/// retained store and the journal, and each of those copies of a struct retained and released
/// its four reference-counted fields (a tenth of the broker loop's samples on the relay).
package final class BrokerMessage: Sendable {
    package let topic: String
    package let payload: ByteBuffer
    package let qos: MQTTQoS
    let retain: Bool
    let properties: MQTTProperties
    /// When the message expires (Message Expiry Interval), if it does.
    let expiry: NIODeadline?
    /// The session that published it (for No Local); nil for wills and `$SYS`.
    let publisher: String?

    init(topic: String, payload: ByteBuffer, qos: MQTTQoS, retain: Bool, properties: MQTTProperties = [],
         expiry: NIODeadline? = nil, publisher: String? = nil) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
        self.expiry = expiry
        self.publisher = publisher
    }

    /// Builds the routed message from a received PUBLISH whose topic is already resolved.
    convenience init(_ packet: MQTTPublishPacket, topic: String, publisher: String?, now: NIODeadline) {
        var forwarded = packet.properties
        var expiry: NIODeadline?
        if !forwarded.isEmpty {
            if let interval = forwarded.messageExpiryInterval { expiry = now + .seconds(Int64(interval)) }
            forwarded.elements.removeAll {
                switch $0 {
                case .messageExpiryInterval, .topicAlias, .subscriptionIdentifier: true
                default: false
                }
            }
        }
        self.init(topic: topic, payload: packet.payload, qos: packet.qos, retain: packet.retain,
                  properties: forwarded, expiry: expiry, publisher: publisher)
    }

    func isExpired(at now: NIODeadline) -> Bool {
        if let expiry { return expiry <= now }
        return false
    }

    /// Seconds left before expiry, rounded up, for the forwarded Message Expiry Interval.
    func remainingExpiry(at now: NIODeadline) -> UInt32? {
        guard let expiry else { return nil }
        let nanos = max(0, (expiry - now).nanoseconds)
        return UInt32(clamping: (nanos + 999_999_999) / 1_000_000_000)
    }
}

/// What a subscription asked for, as stored in the subscription tree and the session.
package struct SubscriptionOptions: Hashable {
    var qos: MQTTQoS
    var noLocal: Bool
    var retainAsPublished: Bool
    var identifier: UInt32?
}

/// One message on its way to one session: the message and the per-subscriber decisions.
package struct Delivery {
    package var message: BrokerMessage
    var qos: MQTTQoS
    var retain: Bool
    var subscriptionIdentifiers: [UInt32]
    /// The share group this delivery was chosen for: if the session ends before it is
    /// acknowledged, another member gets it.
    var shareGroup: SubscriptionTree.SharedGroup? = nil
    /// The row of this delivery in the broker's store; 0 when it is not persisted.
    var storeID: Int64 = 0
    /// Sent with DUP set even when it goes out for the first time in this run: restored from
    /// the store without knowing whether it went out before (see ``Session/isInProcess``).
    var redelivery = false
}
