import MQTTBroker
import MQTTCore
import NIOCore
import NIOEmbedded

/// One client connection of the fuzzer: an `EmbeddedChannel` with the broker's real pipeline
/// (`MQTTPacketDecoder` and `BrokerConnection`, as a listener builds it), and what the client
/// side knows: what it sent, what the broker answered, what is still owed.
final class FuzzClient {
    let slot: Int
    let channel: EmbeddedChannel
    let connection: BrokerConnection
    /// The protocol level of the CONNECT sent (output is decoded with it); nil before one.
    var version: MQTTProtocolVersion?
    /// The client id the broker accepted (the assigned one for an empty id on 5.0).
    var clientID: String?
    var requestedID = ""
    var cleanStart = true
    var expiry: UInt32 = 0
    var connectSent = false
    /// A CONNACK with success came.
    var accepted = false
    /// A CONNACK with a failure came: the broker must close the connection.
    var refused = false
    var sessionPresent = false
    /// Raw bytes went in: what the broker does with them is not modelled, so neither is this
    /// connection's output, nor the session it may have opened.
    var tainted = false
    /// The client ended the connection itself (dropped it, or sent DISCONNECT): the broker may close silently.
    var endedByClient = false
    /// The client sent DISCONNECT 0x00 in the current step (its will is deleted unless the broker objects).
    var sentNormalDisconnect = false
    /// The client announced a Maximum Packet Size: larger messages are skipped, so deliveries are not owed.
    var limitsPacketSize = false
    var closeHandled = false
    /// The Session Expiry Interval our DISCONNECT carried, applied unless the broker refuses it.
    var disconnectExpiry: UInt32?
    /// When the CONNACK came (virtual time): the keepalive clock of the connection starts there.
    var acceptedAt = NIODeadline.uptimeNanoseconds(0)
    var brokerSentDisconnect = false
    var lastPacketFromBroker: MQTTPacketType?
    var inbox = ByteBuffer()
    /// Client → broker topic aliases, and the most the broker accepts.
    var aliases: [UInt16: String] = [:]
    var aliasMaximum: UInt16 = 0
    /// Broker → client topic aliases.
    var brokerAliases: [UInt16: String] = [:]
    var nextPacketID: UInt16 = 1
    var pendingSubscribes: [UInt16: [MQTTSubscription]] = [:]
    var pendingUnsubscribes: [UInt16: [String]] = [:]
    /// Our PUBLISHes (QoS 1/2) by packet id, awaiting the broker's PUBACK/PUBREC.
    var pendingPublishes: [UInt16: [SentMessage]] = [:]
    /// Broker → client packet ids in use (PUBLISH or PUBREL sent, no acknowledgement of any kind
    /// with that id from us since), with the message number of the PUBLISH.
    var outstanding: [UInt16: UInt32?] = [:]
    /// Outstanding ids of QoS 2 deliveries, and those we sent PUBREC for: the broker's PUBREL
    /// for one of those keeps the id in use until our PUBCOMP.
    var exactlyOnce: Set<UInt16> = []
    var expectedReleases: Set<UInt16> = []
    /// QoS 1/2 PUBLISHes and PUBRELs received, for acknowledgement operations.
    var received: [(id: UInt16, qos: MQTTQoS)] = []
    var releases: [UInt16] = []
    /// PUBRECs received for our QoS 2 PUBLISHes, for PUBREL operations.
    var pubrecs: [UInt16] = []
    /// Our PUBRELs by packet id: whether the session was known to await that release.
    var releasesSent: [UInt16: Bool] = [:]
    var lastPublishID: UInt16 = 1
    /// PINGREQs not answered yet.
    var pendingPings = 0
    /// Message numbers delivered on this connection.
    var delivered: Set<UInt32> = []
    /// The will of this connection, by message number.
    var willSeq: UInt32?

    init(slot: Int, loop: EmbeddedEventLoop, state: BrokerState) throws {
        self.slot = slot
        channel = EmbeddedChannel(loop: loop)
        try ListenerTransport.addMQTTHandlers(channel.pipeline.syncOperations, state: state, usernameFrom: nil)
        connection = try channel.pipeline.syncOperations.handler(type: BrokerConnection.self)
        channel.connect(to: try SocketAddress(ipAddress: "127.0.0.1", port: 40_000 + slot), promise: nil)
    }

    /// The Maximum Packet Size a client announces when it limits it.
    static let maximumPacketSize = 64

    var isOpen: Bool { channel.isActive }
    /// Connected as the model sees it: CONNACK success came and the connection is open.
    var isConnected: Bool { accepted && isOpen && !closeHandled }

    func allocatePacketID() -> UInt16 {
        let id = nextPacketID
        nextPacketID = nextPacketID == .max ? 1 : nextPacketID + 1
        return id
    }

    /// Writes `packet` as the client would, in one piece or split in two.
    func send(_ packet: MQTTPacket, version: MQTTProtocolVersion, split: Int = 0) {
        var buffer = channel.allocator.buffer(capacity: 64)
        do {
            try packet.encode(into: &buffer, version: version)
        } catch {
            return  // a packet the encoder refuses (too large) is not sent
        }
        write(buffer, split: split)
    }

    func write(_ buffer: ByteBuffer, split: Int = 0) {
        guard isOpen else { return }
        var buffer = buffer
        if split > 0 && split < buffer.readableBytes, let head = buffer.readSlice(length: split) {
            writeInbound(head)
        }
        writeInbound(buffer)
    }

    private func writeInbound(_ buffer: ByteBuffer) {
        guard isOpen else { return }
        // An error here is the channel closing under the write, which the model sees next.
        do { try channel.writeInbound(buffer) } catch {}
    }

    /// What the broker wrote and flushed since the last call.
    func drainOutput() {
        while true {
            let next: ByteBuffer?
            do { next = try channel.readOutbound(as: ByteBuffer.self) } catch { break }
            guard var buffer = next else { break }
            inbox.writeBuffer(&buffer)
        }
    }
}

/// A QoS 1/2 message a client published and the broker has not acknowledged yet.
struct SentMessage {
    /// Nil for an empty payload (nothing to recognise a delivery by).
    var seq: UInt32?
    /// Nil when the topic alias it used is unknown to the model.
    var topic: String?
    var qos: MQTTQoS
    /// It carries a Message Expiry Interval: it may lapse in a queue, so no delivery is owed.
    var expires: Bool
    /// A QoS 2 resend of a packet id whose PUBREL is still awaited: the broker must not route it again.
    var duplicate: Bool
}
