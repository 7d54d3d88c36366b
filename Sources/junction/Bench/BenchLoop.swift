import NIOCore

/// The bench clients of one event loop and what they counted, confined to that loop (the runner
/// reaches it through a `NIOLoopBoundBox`). With the default single thread there is one.
final class BenchLoop {
    let loop: EventLoop
    private(set) var clients: [BenchClient] = []
    private var publishers: [BenchClient] = []
    var counters = BenchCounters()
    var latency = LatencyHistogram()
    private var disconnectReasons: [String] = []
    /// Whether publishers may send: set by ``startPublishing(start:deadline:)``.
    private(set) var publishing = false
    /// When publishing started (the origin of rates) and when it ends.
    private(set) var start = NIODeadline.now()
    private(set) var deadline = NIODeadline.distantFuture

    init(loop: EventLoop) { self.loop = loop }

    /// Registers a client created by a channel initializer of this loop.
    func add(_ client: BenchClient) {
        clients.append(client)
        if client.isPublisher { publishers.append(client) }
    }

    func startPublishing(start: NIODeadline, deadline: NIODeadline) {
        self.start = start
        self.deadline = deadline
        publishing = true
        tick()
    }

    /// Pumps every publisher still sending: called every tick (1 ms with a rate, 100 µs without).
    /// A timer rather than an immediately re-queued task, so that reads get their turn: NIO runs
    /// tasks queued by tasks before it polls the sockets again.
    func tick() {
        guard publishing else { return }
        let now = NIODeadline.now()
        for publisher in publishers where !publisher.finished { publisher.pump(now: now) }
    }

    /// Ends publishing now (the run's hard stop).
    func stopPublishing() {
        deadline = .now()
        for publisher in publishers { publisher.finish() }
    }

    /// Keepalive: PINGREQ from clients that wrote nothing for half their keepalive.
    func pingTick() {
        let now = NIODeadline.now()
        for client in clients { client.ping(now: now) }
    }

    /// DISCONNECT and close every connection of this loop.
    func disconnectAll() {
        publishing = false
        for client in clients { client.disconnect() }
    }

    /// Counts one delivered payload for a receiver whose sequences are in `seen`: received,
    /// duplicate or out of order, and its latency from the stamp.
    func recordDelivery(_ payload: ByteBuffer, into seen: inout DeliveryTally) {
        let now = benchNanos()
        if counters.firstReceiveNanos == .max { counters.firstReceiveNanos = now }
        counters.lastReceiveNanos = now
        guard let stamp = BenchStamp.read(payload), stamp.publisher < 1 << 20 else {
            counters.received += 1
            return
        }
        var reordered = false
        guard seen.insert(publisher: Int(stamp.publisher), sequence: stamp.sequence, reordered: &reordered) else {
            counters.duplicates += 1
            return
        }
        counters.received += 1
        if reordered { counters.outOfOrder += 1 }
        latency.record(now > stamp.nanos ? now - stamp.nanos : 0)
    }

    /// The HTTP sink's sequences: all its connections are one receiver.
    private var sinkSeen = DeliveryTally()

    /// Counts one request body that reached the HTTP sink.
    func recordSinkDelivery(_ body: ByteBuffer) {
        var seen = sinkSeen
        sinkSeen = DeliveryTally()
        recordDelivery(body, into: &seen)
        sinkSeen = seen
    }

    func recordDisconnectReason(_ reason: String) {
        if disconnectReasons.count < 5 { disconnectReasons.append(reason) }
    }

    func snapshot() -> BenchSnapshot {
        BenchSnapshot(counters: counters, latency: latency, disconnectReasons: disconnectReasons)
    }
}
