import MQTTCore
import NIOCore
import NIOPosix
import Synchronization

/// A one-connection MQTT server a test scripts packet by packet (for exchanges no broker here
/// offers, such as enhanced authentication).
public final class ScriptedServer: Sendable {
    public let port: Int
    private let serverChannel: Channel
    private let packets: AsyncStream<MQTTPacket>
    private let connection: ChannelSlot

    private init(port: Int, serverChannel: Channel, packets: AsyncStream<MQTTPacket>, connection: ChannelSlot) {
        self.port = port
        self.serverChannel = serverChannel
        self.packets = packets
        self.connection = connection
    }

    /// Listens on 127.0.0.1:`port` (0: any free port).
    public static func start(port: Int = 0, version: MQTTProtocolVersion = .v5) async throws -> ScriptedServer {
        let (packets, continuation) = AsyncStream<MQTTPacket>.makeStream()
        let connection = ChannelSlot()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                connection.value.withLock { $0 = channel }
                return channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(ByteToMessageHandler(MQTTPacketDecoder()))
                    try sync.addHandler(MessageToByteHandler(MQTTPacketEncoder(version: version)))
                    try sync.addHandler(Collector(continuation: continuation))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        guard let port = channel.localAddress?.port else { throw TestFailure("scripted server bound no port") }
        return ScriptedServer(port: port, serverChannel: channel, packets: packets, connection: connection)
    }

    /// The next packet from the client.
    public func receive(timeout: Duration = .seconds(15)) async throws -> MQTTPacket {
        let packets = self.packets
        return try await within(timeout, "a packet from the client") {
            var iterator = packets.makeAsyncIterator()
            guard let packet = await iterator.next() else { throw TestFailure("the client closed the connection") }
            return packet
        }
    }

    public func send(_ packet: MQTTPacket) async throws {
        guard let channel = connection.value.withLock({ $0 }) else { throw TestFailure("no client connected") }
        try await channel.writeAndFlush(packet).get()
    }

    public func close() async {
        try? await connection.value.withLock({ $0 })?.close()
        try? await serverChannel.close()
    }

    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = MQTTPacket
        let continuation: AsyncStream<MQTTPacket>.Continuation
        init(continuation: AsyncStream<MQTTPacket>.Continuation) { self.continuation = continuation }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { continuation.yield(unwrapInboundIn(data)) }
        func channelInactive(context: ChannelHandlerContext) { continuation.finish() }
    }
}

/// The accepted connection, set from the server's loop.
final class ChannelSlot: Sendable {
    let value = Mutex<Channel?>(nil)
}
