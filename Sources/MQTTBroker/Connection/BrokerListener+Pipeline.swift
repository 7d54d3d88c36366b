import MQTTCore
import MQTTTransport
import NIOCore
import NIOHTTP1
import NIOSSL
import NIOWebSocket

/// MQTT over WebSocket on a listener: the HTTP upgrade is accepted on `path` only, and only
/// when the client offers the `mqtt` subprotocol.
public struct WebSocketListenerOptions: Sendable, Hashable {
    /// The request path of the upgrade, e.g. `/mqtt`.
    public var path: String

    public init(path: String = "/mqtt") { self.path = path }
}

/// What a listener puts in front of the MQTT handlers of each connection it accepts:
/// TLS (NIOSSL), the HTTP upgrade to WebSocket and the frame ↔ byte stream handler, in that
/// order, then `MQTTPacketDecoder` and ``BrokerConnection``. Built once per listener at start,
/// so the TLS files are read (and checked) then.
package struct ListenerTransport: Sendable {
    let sslContext: NIOSSLContext?
    let usernameFrom: ListenerTLS.UsernameSource?
    let webSocketPath: String?

    init(_ listener: BrokerListener) throws {
        sslContext = try listener.tls?.makeServerContext()
        usernameFrom = listener.tls?.usernameFrom
        webSocketPath = listener.webSocket?.path
    }

    /// The scheme clients use for this listener, for logs.
    var scheme: String {
        switch (sslContext != nil, webSocketPath != nil) {
        case (false, false): "mqtt"
        case (true, false): "mqtts"
        case (false, true): "ws"
        case (true, true): "wss"
        }
    }

    /// Sets up an accepted channel; runs on the broker's loop (the child channel initializer).
    func configure(_ channel: Channel, state: NIOLoopBoundBox<BrokerState>) throws {
        let sync = channel.pipeline.syncOperations
        if let sslContext { try sync.addHandler(NIOSSLServerHandler(context: sslContext)) }
        let usernameFrom = self.usernameFrom
        guard let path = webSocketPath else {
            return try Self.addMQTTHandlers(sync, state: state.value, usernameFrom: usernameFrom)
        }
        let settings = state.value.settings
        // One MQTT packet may travel in one frame: frames up to the largest packet are accepted.
        let maxFrameSize = max(1 << 14, min(settings.maxPacketSize + 16, Int(UInt32.max)))
        let upgrader = NIOWebSocketServerUpgrader(
            maxFrameSize: maxFrameSize, automaticErrorHandling: true,
            shouldUpgrade: { channel, head in
                guard let subprotocol = Self.subprotocol(for: head, path: path) else {
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
                return channel.eventLoop.makeSucceededFuture(HTTPHeaders([("Sec-WebSocket-Protocol", subprotocol)]))
            },
            upgradePipelineHandler: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    // The refusal handler sits before the frame codec NIO appends: bytes must not reach it.
                    sync.removeHandler(context: try sync.context(handlerType: WebSocketRefusal.self), promise: nil)
                    try sync.addHandler(WebSocketStreamHandler(masksOutbound: false))
                    try Self.addMQTTHandlers(sync, state: state.value, usernameFrom: usernameFrom)
                }
            })
        try sync.configureHTTPServerPipeline(withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
        try sync.addHandler(WebSocketRefusal(path: path))
        // A socket that never completes the upgrade is closed like one that never sends CONNECT.
        channel.eventLoop.scheduleTask(in: settings.connectTimeout) {
            if (try? channel.pipeline.syncOperations.context(handlerType: WebSocketStreamHandler.self)) == nil {
                channel.close(promise: nil)
            }
        }
    }

    package static func addMQTTHandlers(_ sync: ChannelPipeline.SynchronousOperations, state: BrokerState,
                                usernameFrom: ListenerTLS.UsernameSource?) throws {
        // Read per connection, so a reloaded maxPacketSize applies to new clients.
        let maximumPacketSize = state.settings.maxPacketSize
        try sync.addHandler(ByteToMessageHandler(MQTTPacketDecoder(maximumPacketSize: maximumPacketSize)))
        let connection = BrokerConnection(state: state)
        connection.certificateUsernameSource = usernameFrom
        try sync.addHandler(connection)
    }

    /// The subprotocol to answer with when `head` asks to upgrade on `path` offering MQTT:
    /// `mqtt` (MQTT 3.1.1 and 5.0), or `mqttv3.1` from older clients; nil refuses.
    static func subprotocol(for head: HTTPRequestHead, path: String) -> String? {
        guard requestPath(head.uri) == path else { return nil }
        let offered = head.headers[canonicalForm: "Sec-WebSocket-Protocol"].map { $0.lowercased() }
        if offered.contains("mqtt") { return "mqtt" }
        if offered.contains("mqttv3.1") { return "mqttv3.1" }
        return nil
    }

    static func requestPath(_ uri: String) -> Substring {
        uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? Substring(uri)
    }
}

/// Answers an HTTP request on a WebSocket listener that was not upgraded (wrong path, no
/// `mqtt` subprotocol, no upgrade at all) with a 4xx and closes the connection.
final class WebSocketRefusal: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let path: String
    private var status = HTTPResponseStatus.badRequest
    private var reason = ""

    init(path: String) { self.path = path }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            if ListenerTransport.requestPath(head.uri) != path {
                status = .notFound
                reason = "MQTT over WebSocket is served on \(path)\n"
            } else if !head.headers[canonicalForm: "Upgrade"].contains(where: { $0.lowercased() == "websocket" }) {
                status = .upgradeRequired
                reason = "this path serves MQTT over WebSocket only\n"
            } else {
                status = .badRequest
                reason = "the mqtt WebSocket subprotocol is required (Sec-WebSocket-Protocol: mqtt)\n"
            }
        case .body:
            break
        case .end:
            let body = context.channel.allocator.buffer(string: reason)
            var headers = HTTPHeaders([("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")])
            headers.add(name: "Content-Length", value: "\(body.readableBytes)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
        }
    }
}

extension BrokerListener {
    /// How clients reach this listener, e.g. `mqtts://0.0.0.0:8883` or `ws://127.0.0.1:8083/mqtt`.
    public var url: String {
        let scheme = switch (tls != nil, webSocket != nil) {
        case (false, false): "mqtt"
        case (true, false): "mqtts"
        case (false, true): "ws"
        case (true, true): "wss"
        }
        let shown = host.contains(":") ? "[\(host)]" : host
        return "\(scheme)://\(shown):\(port)\(webSocket?.path ?? "")"
    }
}
