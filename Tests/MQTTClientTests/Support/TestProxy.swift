import MQTTCore
import NIOCore
import NIOPosix
import TestSupport

/// A TCP proxy on 127.0.0.1 between a client under test and a broker, reading the client's byte
/// stream as MQTT packets so a test can withhold chosen packet types, silence connections
/// (a dead peer that keeps its socket open), or cut them (an abrupt close). Everything runs on
/// one event loop; the test drives it with async calls.
final class TestProxy: Sendable {
    let port: Int
    private let loop: EventLoop
    private let serverChannel: Channel
    private let state: NIOLoopBoundBox<ProxyState>

    private init(port: Int, loop: EventLoop, serverChannel: Channel, state: NIOLoopBoundBox<ProxyState>) {
        self.port = port
        self.loop = loop
        self.serverChannel = serverChannel
        self.state = state
    }

    /// Starts a proxy to 127.0.0.1:`upstreamPort`.
    static func start(upstreamPort: Int) async throws -> TestProxy {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let state = try await loop.submit { NIOLoopBoundBox(ProxyState(upstreamPort: upstreamPort), eventLoop: loop) }.get()
        let channel = try await ServerBootstrap(group: loop)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ClientSideHandler(state: state.value))
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        guard let port = channel.localAddress?.port else { throw TestFailure("proxy bound no port") }
        return TestProxy(port: port, loop: loop, serverChannel: channel, state: state)
    }

    /// Where new connections go from now on.
    func setUpstream(port: Int) async throws {
        let state = self.state
        try await loop.submit { state.value.upstreamPort = port }.get()
    }

    /// Drops client→broker packets of these types on the connections open now (new connections
    /// forward everything).
    func withhold(_ types: Set<MQTTPacketType>) async throws {
        let state = self.state
        try await loop.submit { for link in state.value.links { link.withhold = types } }.get()
    }

    /// Packets dropped by ``withhold(_:)`` so far.
    func withheldCount() async throws -> Int {
        let state = self.state
        return try await loop.submit { state.value.withheld }.get()
    }

    /// The connections open now stop forwarding anything, both ways, and stay open.
    func silence() async throws {
        let state = self.state
        try await loop.submit { for link in state.value.links { link.silenced = true } }.get()
    }

    /// Closes the connections open now on both sides, without any MQTT goodbye.
    func cut() async throws {
        let state = self.state
        try await loop.submit {
            for link in state.value.links { link.close() }
        }.get()
    }

    /// Connections currently open through the proxy.
    func connectionCount() async throws -> Int {
        let state = self.state
        return try await loop.submit { state.value.links.count }.get()
    }

    func close() async {
        try? await cut()
        try? await serverChannel.close()
    }
}

/// The proxy's connections; lives on the proxy's event loop.
final class ProxyState {
    var upstreamPort: Int
    var links: [ProxyLink] = []
    var withheld = 0

    init(upstreamPort: Int) { self.upstreamPort = upstreamPort }
}

/// One client connection and its upstream connection.
final class ProxyLink {
    let client: Channel
    var server: Channel?
    /// Client bytes not yet forwarded: while the upstream connects, or a packet's tail.
    var pending: [ByteBuffer] = []
    var framer = ByteBuffer()
    var withhold: Set<MQTTPacketType> = []
    var silenced = false
    unowned let state: ProxyState

    init(client: Channel, state: ProxyState) {
        self.client = client
        self.state = state
    }

    /// Bytes from the client: whole packets are forwarded unless withheld.
    func fromClient(_ bytes: ByteBuffer) {
        guard !silenced else { return }
        var bytes = bytes
        framer.writeBuffer(&bytes)
        while true {
            let header: MQTTFixedHeader?
            do {
                header = try MQTTFixedHeader.peek(framer, version: .v5)
            } catch {
                forward(framer)  // not MQTT any more: pass it on as it is
                framer.clear()
                return
            }
            guard let header, framer.readableBytes >= header.packetLength, let packet = framer.readSlice(length: header.packetLength) else {
                break
            }
            if withhold.contains(header.type) {
                state.withheld += 1
            } else {
                forward(packet)
            }
        }
        framer.discardReadBytes()
    }

    private func forward(_ packet: ByteBuffer) {
        if let server {
            server.writeAndFlush(packet, promise: nil)
        } else {
            pending.append(packet)
        }
    }

    func fromServer(_ bytes: ByteBuffer) {
        guard !silenced else { return }
        client.writeAndFlush(bytes, promise: nil)
    }

    func upstreamConnected(_ channel: Channel) {
        server = channel
        for packet in pending { channel.write(packet, promise: nil) }
        pending = []
        channel.flush()
    }

    func close() {
        client.close(promise: nil)
        server?.close(promise: nil)
        state.links.removeAll { $0 === self }
    }
}

private final class ClientSideHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let state: ProxyState
    var link: ProxyLink?

    init(state: ProxyState) { self.state = state }

    func channelActive(context: ChannelHandlerContext) {
        let link = ProxyLink(client: context.channel, state: state)
        self.link = link
        state.links.append(link)
        let loop = context.eventLoop
        let bound = NIOLoopBound(link, eventLoop: loop)
        ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ServerSideHandler(link: bound.value))
                }
            }
            .connect(host: "127.0.0.1", port: state.upstreamPort)
            .assumeIsolated()
            .whenComplete { result in
                switch result {
                case .success(let channel): link.upstreamConnected(channel)
                case .failure: link.close()
                }
            }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        link?.fromClient(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        link?.close()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        link?.close()
    }
}

private final class ServerSideHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let link: ProxyLink

    init(link: ProxyLink) { self.link = link }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        link.fromServer(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        // A silenced connection plays a dead peer: the client's side stays open.
        if !link.silenced { link.close() }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !link.silenced { link.close() }
    }
}
