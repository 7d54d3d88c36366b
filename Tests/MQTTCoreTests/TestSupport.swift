import MQTTCore
import NIOCore
import Testing

/// Shared helpers for the MQTTCore tests: byte arrays in, packets out, and back.

func bytes(_ string: String) -> ByteBuffer { ByteBuffer(string: string) }

func bytes(_ array: [UInt8]) -> ByteBuffer { ByteBuffer(bytes: array) }

/// Encodes `packet` for `version` and returns the bytes written.
func encoded(_ packet: MQTTPacket, _ version: MQTTProtocolVersion) throws -> [UInt8] {
    var buffer = ByteBuffer()
    try packet.encode(into: &buffer, version: version)
    return Array(buffer.readableBytesView)
}

/// Decodes one whole packet from `input`; fails the test unless every byte was consumed.
func decodedWhole(_ input: [UInt8], _ version: MQTTProtocolVersion?,
                  sourceLocation: SourceLocation = #_sourceLocation) throws -> MQTTPacket? {
    var buffer = ByteBuffer(bytes: input)
    let packet = try MQTTPacket.decode(from: &buffer, version: version)
    #expect(buffer.readableBytes == 0, "\(buffer.readableBytes) bytes left over", sourceLocation: sourceLocation)
    return packet
}

/// The error `MQTTPacket.decode(from:)` throws for `input`, or nil when it throws none.
func decodeError(_ input: [UInt8], _ version: MQTTProtocolVersion?,
                 maximumPacketSize: Int = mqttMaximumVariableByteInteger + 5) -> MQTTDecodeError? {
    var buffer = ByteBuffer(bytes: input)
    do {
        _ = try MQTTPacket.decode(from: &buffer, version: version, maximumPacketSize: maximumPacketSize)
        return nil
    } catch {
        return error
    }
}

/// A packet with the version it is carried in, printable in test names.
struct VersionedPacket: Sendable, CustomTestStringConvertible {
    var name: String
    var version: MQTTProtocolVersion
    var packet: MQTTPacket

    init(_ name: String, _ version: MQTTProtocolVersion, _ packet: MQTTPacket) {
        self.name = name
        self.version = version
        self.packet = packet
    }

    var testDescription: String { "\(name) (\(version))" }
}

/// Every property identifier used in `properties`.
func identifiers(_ properties: MQTTProperties) -> Set<MQTTProperty.Identifier> {
    Set(properties.map(\.identifier))
}

/// Every property identifier a packet carries, will properties included.
func identifiers(in packet: MQTTPacket) -> Set<MQTTProperty.Identifier> {
    switch packet {
    case .connect(let p): identifiers(p.properties).union(p.will.map { identifiers($0.properties) } ?? [])
    case .connack(let p): identifiers(p.properties)
    case .publish(let p): identifiers(p.properties)
    case .puback(let p), .pubrec(let p), .pubrel(let p), .pubcomp(let p): identifiers(p.properties)
    case .subscribe(let p): identifiers(p.properties)
    case .suback(let p), .unsuback(let p): identifiers(p.properties)
    case .unsubscribe(let p): identifiers(p.properties)
    case .pingreq, .pingresp: []
    case .disconnect(let p): identifiers(p.properties)
    case .auth(let p): identifiers(p.properties)
    }
}
