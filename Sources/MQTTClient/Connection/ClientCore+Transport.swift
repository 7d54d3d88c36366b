import MQTTCore
import MQTTTransport
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket

/// Opening the transport of one server: TCP, TLS, WebSocket or WebSocket over TLS, ending in
/// the same MQTT handlers (decoder, encoder, ``MQTTClientChannelHandler``).
extension ClientCore {
    /// Connects to `server` and completes once MQTT bytes can flow: after the TCP connect, or
    /// after the WebSocket upgrade. (A TLS handshake needs no wait: NIOSSL holds writes until
    /// it completes, and a failed one reaches the channel handler as an error.)
    func openChannel(to server: MQTTServer, connection: UInt64) -> EventLoopFuture<Channel> {
        let box = NIOLoopBoundBox(self, eventLoop: loop)
        let version = configuration.version
        let maximumPacketSize = configuration.maximumPacketSize.map(Int.init) ?? (mqttMaximumVariableByteInteger + 5)
        let sslContext: NIOSSLContext?
        let serverHostname = configuration.tls.serverHostname(for: server.host)
        if server.transport.usesTLS {
            do {
                sslContext = try NIOSSLContext(configuration: configuration.tls.makeConfiguration())
            } catch {
                return loop.makeFailedFuture(error)
            }
        } else {
            sslContext = nil
        }
        let addMQTTHandlers: @Sendable (Channel) throws -> Void = { channel in
            let sync = channel.pipeline.syncOperations
            try sync.addHandler(ByteToMessageHandler(MQTTPacketDecoder(version: version, maximumPacketSize: maximumPacketSize)))
            try sync.addHandler(MessageToByteHandler(MQTTPacketEncoder(version: version)))
            try sync.addHandler(MQTTClientChannelHandler(core: box.value, connection: connection))
        }
        let upgraded = loop.makePromise(of: Void.self)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let sslContext {
                        try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname))
                    }
                    guard server.transport.usesWebSocket else { return try addMQTTHandlers(channel) }
                    try Self.addWebSocketUpgrade(channel, server: server, maximumPacketSize: maximumPacketSize,
                                                 upgraded: upgraded, addMQTTHandlers: addMQTTHandlers)
                }
            }
        let connected = bootstrap.connect(host: server.host, port: server.port)
        guard server.transport.usesWebSocket else {
            upgraded.succeed()
            return connected
        }
        connected.whenFailure { upgraded.fail($0) }
        return connected.flatMap { channel in
            upgraded.futureResult.map { channel }.flatMapErrorThrowing { error in
                channel.close(promise: nil)
                throw error
            }
        }
    }

    private static func addWebSocketUpgrade(_ channel: Channel, server: MQTTServer, maximumPacketSize: Int,
                                            upgraded: EventLoopPromise<Void>,
                                            addMQTTHandlers: @escaping @Sendable (Channel) throws -> Void) throws {
        let upgrader = NIOWebSocketClientUpgrader(maxFrameSize: max(1 << 14, min(maximumPacketSize + 16, Int(UInt32.max))),
                                                  automaticErrorHandling: true) { channel, response in
            channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                sync.removeHandler(context: try sync.context(handlerType: WebSocketUpgradeRequest.self), promise: nil)
                let accepted = response.headers[canonicalForm: "Sec-WebSocket-Protocol"].map { $0.lowercased() }
                guard accepted == ["mqtt"] else {
                    throw TransportError("the server did not accept the mqtt WebSocket subprotocol (answered \(accepted))")
                }
                try sync.addHandler(WebSocketStreamHandler(masksOutbound: true))
                try addMQTTHandlers(channel)
            }.always { upgraded.completeWith($0) }
        }
        let sync = channel.pipeline.syncOperations
        try sync.addHTTPClientHandlers(withClientUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
        try sync.addHandler(WebSocketUpgradeRequest(server: server, upgraded: upgraded))
    }
}

/// Sends the HTTP upgrade request of a WebSocket connection (`GET path`, subprotocol `mqtt`)
/// once the channel is active, and fails the upgrade when the server refuses it or the
/// connection ends first.
final class WebSocketUpgradeRequest: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let server: MQTTServer
    private let upgraded: EventLoopPromise<Void>

    init(server: MQTTServer, upgraded: EventLoopPromise<Void>) {
        self.server = server
        self.upgraded = upgraded
    }

    func channelActive(context: ChannelHandlerContext) {
        let hostHeader = server.host.contains(":") ? "[\(server.host)]" : server.host
        let port = server.port == server.transport.defaultPort ? "" : ":\(server.port)"
        let headers = HTTPHeaders([("Host", hostHeader + port), ("Sec-WebSocket-Protocol", "mqtt"), ("Content-Length", "0")])
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: server.path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A response that is not the upgrade: the upgrade handler reports the refusal as an error.
        if case .head(let head) = unwrapInboundIn(data) {
            upgraded.fail(TransportError("WebSocket upgrade refused: HTTP \(head.status.code) \(head.status.reasonPhrase)"))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        upgraded.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        upgraded.fail(TransportError("the connection closed before the WebSocket upgrade"))
        context.fireChannelInactive()
    }
}
