import NIOCore
import NIOHTTP1
import NIOPosix

/// `junction bench scenario --http-sink PORT`: an HTTP/1.1 server on the load generator's own
/// event loop that counts every request body as a delivery, as a subscriber counts a PUBLISH.
///
/// It measures a process that turns MQTT messages into HTTP requests (MQTT Listen → HTTP Send):
/// the publisher stamps each payload with its send time on the monotonic clock, the process
/// posts the payload unchanged, and the sink reads the stamp on arrival, so latency is publish →
/// HTTP arrival on one clock. Every request is answered `204 No Content` on a kept-alive connection.
enum BenchHTTPSink {
    /// Binds the sink on `host:port` on `home`'s loop; the channel closes with the run.
    static func start(host: String, port: Int, home: NIOLoopBoundBox<BenchLoop>) async throws -> Channel {
        try await ServerBootstrap(group: home.eventLoop)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.configureHTTPServerPipeline(withErrorHandling: true)
                    try sync.addHandler(Handler(home: home.value))
                }
            }
            .bind(host: host, port: port)
            .get()
    }

    /// One connection: gathers each request's body, counts it, answers 204.
    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        unowned let home: BenchLoop
        private var body: ByteBuffer?
        private var keepAlive = true

        init(home: BenchLoop) { self.home = home }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                keepAlive = head.isKeepAlive
                body = nil
            case .body(var chunk):
                if body == nil { body = chunk } else { body?.writeBuffer(&chunk) }
            case .end:
                home.recordSinkDelivery(body ?? ByteBuffer())
                body = nil
                var headers = HTTPHeaders()
                headers.add(name: "content-length", value: "0")
                if !keepAlive { headers.add(name: "connection", value: "close") }
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .noContent, headers: headers))), promise: nil)
                let done = context.eventLoop.makePromise(of: Void.self)
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
                if !keepAlive { done.futureResult.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) } }
            }
        }
    }
}
