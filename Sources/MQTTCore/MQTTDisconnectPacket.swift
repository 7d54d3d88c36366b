import NIOCore

/// DISCONNECT (MQTT 5 §3.14). On 3.1.1 it has no body: the reason is always normal disconnection.
public struct MQTTDisconnectPacket: Sendable, Hashable {
    public var reasonCode: MQTTReasonCode
    public var properties: MQTTProperties

    public init(reasonCode: MQTTReasonCode = .normalDisconnection, properties: MQTTProperties = []) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// AUTH (MQTT 5 §3.15), the enhanced authentication exchange; MQTT 5 only.
public struct MQTTAuthPacket: Sendable, Hashable {
    public var reasonCode: MQTTReasonCode
    /// Authentication Method, Authentication Data, Reason String, User Properties.
    public var properties: MQTTProperties

    public init(reasonCode: MQTTReasonCode = .success, properties: MQTTProperties = []) {
        self.reasonCode = reasonCode
        self.properties = properties
    }
}

/// Shared layout of DISCONNECT and AUTH on 5.0: an optional reason code, then optional properties;
/// both are omitted on the wire when they are success and empty.
enum MQTTReasonAndProperties {
    static func read(from body: inout ByteBuffer, type: MQTTPacketType) throws(MQTTDecodeError) -> (MQTTReasonCode, MQTTProperties) {
        guard body.readableBytes > 0 else { return (.success, []) }
        let code = try body.readMQTTByte(field: "reason code")
        guard MQTTReasonCode.isAllowed(code, in: type) else { throw .invalidReasonCode(code, in: type) }
        let properties = body.readableBytes > 0 ? try MQTTProperties.read(from: &body, context: MQTTPropertyContext(type)) : []
        return (MQTTReasonCode(rawValue: code), properties)
    }

    static func length(_ code: MQTTReasonCode, _ properties: MQTTProperties) -> Int {
        if properties.isEmpty { return code == .success ? 0 : 1 }
        return 1 + properties.encodedLength
    }

    static func write(_ code: MQTTReasonCode, _ properties: MQTTProperties, to buffer: inout ByteBuffer) throws(MQTTEncodeError) {
        if properties.isEmpty && code == .success { return }
        buffer.writeInteger(code.rawValue)
        if !properties.isEmpty { try properties.write(to: &buffer) }
    }
}
