import MQTTCore
import NIOCore
import Synchronization

/// A message received through a subscription.
///
/// QoS 1 and 2 messages stay unacknowledged at the broker until ``ack()``: a message whose
/// processing never finished is sent again when the session is resumed.
public struct MQTTMessage: Sendable {
    public let topic: String
    public let payload: ByteBuffer
    public let qos: MQTTQoS
    public let retain: Bool
    /// Set when the broker sends the message again.
    public let dup: Bool
    /// The packet identifier it travelled with (nil for QoS 0).
    public let packetIdentifier: UInt16?
    /// Every 5.0 property the broker forwarded (empty on 3.1.1).
    public let properties: MQTTProperties
    let acknowledger: MQTTAcknowledger?

    init(packet: MQTTPublishPacket, acknowledger: MQTTAcknowledger?) {
        topic = packet.topic
        payload = packet.payload
        qos = packet.qos
        retain = packet.retain
        dup = packet.dup
        packetIdentifier = packet.packetIdentifier
        properties = packet.properties
        self.acknowledger = acknowledger
    }

    /// Completes the QoS 1 (PUBACK) or QoS 2 (PUBREC, then PUBREL/PUBCOMP) exchange for this
    /// message. Returns once the acknowledgement is written, or recorded to be sent when the
    /// broker resends the message after a reconnect. Acknowledging twice, or a QoS 0 message,
    /// does nothing. When several subscriptions received the message, the broker is answered
    /// once all of them acknowledged it.
    public func ack() async throws(MQTTClientError) {
        guard let acknowledger, acknowledger.claim() else { return }
        try await acknowledger.acknowledge()
    }

    /// The payload as UTF-8 text.
    public var payloadString: String { String(buffer: payload) }
    /// Content Type (5.0).
    public var contentType: String? { properties.contentType }
    /// Response Topic (5.0).
    public var responseTopic: String? { properties.responseTopic }
    /// Correlation Data (5.0).
    public var correlationData: ByteBuffer? { properties.correlationData }
    /// Message Expiry Interval left, in seconds (5.0).
    public var messageExpiryInterval: UInt32? { properties.messageExpiryInterval }
    /// Payload Format Indicator (5.0).
    public var payloadFormat: MQTTPayloadFormat? { properties.payloadFormat }
    /// User Properties in order (5.0).
    public var userProperties: [(name: String, value: String)] { properties.userProperties }
    /// The Subscription Identifiers of the subscriptions it matched (5.0).
    public var subscriptionIdentifiers: [UInt32] { properties.subscriptionIdentifiers }
}

/// Acknowledges one delivered copy of a message, at most once.
final class MQTTAcknowledger: Sendable {
    private let claimed = Atomic<Bool>(false)
    let packetIdentifier: UInt16
    let serial: UInt64
    private let send: @Sendable (UInt16, UInt64) async throws(MQTTClientError) -> Void

    init(packetIdentifier: UInt16, serial: UInt64, send: @escaping @Sendable (UInt16, UInt64) async throws(MQTTClientError) -> Void) {
        self.packetIdentifier = packetIdentifier
        self.serial = serial
        self.send = send
    }

    /// True the first time only.
    func claim() -> Bool {
        !claimed.exchange(true, ordering: .acquiringAndReleasing)
    }

    func acknowledge() async throws(MQTTClientError) {
        try await send(packetIdentifier, serial)
    }
}
