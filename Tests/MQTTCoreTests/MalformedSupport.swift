import MQTTCore
import NIOCore
import Testing

/// One input that must be refused: the error case and the reason code the receiver answers with.
struct MalformedCase: Sendable, CustomTestStringConvertible {
    var name: String
    /// nil: a server-side decoder that has not seen CONNECT yet.
    var version: MQTTProtocolVersion?
    var bytes: [UInt8]
    var error: MQTTDecodeError
    var reasonCode: MQTTReasonCode
    var maximumPacketSize: Int

    var testDescription: String {
        "\(name) (\(version.map { "\($0)" } ?? "server, before CONNECT"))"
    }
}

func bad(_ name: String, _ version: MQTTProtocolVersion?, _ bytes: [UInt8], _ error: MQTTDecodeError,
         _ reasonCode: MQTTReasonCode, maximumPacketSize: Int = mqttMaximumVariableByteInteger + 5) -> MalformedCase {
    MalformedCase(name: name, version: version, bytes: bytes, error: error, reasonCode: reasonCode,
                  maximumPacketSize: maximumPacketSize)
}

/// Feeds the row to `MQTTPacket.decode(from:)` and to an `MQTTPacketDecoder`; both must throw the
/// expected error, whose reason code must be the expected one.
func expectRefused(_ row: MalformedCase, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(row.error.reasonCode == row.reasonCode, sourceLocation: sourceLocation)
    #expect(!row.error.description.isEmpty, sourceLocation: sourceLocation)
    let direct = decodeError(row.bytes, row.version, maximumPacketSize: row.maximumPacketSize)
    #expect(direct == row.error, sourceLocation: sourceLocation)
    #expect(direct?.reasonCode == row.reasonCode, sourceLocation: sourceLocation)

    var decoder = MQTTPacketDecoder(version: row.version, maximumPacketSize: row.maximumPacketSize)
    var buffer = ByteBuffer(bytes: row.bytes)
    #expect(throws: row.error, sourceLocation: sourceLocation) {
        try decoder.decode(buffer: &buffer)
    }
}

/// The protocol name "MQTT" as a length-prefixed string.
let mqttName: [UInt8] = [0x00, 0x04, 0x4D, 0x51, 0x54, 0x54]
