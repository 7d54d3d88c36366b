import MQTTCore
import NIOCore

// libFuzzer entry point over the MQTT decoder.
//
// Input: byte 0 picks the side (0: server, version learned from CONNECT; 1: client 3.1.1;
// 2: client 5.0, modulo 3), the rest is a byte stream framed by MQTTPacketDecoder until it needs
// more bytes or refuses them (decode errors are expected). Every packet decoded must keep the
// decoder's rules (Invariants.swift) and survive a round trip: encoded in the connection's version
// (a CONNECT in its own), as many bytes as encodedLength says, decoded again, equal.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard count > 0 else { return 0 }
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let side: MQTTProtocolVersion? = switch bytes[0] % 3 {
    case 0: nil
    case 1: .v311
    default: .v5
    }
    var decoder = MQTTPacketDecoder(version: side)
    var buffer = ByteBufferAllocator().buffer(bytes: bytes.dropFirst())
    var scratch = ByteBufferAllocator().buffer(capacity: 256)
    while true {
        let decodeVersion = decoder.version
        let packet: MQTTPacket
        do {
            guard let next = try decoder.decode(buffer: &buffer) else { break }
            packet = next
        } catch {
            require(error is MQTTDecodeError, "decoder threw a foreign error: \(error)")
            break
        }
        let encodeVersion: MQTTProtocolVersion
        if case .connect(let connect) = packet {
            encodeVersion = connect.protocolVersion
        } else {
            guard let version = decodeVersion else { fatalError("decoded \(packet.type) before CONNECT") }
            encodeVersion = version
        }
        checkInvariants(packet, version: encodeVersion)
        scratch.clear()
        do {
            try packet.encode(into: &scratch, version: encodeVersion)
            let length = try packet.encodedLength(version: encodeVersion)
            require(length == scratch.readableBytes,
                    "encodedLength \(length) != \(scratch.readableBytes) bytes written for \(packet)")
        } catch {
            fatalError("decoded packet does not encode: \(error)\n\(packet)")
        }
        let encoded = scratch
        do {
            let again = try MQTTPacket.decode(from: &scratch, version: decodeVersion)
            require(again == packet, "round trip changed the packet:\n\(packet)\n\(String(describing: again))\nbytes: \(encoded.readableBytesView.map { $0 })")
            require(scratch.readableBytes == 0, "round trip left \(scratch.readableBytes) bytes")
        } catch {
            fatalError("re-encoded packet does not decode: \(error)\n\(packet)\nbytes: \(encoded.readableBytesView.map { $0 })")
        }
    }
    return 0
}
