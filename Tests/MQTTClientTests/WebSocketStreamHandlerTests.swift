import MQTTTransport
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

/// ``WebSocketStreamHandler`` alone on an EmbeddedChannel: frames in, bytes out and back.
@Suite("WebSocket stream handler")
struct WebSocketStreamHandlerTests {
    func channel(masks: Bool) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: WebSocketStreamHandler(masksOutbound: masks))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    @Test("bytes written between two flushes leave as one binary frame; clients mask it, servers do not",
          arguments: [false, true])
    func oneFramePerFlush(masks: Bool) throws {
        let channel = try channel(masks: masks)
        channel.write(ByteBuffer(bytes: [0x20, 0x02, 0x00, 0x00]), promise: nil)  // CONNACK
        let written = channel.write(ByteBuffer(bytes: [0xD0, 0x00]))  // PINGRESP
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil, "nothing leaves before the flush")
        channel.flush()
        let frame = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(frame.opcode == .binary && frame.fin)
        #expect(Array(frame.data.readableBytesView) == [0x20, 0x02, 0x00, 0x00, 0xD0, 0x00], "the encoder masks on the wire")
        #expect((frame.maskKey != nil) == masks)
        #expect(try channel.readOutbound(as: WebSocketFrame.self) == nil)
        try written.wait()
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test("binary and continuation frames become one byte stream; empty frames pass nothing")
    func framesToBytes() throws {
        let channel = try channel(masks: false)
        try channel.writeInbound(WebSocketFrame(fin: false, opcode: .binary, data: ByteBuffer(bytes: [1, 2])))
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .binary, data: ByteBuffer()))
        try channel.writeInbound(WebSocketFrame(fin: true, opcode: .continuation, data: ByteBuffer(bytes: [3])))
        var received: [UInt8] = []
        while let buffer = try channel.readInbound(as: ByteBuffer.self) { received += buffer.readableBytesView }
        #expect(received == [1, 2, 3])
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test("closing the output sends close 1000 first; later writes fail")
    func closeSendsCloseFrame() throws {
        let channel = try channel(masks: false)
        let closed = channel.close(mode: .output)
        let frame = try #require(try channel.readOutbound(as: WebSocketFrame.self))
        #expect(frame.opcode == .connectionClose)
        var data = frame.data
        #expect(data.readWebSocketErrorCode() == .normalClosure)
        _ = closed
        let late = channel.write(ByteBuffer(bytes: [0xD0, 0x00]))
        channel.flush()
        #expect(throws: (any Error).self) { try late.wait() }
        _ = try channel.finish(acceptAlreadyClosed: true)
    }
}
