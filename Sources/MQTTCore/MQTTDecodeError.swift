/// Why bytes received are not a valid MQTT packet.
///
/// Each case carries what was wrong and maps to the reason code the receiver answers with
/// (``reasonCode``): on MQTT 5 the broker sends DISCONNECT (or CONNACK during CONNECT) with it,
/// on 3.1.1 it closes the connection. Only that one connection is affected.
public enum MQTTDecodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The remaining length used a fifth byte (MQTT 5 §1.5.5).
    case malformedVariableByteInteger
    /// The fixed header announced a packet larger than the configured maximum.
    case packetTooLarge(size: Int, maximum: Int)
    /// Packet type 0, or 15 (AUTH) on a 3.1.1 connection.
    case invalidPacketType(UInt8)
    /// The low nibble of the first byte is not what the packet type requires.
    case invalidFixedHeaderFlags(MQTTPacketType, flags: UInt8)
    /// A QoS of 3 in a PUBLISH header, will flags or subscription options.
    case invalidQoS(UInt8)
    /// A field extends past the end of the packet (its declared length disagrees with the remaining length).
    case truncated(field: String)
    /// The packet has bytes its fields do not account for.
    case unexpectedTrailingBytes(MQTTPacketType, count: Int)
    /// A string is not well-formed UTF-8 (MQTT 5 §1.5.4).
    case invalidUTF8(field: String)
    /// A string contains U+0000.
    case nullCharacter(field: String)
    /// CONNECT's protocol name is not "MQTT".
    case invalidProtocolName(String)
    /// CONNECT's protocol level is neither 4 nor 5; the server answers CONNACK 0x01 (3.1.1) / 0x84.
    case unsupportedProtocolVersion(UInt8)
    /// CONNECT's flags break a rule: reserved bit set, will QoS/retain without will, password without user (3.1.1).
    case invalidConnectFlags(UInt8)
    /// Reserved bits set in CONNACK's acknowledge flags.
    case invalidAcknowledgeFlags(UInt8)
    /// A property identifier the specification does not define.
    case unknownProperty(UInt8)
    /// A property that this packet may not carry.
    case propertyNotAllowed(MQTTProperty.Identifier, in: MQTTPropertyContext)
    /// A property that may appear once appeared again.
    case duplicateProperty(MQTTProperty.Identifier, in: MQTTPropertyContext)
    /// A property value the specification forbids (0 for Receive Maximum, 2 for a boolean...).
    case invalidPropertyValue(MQTTProperty.Identifier, value: UInt32)
    /// A reason code this packet type may not carry.
    case invalidReasonCode(UInt8, in: MQTTPacketType)
    /// A packet identifier of 0.
    case packetIdentifierZero(MQTTPacketType)
    /// Topic Alias 0.
    case topicAliasZero
    /// An empty topic name with no Topic Alias (MQTT 5) or at all (3.1.1).
    case emptyTopicName
    /// A topic name containing `+` or `#`.
    case wildcardInTopicName(String)
    /// A Response Topic that is not a valid topic name (empty, or with `+` or `#`): the packet
    /// parses, so it is a Protocol Error.
    case invalidResponseTopic(String)
    /// SUBSCRIBE or UNSUBSCRIBE without any topic filter.
    case noTopicFilters(MQTTPacketType)
    /// Reserved bits set in a subscription options byte.
    case invalidSubscriptionOptions(UInt8)
    /// Retain Handling 3.
    case invalidRetainHandling(UInt8)
    /// A PUBLISH with QoS 0 and the DUP flag set.
    case dupFlagOnQoS0
    /// The first packet on a server connection was not CONNECT.
    case connectExpected(MQTTPacketType)

    /// The reason code the receiver of the bad packet answers with.
    public var reasonCode: MQTTReasonCode {
        switch self {
        case .packetTooLarge: .packetTooLarge
        case .unsupportedProtocolVersion: .unsupportedProtocolVersion
        case .topicAliasZero: .topicAliasInvalid
        case .duplicateProperty, .invalidPropertyValue, .invalidReasonCode, .packetIdentifierZero, .emptyTopicName,
            .noTopicFilters, .invalidRetainHandling, .dupFlagOnQoS0, .connectExpected, .invalidProtocolName,
            .invalidResponseTopic:
            .protocolError
        case .malformedVariableByteInteger, .invalidPacketType, .invalidFixedHeaderFlags, .invalidQoS, .truncated,
            .unexpectedTrailingBytes, .invalidUTF8, .nullCharacter, .invalidConnectFlags, .invalidAcknowledgeFlags, .unknownProperty,
            .propertyNotAllowed, .wildcardInTopicName, .invalidSubscriptionOptions:
            .malformedPacket
        }
    }

    public var description: String {
        switch self {
        case .malformedVariableByteInteger: "remaining length longer than 4 bytes"
        case .packetTooLarge(let size, let maximum): "packet of \(size) bytes exceeds the maximum of \(maximum)"
        case .invalidPacketType(let type): "invalid packet type \(type)"
        case .invalidFixedHeaderFlags(let type, let flags): "invalid fixed header flags 0x\(String(flags, radix: 16)) for \(type)"
        case .invalidQoS(let qos): "invalid QoS \(qos)"
        case .truncated(let field): "\(field) extends past the end of the packet"
        case .unexpectedTrailingBytes(let type, let count): "\(count) unexpected bytes at the end of \(type)"
        case .invalidUTF8(let field): "\(field) is not well-formed UTF-8"
        case .nullCharacter(let field): "\(field) contains U+0000"
        case .invalidProtocolName(let name): "protocol name \"\(name)\" is not \"MQTT\""
        case .unsupportedProtocolVersion(let level): "unsupported protocol level \(level)"
        case .invalidConnectFlags(let flags): "invalid CONNECT flags 0x\(String(flags, radix: 16))"
        case .invalidAcknowledgeFlags(let flags): "invalid CONNACK flags 0x\(String(flags, radix: 16))"
        case .unknownProperty(let id): "unknown property identifier 0x\(String(id, radix: 16))"
        case .propertyNotAllowed(let id, let context): "property \(id) is not allowed in \(context)"
        case .duplicateProperty(let id, let context): "property \(id) appears more than once in \(context)"
        case .invalidPropertyValue(let id, let value): "property \(id) has invalid value \(value)"
        case .invalidReasonCode(let code, let type): "reason code 0x\(String(code, radix: 16)) is not valid in \(type)"
        case .packetIdentifierZero(let type): "\(type) has packet identifier 0"
        case .topicAliasZero: "topic alias 0 is not permitted"
        case .emptyTopicName: "empty topic name without a topic alias"
        case .wildcardInTopicName(let topic): "topic name \"\(topic)\" contains a wildcard"
        case .invalidResponseTopic(let topic):
            topic.isEmpty ? "response topic is empty" : "response topic \"\(topic)\" contains a wildcard"
        case .noTopicFilters(let type): "\(type) has no topic filter"
        case .invalidSubscriptionOptions(let byte): "reserved bits set in subscription options 0x\(String(byte, radix: 16))"
        case .invalidRetainHandling(let value): "invalid retain handling \(value)"
        case .dupFlagOnQoS0: "DUP flag set on a QoS 0 PUBLISH"
        case .connectExpected(let type): "expected CONNECT, got \(type)"
        }
    }
}

/// Why a packet cannot be encoded.
public enum MQTTEncodeError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A string or binary field is longer than 65,535 bytes.
    case fieldTooLong(field: String, length: Int)
    /// The packet would exceed the largest remaining length (268,435,455 bytes).
    case packetTooLarge(size: Int)
    /// The packet type does not exist in this protocol version (AUTH on 3.1.1).
    case notInVersion(MQTTPacketType, MQTTProtocolVersion)

    public var description: String {
        switch self {
        case .fieldTooLong(let field, let length): "\(field) is \(length) bytes, more than 65535"
        case .packetTooLarge(let size): "packet body of \(size) bytes exceeds 268435455"
        case .notInVersion(let type, let version): "\(type) does not exist in MQTT \(version)"
        }
    }
}
