import NIOCore

/// CONNECT (MQTT 5 §3.1): the first packet a client sends.
public struct MQTTConnectPacket: Sendable, Hashable {
    public var protocolVersion: MQTTProtocolVersion
    /// May be empty: on 5.0 the server assigns one, on 3.1.1 only with a clean session.
    public var clientIdentifier: String
    /// Clean Start (5.0) / Clean Session (3.1.1).
    public var cleanStart: Bool
    /// Seconds; 0 turns keepalive off.
    public var keepAlive: UInt16
    public var username: String?
    public var password: ByteBuffer?
    public var will: MQTTWill?
    public var properties: MQTTProperties

    public init(
        protocolVersion: MQTTProtocolVersion, clientIdentifier: String, cleanStart: Bool = true,
        keepAlive: UInt16 = 60, username: String? = nil, password: ByteBuffer? = nil,
        will: MQTTWill? = nil, properties: MQTTProperties = []
    ) {
        self.protocolVersion = protocolVersion
        self.clientIdentifier = clientIdentifier
        self.cleanStart = cleanStart
        self.keepAlive = keepAlive
        self.username = username
        self.password = password
        self.will = will
        self.properties = properties
    }
}

/// The will message of a CONNECT, published by the server when the connection ends abnormally.
public struct MQTTWill: Sendable, Hashable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: MQTTQoS
    public var retain: Bool
    /// Will properties (5.0): Will Delay Interval, Message Expiry, Content Type, Response Topic...
    public var properties: MQTTProperties

    public init(topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false,
                properties: MQTTProperties = []) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }
}

/// CONNACK (MQTT 5 §3.2). On 3.1.1 the reason code travels as the matching return code 0–5.
public struct MQTTConnAckPacket: Sendable, Hashable {
    public var sessionPresent: Bool
    public var reasonCode: MQTTReasonCode
    public var properties: MQTTProperties

    public init(sessionPresent: Bool = false, reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = []) {
        self.sessionPresent = sessionPresent
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

extension MQTTConnectPacket {
    private enum Flag {
        static let reserved: UInt8 = 0x01
        static let cleanStart: UInt8 = 0x02
        static let will: UInt8 = 0x04
        static let willRetain: UInt8 = 0x20
        static let password: UInt8 = 0x40
        static let username: UInt8 = 0x80
    }

    static func read(from body: inout ByteBuffer) throws(MQTTDecodeError) -> MQTTConnectPacket {
        let name = try body.readMQTTString(field: "protocol name")
        let level = try body.readMQTTByte(field: "protocol level")
        guard name == "MQTT" else {
            if name == "MQIsdp" { throw .unsupportedProtocolVersion(level) }
            throw .invalidProtocolName(name)
        }
        guard let version = MQTTProtocolVersion(rawValue: level) else { throw .unsupportedProtocolVersion(level) }
        let flags = try body.readMQTTByte(field: "connect flags")
        let willQoSBits = (flags >> 3) & 0x03
        let hasWill = flags & Flag.will != 0
        if flags & Flag.reserved != 0 || (!hasWill && (willQoSBits != 0 || flags & Flag.willRetain != 0))
            || (version == .v311 && flags & Flag.password != 0 && flags & Flag.username == 0) {
            throw .invalidConnectFlags(flags)
        }
        guard let willQoS = MQTTQoS(rawValue: willQoSBits) else { throw .invalidQoS(willQoSBits) }
        let keepAlive = try body.readMQTTUInt16(field: "keep alive")
        let properties = version == .v5 ? try MQTTProperties.read(from: &body, context: .connect) : []
        let clientIdentifier = try body.readMQTTString(field: "client identifier")
        var will: MQTTWill?
        if hasWill {
            let willProperties = version == .v5 ? try MQTTProperties.read(from: &body, context: .will) : []
            let topic = try body.readMQTTString(field: "will topic")
            try MQTTPublishPacket.validateTopicName(topic)
            let payload = try body.readMQTTBinary(field: "will payload")
            will = MQTTWill(topic: topic, payload: payload, qos: willQoS, retain: flags & Flag.willRetain != 0,
                            properties: willProperties)
        }
        let username = flags & Flag.username != 0 ? try body.readMQTTString(field: "user name") : nil
        let password = flags & Flag.password != 0 ? try body.readMQTTBinary(field: "password") : nil
        return MQTTConnectPacket(protocolVersion: version, clientIdentifier: clientIdentifier, cleanStart: flags & Flag.cleanStart != 0,
                                 keepAlive: keepAlive, username: username, password: password, will: will,
                                 properties: properties)
    }

    func bodyLength() -> Int {
        let v5 = protocolVersion == .v5
        var length = 6 + 1 + 1 + 2 + mqttStringLength(clientIdentifier)
        if v5 { length += properties.encodedLength }
        if let will {
            length += mqttStringLength(will.topic) + 2 + will.payload.readableBytes
            if v5 { length += will.properties.encodedLength }
        }
        if let username { length += mqttStringLength(username) }
        if let password { length += 2 + password.readableBytes }
        return length
    }

    func writeBody(to buffer: inout ByteBuffer) throws(MQTTEncodeError) {
        let v5 = protocolVersion == .v5
        try buffer.writeMQTTString("MQTT", field: "protocol name")
        buffer.writeInteger(protocolVersion.rawValue)
        var flags: UInt8 = cleanStart ? Flag.cleanStart : 0
        if let will {
            flags |= Flag.will | (will.qos.rawValue << 3) | (will.retain ? Flag.willRetain : 0)
        }
        if username != nil { flags |= Flag.username }
        if password != nil { flags |= Flag.password }
        buffer.writeInteger(flags)
        buffer.writeInteger(keepAlive)
        if v5 { try properties.write(to: &buffer) }
        try buffer.writeMQTTString(clientIdentifier, field: "client identifier")
        if let will {
            if v5 { try will.properties.write(to: &buffer) }
            try buffer.writeMQTTString(will.topic, field: "will topic")
            try buffer.writeMQTTBinary(will.payload, field: "will payload")
        }
        if let username { try buffer.writeMQTTString(username, field: "user name") }
        if let password { try buffer.writeMQTTBinary(password, field: "password") }
    }
}

extension MQTTConnAckPacket {
    static func read(from body: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTDecodeError) -> MQTTConnAckPacket {
        let flags = try body.readMQTTByte(field: "connect acknowledge flags")
        guard flags & 0xFE == 0 else { throw .invalidAcknowledgeFlags(flags) }
        let code = try body.readMQTTByte(field: "connect reason code")
        switch version {
        case .v311:
            guard let reason = MQTTReasonCode(v311ConnectReturnCode: code) else { throw .invalidReasonCode(code, in: .connack) }
            return MQTTConnAckPacket(sessionPresent: flags == 1, reasonCode: reason)
        case .v5:
            guard MQTTReasonCode.isAllowed(code, in: .connack) else { throw .invalidReasonCode(code, in: .connack) }
            let properties = try MQTTProperties.read(from: &body, context: .connack)
            return MQTTConnAckPacket(sessionPresent: flags == 1, reasonCode: MQTTReasonCode(rawValue: code), properties: properties)
        }
    }

    func bodyLength(version: MQTTProtocolVersion) -> Int {
        version == .v5 ? 2 + properties.encodedLength : 2
    }

    func writeBody(to buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTEncodeError) {
        buffer.writeInteger(UInt8(sessionPresent ? 1 : 0))
        switch version {
        case .v311: buffer.writeInteger(reasonCode.v311ConnectReturnCode)
        case .v5:
            buffer.writeInteger(reasonCode.rawValue)
            try properties.write(to: &buffer)
        }
    }
}
