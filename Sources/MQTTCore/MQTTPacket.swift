import NIOCore

/// Every MQTT control packet of protocol levels 4 (3.1.1) and 5 (5.0).
///
/// Decoding and encoding take the connection's ``MQTTProtocolVersion``; fields that do not exist
/// in 3.1.1 (properties, most reason codes, AUTH) are neither read nor written there.
public enum MQTTPacket: Sendable, Hashable {
    case connect(MQTTConnectPacket)
    case connack(MQTTConnAckPacket)
    case publish(MQTTPublishPacket)
    case puback(MQTTPublishAckPacket)
    case pubrec(MQTTPublishAckPacket)
    case pubrel(MQTTPublishAckPacket)
    case pubcomp(MQTTPublishAckPacket)
    case subscribe(MQTTSubscribePacket)
    case suback(MQTTSubAckPacket)
    case unsubscribe(MQTTUnsubscribePacket)
    case unsuback(MQTTSubAckPacket)
    case pingreq
    case pingresp
    case disconnect(MQTTDisconnectPacket)
    case auth(MQTTAuthPacket)

    /// The control packet type.
    public var type: MQTTPacketType {
        switch self {
        case .connect: .connect
        case .connack: .connack
        case .publish: .publish
        case .puback: .puback
        case .pubrec: .pubrec
        case .pubrel: .pubrel
        case .pubcomp: .pubcomp
        case .subscribe: .subscribe
        case .suback: .suback
        case .unsubscribe: .unsubscribe
        case .unsuback: .unsuback
        case .pingreq: .pingreq
        case .pingresp: .pingresp
        case .disconnect: .disconnect
        case .auth: .auth
        }
    }
}

/// The fixed header (MQTT 5 §2.1.1): type, flags and remaining length.
public struct MQTTFixedHeader: Sendable, Hashable {
    public var type: MQTTPacketType
    public var flags: UInt8
    public var remainingLength: Int
    /// Bytes of the fixed header itself (2 to 5).
    public var headerLength: Int
    /// Bytes of the whole packet.
    public var packetLength: Int { headerLength + remainingLength }

    /// Reads the fixed header at the reader index without consuming it: nil when more bytes are
    /// needed, an error as soon as the header is invalid for `version` (nil before CONNECT).

    public static func peek(_ buffer: ByteBuffer, version: MQTTProtocolVersion?) throws(MQTTDecodeError) -> MQTTFixedHeader? {
        // One access to the storage for the whole header.
        try buffer.withUnsafeReadableBytes { raw throws(MQTTDecodeError) -> MQTTFixedHeader? in
            guard let first = raw.first else { return nil }
            let rawType = first >> 4
            guard let type = MQTTPacketType(rawValue: rawType), type != .auth || version != .v311 else {
                throw .invalidPacketType(rawType)
            }
            let flags = first & 0x0F
            if type == .publish {
                if flags & 0x06 == 0x06 { throw .invalidQoS(3) }
            } else if flags != type.requiredFlags {
                throw .invalidFixedHeaderFlags(type, flags: flags)
            }
            guard let (length, lengthBytes) = try raw.mqttVariableByteInteger(at: 1) else { return nil }
            return MQTTFixedHeader(type: type, flags: flags, remainingLength: length, headerLength: 1 + lengthBytes)
        }
    }
}

extension MQTTPacket {
    /// Decodes the body of one packet whose fixed header is `header`; `body` holds exactly the
    /// remaining length. Every byte must be accounted for.
    public static func decode(header: MQTTFixedHeader, body: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTDecodeError) -> MQTTPacket {
        let packet: MQTTPacket
        switch header.type {
        case .connect: packet = .connect(try MQTTConnectPacket.read(from: &body))
        case .connack: packet = .connack(try MQTTConnAckPacket.read(from: &body, version: version))
        case .publish: packet = .publish(try MQTTPublishPacket.read(from: &body, flags: header.flags, version: version))
        case .puback: packet = .puback(try MQTTPublishAckPacket.read(from: &body, type: .puback, version: version))
        case .pubrec: packet = .pubrec(try MQTTPublishAckPacket.read(from: &body, type: .pubrec, version: version))
        case .pubrel: packet = .pubrel(try MQTTPublishAckPacket.read(from: &body, type: .pubrel, version: version))
        case .pubcomp: packet = .pubcomp(try MQTTPublishAckPacket.read(from: &body, type: .pubcomp, version: version))
        case .subscribe: packet = .subscribe(try MQTTSubscribePacket.read(from: &body, version: version))
        case .suback: packet = .suback(try MQTTSubAckPacket.read(from: &body, type: .suback, version: version))
        case .unsubscribe: packet = .unsubscribe(try MQTTUnsubscribePacket.read(from: &body, version: version))
        case .unsuback: packet = .unsuback(try MQTTSubAckPacket.read(from: &body, type: .unsuback, version: version))
        case .pingreq: packet = .pingreq
        case .pingresp: packet = .pingresp
        case .disconnect:
            if version == .v5 {
                let (code, properties) = try MQTTReasonAndProperties.read(from: &body, type: .disconnect)
                packet = .disconnect(MQTTDisconnectPacket(reasonCode: code, properties: properties))
            } else {
                packet = .disconnect(MQTTDisconnectPacket())
            }
        case .auth:
            let (code, properties) = try MQTTReasonAndProperties.read(from: &body, type: .auth)
            packet = .auth(MQTTAuthPacket(reasonCode: code, properties: properties))
        }
        guard body.readableBytes == 0 else { throw .unexpectedTrailingBytes(header.type, count: body.readableBytes) }
        return packet
    }

    /// Decodes one whole packet from the front of `buffer`, consuming it; nil (consuming nothing)
    /// when the packet is not complete yet. A fixed header announcing more than
    /// `maximumPacketSize` bytes is refused before the rest is waited for.
    public static func decode(from buffer: inout ByteBuffer, version: MQTTProtocolVersion?,
                              maximumPacketSize: Int = mqttMaximumVariableByteInteger + 5) throws(MQTTDecodeError) -> MQTTPacket? {
        guard let header = try MQTTFixedHeader.peek(buffer, version: version) else { return nil }
        guard header.packetLength <= maximumPacketSize else {
            throw .packetTooLarge(size: header.packetLength, maximum: maximumPacketSize)
        }
        guard buffer.readableBytes >= header.packetLength else { return nil }
        let resolved: MQTTProtocolVersion
        if let version {
            resolved = version
        } else {
            guard header.type == .connect else { throw .connectExpected(header.type) }
            resolved = .v311  // CONNECT reads its own level
        }
        var body = buffer.getSlice(at: buffer.readerIndex + header.headerLength, length: header.remainingLength)!
        let packet = try decode(header: header, body: &body, version: resolved)
        buffer.moveReaderIndex(forwardBy: header.packetLength)
        return packet
    }
}

extension MQTTPacket {
    private func flagsAndBodyLength(version: MQTTProtocolVersion) throws(MQTTEncodeError) -> (UInt8, Int) {
        switch self {
        case .connect(let p): return (0, p.bodyLength())
        case .connack(let p): return (0, p.bodyLength(version: version))
        case .publish(let p): return (p.fixedHeaderFlags, p.bodyLength(version: version))
        case .puback(let p), .pubrec(let p), .pubcomp(let p): return (0, p.bodyLength(version: version))
        case .pubrel(let p): return (0x02, p.bodyLength(version: version))
        case .subscribe(let p): return (0x02, p.bodyLength(version: version))
        case .suback(let p): return (0, p.bodyLength(type: .suback, version: version))
        case .unsubscribe(let p): return (0x02, p.bodyLength(version: version))
        case .unsuback(let p): return (0, p.bodyLength(type: .unsuback, version: version))
        case .pingreq, .pingresp: return (0, 0)
        case .disconnect(let p): return (0, version == .v5 ? MQTTReasonAndProperties.length(p.reasonCode, p.properties) : 0)
        case .auth(let p):
            if version == .v311 { throw .notInVersion(.auth, .v311) }
            return (0, MQTTReasonAndProperties.length(p.reasonCode, p.properties))
        }
    }

    /// Bytes this packet takes on the wire, fixed header included: what a Maximum Packet Size is
    /// compared with. A CONNECT is measured in its own protocol version.
    public func encodedLength(version: MQTTProtocolVersion) throws(MQTTEncodeError) -> Int {
        let (_, body) = try flagsAndBodyLength(version: version)
        return 1 + mqttVariableByteIntegerLength(body) + body
    }

    /// Writes the packet: its size is computed first, the buffer grows once.
    public func encode(into buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTEncodeError) {
        let (flags, body) = try flagsAndBodyLength(version: version)
        guard body <= mqttMaximumVariableByteInteger else { throw .packetTooLarge(size: body) }
        if case .publish(let p) = self {
            return try p.write(to: &buffer, flags: flags, bodyLength: body, version: version)
        }
        buffer.reserveCapacity(minimumWritableBytes: 1 + mqttVariableByteIntegerLength(body) + body)
        buffer.writeInteger(type.rawValue << 4 | flags)
        buffer.writeMQTTVariableByteInteger(body)
        switch self {
        case .connect(let p): try p.writeBody(to: &buffer)
        case .connack(let p): try p.writeBody(to: &buffer, version: version)
        case .publish: break  // written above
        case .puback(let p), .pubrec(let p), .pubrel(let p), .pubcomp(let p): try p.writeBody(to: &buffer, version: version)
        case .subscribe(let p): try p.writeBody(to: &buffer, version: version)
        case .suback(let p): try p.writeBody(to: &buffer, type: .suback, version: version)
        case .unsubscribe(let p): try p.writeBody(to: &buffer, version: version)
        case .unsuback(let p): try p.writeBody(to: &buffer, type: .unsuback, version: version)
        case .pingreq, .pingresp: break
        case .disconnect(let p):
            if version == .v5 { try MQTTReasonAndProperties.write(p.reasonCode, p.properties, to: &buffer) }
        case .auth(let p): try MQTTReasonAndProperties.write(p.reasonCode, p.properties, to: &buffer)
        }
    }
}
