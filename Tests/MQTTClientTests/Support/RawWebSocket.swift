import Foundation
import MQTTCore
import NIOCore
import NIOPosix
import Synchronization
import TestSupport

/// A bare TCP connection for WebSocket tests: bytes written as given (hand-made HTTP and frames),
/// bytes read with a deadline. Closed by ``close()``.
final class RawSocket: Sendable {
    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let bytes = Mutex<(data: [UInt8], closed: Bool)>(([], false))
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            bytes.withLock { $0.data += buffer.readableBytesView }
        }
        func channelInactive(context: ChannelHandlerContext) {
            bytes.withLock { $0.closed = true }
        }
    }

    private let channel: Channel
    private let collector: Collector

    private init(channel: Channel, collector: Collector) {
        self.channel = channel
        self.collector = collector
    }

    static func connect(port: Int) async throws -> RawSocket {
        let collector = Collector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(3))
            .channelInitializer { $0.pipeline.addHandler(collector) }
            .connect(host: "127.0.0.1", port: port).get()
        return RawSocket(channel: channel, collector: collector)
    }

    func send(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    /// Waits until `parse` finds something at the front of the bytes received (returning it and
    /// how many bytes it used); the bytes used are removed.
    func read<T>(_ what: String, timeout: Duration = .seconds(20), _ parse: @escaping ([UInt8]) -> (T, Int)?) async throws -> T {
        try await poll(timeout: timeout, what) { () -> T? in
            collector.bytes.withLock { state in
                guard let (value, used) = parse(state.data) else { return nil }
                state.data.removeFirst(used)
                return value
            }
        }
    }

    /// Whether the peer closed the connection, waiting up to `timeout`.
    func waitForClose(timeout: Duration = .seconds(20)) async -> Bool {
        (try? await poll(timeout: timeout, "close") { collector.bytes.withLock { $0.closed } ? true : nil }) ?? false
    }

    func close() async {
        try? await channel.close()
    }
}

/// Hand-made WebSocket (RFC 6455) for tests that must control the frames.
enum RawWebSocket {
    struct Frame: Equatable {
        var fin: Bool
        var opcode: UInt8
        var payload: [UInt8]
    }

    static let binary: UInt8 = 0x2, text: UInt8 = 0x1, continuation: UInt8 = 0x0, close: UInt8 = 0x8, ping: UInt8 = 0x9, pong: UInt8 = 0xA

    /// The upgrade request; `protocols` nil leaves Sec-WebSocket-Protocol out.
    static func upgradeRequest(path: String = "/mqtt", protocols: String? = "mqtt") -> [UInt8] {
        var lines = ["GET \(path) HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
        if let protocols { lines.append("Sec-WebSocket-Protocol: \(protocols)") }
        return Array((lines.joined(separator: "\r\n") + "\r\n\r\n").utf8)
    }

    /// Reads the HTTP response head (up to the empty line).
    static func readResponseHead(_ socket: RawSocket) async throws -> String {
        try await socket.read("HTTP response") { bytes -> (String, Int)? in
            let end: [UInt8] = Array("\r\n\r\n".utf8)
            guard bytes.count >= 4, let index = (0...(bytes.count - 4)).first(where: { Array(bytes[$0..<$0 + 4]) == end }) else { return nil }
            return (String(decoding: bytes[..<index], as: UTF8.self), index + 4)
        }
    }

    /// Connects and upgrades; fails unless the answer is 101 with subprotocol mqtt.
    static func open(port: Int, path: String = "/mqtt") async throws -> RawSocket {
        let socket = try await RawSocket.connect(port: port)
        try await socket.send(upgradeRequest(path: path))
        let head = try await readResponseHead(socket)
        guard head.hasPrefix("HTTP/1.1 101"), head.lowercased().contains("sec-websocket-protocol: mqtt") else {
            await socket.close()
            throw TestFailure("upgrade refused: \(head)")
        }
        return socket
    }

    /// A masked client frame.
    static func frame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true) -> [UInt8] {
        var bytes: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        if payload.count < 126 {
            bytes.append(0x80 | UInt8(payload.count))
        } else {
            bytes.append(0x80 | 126)
            bytes += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        let key: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        bytes += key
        bytes += payload.enumerated().map { $1 ^ key[$0 % 4] }
        return bytes
    }

    /// Reads one (unmasked, server) frame.
    static func readFrame(_ socket: RawSocket) async throws -> Frame {
        try await socket.read("a WebSocket frame") { bytes -> (Frame, Int)? in
            guard bytes.count >= 2 else { return nil }
            var length = Int(bytes[1] & 0x7F)
            var offset = 2
            if length == 126 {
                guard bytes.count >= 4 else { return nil }
                length = Int(bytes[2]) << 8 | Int(bytes[3])
                offset = 4
            } else if length == 127 {
                guard bytes.count >= 10 else { return nil }
                length = bytes[2..<10].reduce(0) { $0 << 8 | Int($1) }
                offset = 10
            }
            guard bytes.count >= offset + length else { return nil }
            return (Frame(fin: bytes[0] & 0x80 != 0, opcode: bytes[0] & 0x0F, payload: Array(bytes[offset..<offset + length])), offset + length)
        }
    }

    static func encode(_ packet: MQTTPacket, version: MQTTProtocolVersion = .v5) throws -> [UInt8] {
        var buffer = ByteBuffer()
        try packet.encode(into: &buffer, version: version)
        return Array(buffer.readableBytesView)
    }

    /// Reads binary frames until `count` MQTT packets have arrived (frames may hold several).
    static func readPackets(_ socket: RawSocket, count: Int, version: MQTTProtocolVersion = .v5) async throws -> [MQTTPacket] {
        var stream = ByteBuffer()
        var packets: [MQTTPacket] = []
        while packets.count < count {
            let frame = try await readFrame(socket)
            guard frame.opcode == binary || frame.opcode == continuation else {
                throw TestFailure("expected a binary frame, got opcode \(frame.opcode)")
            }
            stream.writeBytes(frame.payload)
            while let packet = try MQTTPacket.decode(from: &stream, version: version) { packets.append(packet) }
        }
        return packets
    }
}
