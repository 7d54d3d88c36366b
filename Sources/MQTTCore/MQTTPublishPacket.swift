import NIOCore

/// PUBLISH (MQTT 5 §3.3).
///
/// `payload` is a slice of the received bytes (no copy). `topic` may be empty on 5.0 when a
/// Topic Alias property stands for it.
public struct MQTTPublishPacket: Sendable, Hashable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: MQTTQoS
    public var retain: Bool
    public var dup: Bool
    /// Present exactly when `qos` is 1 or 2.
    public var packetIdentifier: UInt16?
    public var properties: MQTTProperties

    public init(topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false,
                dup: Bool = false, packetIdentifier: UInt16? = nil, properties: MQTTProperties = []) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup
        self.packetIdentifier = packetIdentifier
        self.properties = properties
    }
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP (MQTT 5 §3.4–3.7), which share one layout; the
/// ``MQTTPacket`` case says which one it is.
public struct MQTTPublishAckPacket: Sendable, Hashable {
    public var packetIdentifier: UInt16
    /// Always success on 3.1.1, where the field does not exist.
    public var reasonCode: MQTTReasonCode
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = []) {
        self.packetIdentifier = packetIdentifier
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

extension MQTTPublishPacket {
    /// Refuses what can never be a topic name: empty, or containing `+` or `#`.
    static func validateTopicName(_ topic: String) throws(MQTTDecodeError) {
        if topic.isEmpty { throw .emptyTopicName }
        if topic.containsMQTTWildcard { throw .wildcardInTopicName(topic) }
    }

    var fixedHeaderFlags: UInt8 {
        (dup ? 0x08 : 0) | (qos.rawValue << 1) | (retain ? 0x01 : 0)
    }

    static func read(from body: inout ByteBuffer, flags: UInt8, version: MQTTProtocolVersion) throws(MQTTDecodeError) -> MQTTPublishPacket {
        let qosBits = (flags >> 1) & 0x03
        guard let qos = MQTTQoS(rawValue: qosBits) else { throw .invalidQoS(qosBits) }
        let dup = flags & 0x08 != 0
        if dup && qos == .atMostOnce { throw .dupFlagOnQoS0 }
        // Topic, packet identifier and properties in one pass over the bytes.
        let (topic, hasWildcard, packetIdentifier, properties) = try body.readMQTTFields { body throws(MQTTDecodeError) in
            let (topic, hasWildcard) = try body.readMQTTStringScanningWildcards(field: "topic name")
            var packetIdentifier: UInt16?
            if qos != .atMostOnce {
                let id = try body.readMQTTUInt16(field: "packet identifier")
                guard id != 0 else { throw .packetIdentifierZero(.publish) }
                packetIdentifier = id
            }
            var properties = MQTTProperties()
            if version == .v5 {
                properties = try MQTTProperties.read(from: &body, context: .publish)
            }
            return (topic, hasWildcard, packetIdentifier, properties)
        }
        if topic.isEmpty {
            if version == .v311 || properties.topicAlias == nil { throw .emptyTopicName }
        } else if hasWildcard {
            throw .wildcardInTopicName(topic)
        }
        let payload = body.readSlice(length: body.readableBytes)!
        return MQTTPublishPacket(topic: topic, payload: payload, qos: qos, retain: flags & 0x01 != 0, dup: dup,
                                 packetIdentifier: packetIdentifier, properties: properties)
    }

    func bodyLength(version: MQTTProtocolVersion) -> Int {
        var length = mqttStringLength(topic) + payload.readableBytes
        if qos != .atMostOnce { length += 2 }
        if version == .v5 { length += properties.encodedLength }
        return length
    }

    /// Writes the whole packet, fixed header included, in one go (the broker's hot path);
    /// `flags` and `bodyLength` as ``MQTTPacket`` computed them. Nothing is written on an error.
    func write(to buffer: inout ByteBuffer, flags: UInt8, bodyLength: Int, version: MQTTProtocolVersion) throws(MQTTEncodeError) {
        let topicLength = topic.utf8.count
        guard topicLength <= 65_535 else { throw .fieldTooLong(field: "topic name", length: topicLength) }
        let propertiesLength = version == .v5 ? try properties.checkedContentLength() : 0
        buffer.writeMQTTFields(count: 1 + mqttVariableByteIntegerLength(bodyLength) + bodyLength) { writer in
            writer.writeByte(MQTTPacketType.publish.rawValue << 4 | flags)
            writer.writeVariableByteInteger(bodyLength)
            writer.writeString(topic)
            if qos != .atMostOnce { writer.writeUInt16(packetIdentifier ?? 0) }
            if version == .v5 { properties.write(to: &writer, contentLength: propertiesLength) }
            writer.writeBytes(payload)
        }
    }
}

extension MQTTPublishAckPacket {
    static func read(from body: inout ByteBuffer, type: MQTTPacketType, version: MQTTProtocolVersion) throws(MQTTDecodeError) -> MQTTPublishAckPacket {
        let id = try body.readMQTTUInt16(field: "packet identifier")
        guard id != 0 else { throw .packetIdentifierZero(type) }
        guard version == .v5, body.readableBytes > 0 else { return MQTTPublishAckPacket(packetIdentifier: id) }
        let code = try body.readMQTTByte(field: "reason code")
        guard MQTTReasonCode.isAllowed(code, in: type) else { throw .invalidReasonCode(code, in: type) }
        let properties = body.readableBytes > 0 ? try MQTTProperties.read(from: &body, context: MQTTPropertyContext(type)) : []
        return MQTTPublishAckPacket(packetIdentifier: id, reasonCode: MQTTReasonCode(rawValue: code), properties: properties)
    }

    /// 5.0 omits the reason code and property length when they are success and empty (§3.4.2.1).
    func bodyLength(version: MQTTProtocolVersion) -> Int {
        guard version == .v5 else { return 2 }
        if properties.isEmpty { return reasonCode == .success ? 2 : 3 }
        return 3 + properties.encodedLength
    }

    func writeBody(to buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTEncodeError) {
        buffer.writeInteger(packetIdentifier)
        guard version == .v5 else { return }
        if properties.isEmpty {
            if reasonCode != .success { buffer.writeInteger(reasonCode.rawValue) }
            return
        }
        buffer.writeInteger(reasonCode.rawValue)
        try properties.write(to: &buffer)
    }
}

extension String {
    /// Whether the text contains `+` or `#`; scans the contiguous UTF-8 of a native string directly.
    var containsMQTTWildcard: Bool {
        let isWildcard = { (byte: UInt8) in byte == UInt8(ascii: "+") || byte == UInt8(ascii: "#") }
        return utf8.withContiguousStorageIfAvailable { $0.contains(where: isWildcard) } ?? utf8.contains(where: isWildcard)
    }
}
