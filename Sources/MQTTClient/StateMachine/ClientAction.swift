import MQTTCore
import NIOCore

/// Identifies one caller's operation (a publish, subscribe or unsubscribe) while the protocol
/// state machine works on it.
typealias OperationID = UInt64

/// The outcome of a completed publish: the broker's PUBACK (QoS 1) or PUBREC (QoS 2) reason
/// code and properties; success and empty for QoS 0.
public struct MQTTPublishResult: Sendable, Hashable {
    /// The packet identifier the message travelled with (nil for QoS 0).
    public var packetIdentifier: UInt16?
    /// Success, or No matching subscribers (0x10) on 5.0.
    public var reasonCode: MQTTReasonCode
    /// The acknowledgement's properties (Reason String, User Properties) on 5.0.
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16? = nil, reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = []) {
        self.packetIdentifier = packetIdentifier
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// What the broker's CONNACK allows (MQTT 5 §3.2.2.3); defaults where it says nothing, and
/// always on 3.1.1.
struct ServerLimits: Sendable, Hashable {
    var receiveMaximum = 65_535
    var maximumPacketSize: Int?
    var topicAliasMaximum: UInt16 = 0
    var maximumQoS: MQTTQoS = .exactlyOnce
    var retainAvailable = true
    var wildcardSubscriptionAvailable = true
    var subscriptionIdentifiersAvailable = true
    var sharedSubscriptionsAvailable = true
    var serverKeepAlive: UInt16?

    init() {}

    init(connack: MQTTConnAckPacket) {
        let properties = connack.properties
        receiveMaximum = Int(properties.receiveMaximum ?? 65_535)
        maximumPacketSize = properties.maximumPacketSize.map(Int.init)
        topicAliasMaximum = properties.topicAliasMaximum ?? 0
        maximumQoS = properties.maximumQoS == 0 ? .atMostOnce : properties.maximumQoS == 1 ? .atLeastOnce : .exactlyOnce
        retainAvailable = properties.retainAvailable != 0
        wildcardSubscriptionAvailable = properties.wildcardSubscriptionAvailable != 0
        subscriptionIdentifiersAvailable = properties.subscriptionIdentifierAvailable != 0
        sharedSubscriptionsAvailable = properties.sharedSubscriptionAvailable != 0
        serverKeepAlive = properties.serverKeepAlive
    }
}

/// A received message for the application: topic alias resolved. `serial` identifies the
/// delivery for its acknowledgement (nil for QoS 0, which is never acknowledged).
struct InboundDelivery: Sendable, Hashable {
    var packet: MQTTPublishPacket
    var serial: UInt64?
}

/// What the I/O layer must do after the protocol state machine took an event.
enum ClientAction: Sendable, Hashable {
    /// Write this packet to the connection.
    case send(MQTTPacket)
    /// A publish finished, well or not.
    case completePublish(OperationID, Result<MQTTPublishResult, MQTTClientError>)
    /// A SUBSCRIBE was answered (the SUBACK's codes are judged by the caller) or failed.
    case completeSubscribe(OperationID, Result<MQTTSubAckPacket, MQTTClientError>)
    /// An UNSUBSCRIBE was answered or failed.
    case completeUnsubscribe(OperationID, Result<MQTTSubAckPacket, MQTTClientError>)
    /// Hand a received message to the application.
    case deliver(InboundDelivery)
    /// The broker broke the protocol: send DISCONNECT with the error's reason code (5.0) and close.
    case closeConnection(MQTTClientError)
}
