import NIOCore

/// Frames and decodes MQTT packets from a byte stream.
///
/// On a server connection (`version: nil`) the first packet must be CONNECT and its protocol
/// level becomes the version for everything after; a client passes the version it connects with.
/// A fixed header that announces more than ``maximumPacketSize`` bytes fails at once, before
/// the body is buffered. Every failure is an ``MQTTDecodeError`` with its reason code.
public struct MQTTPacketDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = MQTTPacket

    /// The protocol version in force; nil until CONNECT on a server connection.
    public private(set) var version: MQTTProtocolVersion?
    /// The largest packet accepted, fixed header included.
    public var maximumPacketSize: Int

    public init(version: MQTTProtocolVersion? = nil, maximumPacketSize: Int = mqttMaximumVariableByteInteger + 5) {
        self.version = version
        self.maximumPacketSize = maximumPacketSize
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> MQTTPacket? {
        guard let packet = try MQTTPacket.decode(from: &buffer, version: version, maximumPacketSize: maximumPacketSize) else {
            return nil
        }
        if version == nil, case .connect(let connect) = packet { version = connect.protocolVersion }
        return packet
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> MQTTPacket? {
        try decode(buffer: &buffer)
    }
}

/// Encodes ``MQTTPacket``s for a connection whose protocol version is known.
public struct MQTTPacketEncoder: MessageToByteEncoder {
    public typealias OutboundIn = MQTTPacket

    public var version: MQTTProtocolVersion

    public init(version: MQTTProtocolVersion) { self.version = version }

    public func encode(data: MQTTPacket, out: inout ByteBuffer) throws {
        try data.encode(into: &out, version: version)
    }
}
