import MQTTCore
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// The last handler of a client connection's pipeline, after
/// `ByteToMessageHandler(MQTTPacketDecoder(version:))` and
/// `MessageToByteHandler(MQTTPacketEncoder(version:))`: hands each decoded packet to the
/// ``ClientCore`` on the same event loop, and tells it when the connection ends.
///
/// The end of the connection reaches the core on the next turn of the loop: a close can be
/// triggered from inside the core (a write failing), and the core must never be re-entered
/// while it carries out actions.
final class MQTTClientChannelHandler: ChannelInboundHandler {
    typealias InboundIn = MQTTPacket

    private let core: ClientCore
    private let connection: UInt64

    init(core: ClientCore, connection: UInt64) {
        self.core = core
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        core.channelRead(unwrapInboundIn(data), connection: connection)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        core.flushIfNeeded()
        #if os(Linux)
        // Acknowledge the next segment at once instead of delaying it (Linux leaves quick-ack
        // mode by itself, so it is asked again after every read). A broker that does not set
        // TCP_NODELAY (Mosquitto's default) holds its second small PUBACK until the first is
        // acknowledged, and with several publishes in flight and nothing left to send, a delayed
        // acknowledgement stalled every one of those exchanges 40 ms.
        context.channel.setOption(.tcpOption(.init(rawValue: CInt(TCP_QUICKACK))), value: 1).whenFailure { _ in }
        #endif
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let (core, connection) = (self.core, self.connection)
        context.eventLoop.assumeIsolated().execute { core.channelError(error, connection: connection) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        let (core, connection) = (self.core, self.connection)
        context.eventLoop.assumeIsolated().execute { core.connectionEnded(connection) }
        context.fireChannelInactive()
    }
}
