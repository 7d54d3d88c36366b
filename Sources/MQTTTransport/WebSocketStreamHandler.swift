import NIOCore
import NIOWebSocket

/// MQTT over WebSocket (MQTT 5.0 §6, 3.1.1 §6): the binary frames of the connection carry one
/// byte stream. This handler sits right after NIO's `WebSocketFrameDecoder`/`WebSocketFrameEncoder`
/// and before `MQTTPacketDecoder`, on the broker and on the client alike.
///
/// - Inbound: the payload of every binary (and continuation) frame is passed on as it is, so a
///   packet split across frames, or several packets in one frame, reach the decoder as one
///   stream. Pings are answered with a pong; a close frame is answered with a close frame and
///   the channel closes; a text frame breaks the MQTT binding and closes with 1003.
/// - Outbound: bytes written are gathered until the next flush and sent as one binary frame
///   (masked with a fresh key when `masksOutbound`, as a client must).
/// - Closing the output (or the channel) sends a close frame 1000 first.
public final class WebSocketStreamHandler: ChannelDuplexHandler {
    public typealias InboundIn = WebSocketFrame
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = WebSocketFrame

    private let masksOutbound: Bool
    private var pending: ByteBuffer?
    private var pendingPromise: EventLoopPromise<Void>?
    private var closeSent = false
    private var closing = false

    /// - Parameter masksOutbound: true on the client side (RFC 6455 §5.3: clients mask every frame).
    public init(masksOutbound: Bool) {
        self.masksOutbound = masksOutbound
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .binary, .continuation:
            guard !closing else { return }
            let payload = frame.unmaskedData
            if payload.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(payload)) }
        case .ping:
            guard !closeSent else { return }
            writeFrame(context: context, opcode: .pong, data: frame.unmaskedData, promise: nil)
            context.flush()
        case .pong:
            break
        case .connectionClose:
            closing = true
            var data = frame.unmaskedData
            let code = data.readWebSocketErrorCode() ?? .normalClosure
            if !closeSent { sendClose(context: context, code: code) }
            context.close(promise: nil)
        case .text:
            fail(context: context, code: .unacceptableData)
        default:
            fail(context: context, code: .protocolError)
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var bytes = unwrapOutboundIn(data)
        guard !closeSent else {
            promise?.fail(ChannelError.outputClosed)
            return
        }
        if var gathered = pending {
            pending = nil  // keeps `gathered` uniquely referenced, so it grows in place
            gathered.writeBuffer(&bytes)
            pending = gathered
        } else {
            pending = bytes
        }
        if let promise {
            if let pendingPromise { pendingPromise.futureResult.cascade(to: promise) } else { pendingPromise = promise }
        }
    }

    public func flush(context: ChannelHandlerContext) {
        flushPending(context: context)
        context.flush()
    }

    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        if mode != .input && !closeSent && context.channel.isActive {
            flushPending(context: context)
            sendClose(context: context, code: .normalClosure)
        }
        context.close(mode: mode, promise: promise)
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        pendingPromise?.fail(ChannelError.ioOnClosedChannel)
        pendingPromise = nil
        pending = nil
    }

    private func flushPending(context: ChannelHandlerContext) {
        guard let bytes = pending else { return }
        let promise = pendingPromise
        pending = nil
        pendingPromise = nil
        writeFrame(context: context, opcode: .binary, data: bytes, promise: promise)
    }

    private func writeFrame(context: ChannelHandlerContext, opcode: WebSocketOpcode, data: ByteBuffer, promise: EventLoopPromise<Void>?) {
        let frame = WebSocketFrame(fin: true, opcode: opcode, maskKey: masksOutbound ? .random() : nil, data: data)
        context.write(wrapOutboundOut(frame), promise: promise)
    }

    private func sendClose(context: ChannelHandlerContext, code: WebSocketErrorCode) {
        closeSent = true
        var data = context.channel.allocator.buffer(capacity: 2)
        data.write(webSocketErrorCode: code)
        writeFrame(context: context, opcode: .connectionClose, data: data, promise: nil)
        context.flush()
    }

    private func fail(context: ChannelHandlerContext, code: WebSocketErrorCode) {
        closing = true
        if !closeSent { sendClose(context: context, code: code) }
        context.close(promise: nil)
    }
}
