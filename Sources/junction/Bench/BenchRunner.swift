import Foundation
import MQTTCore
import NIOCore
import NIOPosix
import Synchronization

/// What one `junction bench` run does; the subcommands build it from their options.
struct BenchPlan: Sendable {
    enum Mode: String, Sendable { case pub, sub, conn, scenario }

    var mode: Mode
    var host = "127.0.0.1"
    var port = 1883
    var version = MQTTProtocolVersion.v311
    var threads = 1
    var clientPrefix = "bench"
    var keepAlive: UInt16 = 60
    var connectConcurrency = 100
    var publishers = 0
    var subscribers = 0
    var idle = 0
    /// Publisher topic; `%i` becomes the publisher's index.
    var topic = "bench/%i"
    /// Subscriber filter; `%i` becomes the subscriber's index.
    var filter = "bench/#"
    var qos = MQTTQoS.atMostOnce
    var payloadSize = 64
    /// Messages per second per publisher; 0 is unlimited.
    var rate: Double = 0
    /// Seconds of publishing (pub, scenario), receiving (sub) or holding (conn).
    var duration: Double = 10
    /// Messages per publisher (pub, scenario) or received in all (sub).
    var limit: Int?
    var inflight = 32
    var batch = 64
    /// Longest wait after publishing for deliveries and acknowledgements still due.
    var drainSeconds: Double = 10
    /// Subscribers use persistent sessions.
    var persistent = false
    var brokerPID: Int32?
    var progress = true
    /// Port of the HTTP sink on the generator's host (`scenario --http-sink`): request bodies count as deliveries.
    var httpSinkPort: Int?
    /// Deliveries expected per published message, when a process between publisher and
    /// receivers makes the topic matching say nothing (`--fan-out`).
    var fanOut: Int?

    /// Whether anything receives: subscribers or the HTTP sink.
    var receives: Bool { subscribers > 0 || httpSinkPort != nil }

    static func fill(_ template: String, _ index: Int) -> String {
        template.replacingOccurrences(of: "%i", with: String(index))
    }
}

/// Runs a ``BenchPlan``: connects every client (subscribers first), publishes for the duration
/// or the count, waits for what is still due, then disconnects everything and summarises.
/// Progress goes to standard error once a second. Every run ends by itself: the duration bounds
/// publishing, `drainSeconds` bounds the wait after it, and all connections are closed.
struct BenchRunner {
    let plan: BenchPlan

    /// Connections that could not be set up, counted as they fail (shown in progress lines).
    final class Tally: Sendable {
        let connectFailures = Atomic<Int>(0)
        let firstError = Mutex<String?>(nil)
    }

    func run() async throws -> BenchSummary {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, plan.threads))
        do {
            let summary = try await run(on: group)
            try? await group.shutdownGracefully()
            return summary
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private func run(on group: MultiThreadedEventLoopGroup) async throws -> BenchSummary {
        let homes = group.makeIterator().map { loop in NIOLoopBoundBox.makeBoxSendingValue(BenchLoop(loop: loop), eventLoop: loop) }
        let tally = Tally()
        let clock = ContinuousClock()
        let runStart = clock.now
        let ownCPUStart = ProcessUsage.ownCPUSeconds()
        let usageBefore = plan.brokerPID.flatMap(ProcessUsage.sample)
        let progress = plan.progress ? Task { await Self.printProgress(homes, tally: tally, plan: plan, since: runStart) } : nil
        var tasks: [RepeatedTask] = []
        var channels: [Channel] = []
        defer {
            progress?.cancel()
            for task in tasks { task.cancel() }
        }

        // The HTTP sink and subscribers first, so that nothing published is missed; then publishers and idle ones.
        let sink = try await plan.httpSinkPort.asyncMap { try await BenchHTTPSink.start(host: plan.host, port: $0, home: homes[0]) }
        defer { sink?.close(promise: nil) }
        let filters = (0..<plan.subscribers).map { BenchPlan.fill(plan.filter, $0) }
        var configs = filters.enumerated().map { config(.subscriber, $0.offset, topic: $0.element) }
        channels += await connect(configs, homes: homes, tally: tally, offset: 0)
        let publisherConfigs = (0..<plan.publishers).map { index in
            var publisher = config(.publisher, index, topic: BenchPlan.fill(plan.topic, index))
            publisher.fanOut = plan.fanOut ?? (Self.fanOut(of: publisher.topic, filters: filters) + (plan.httpSinkPort == nil ? 0 : 1))
            return publisher
        }
        channels += await connect(publisherConfigs, homes: homes, tally: tally, offset: configs.count)
        configs += publisherConfigs
        let idleConfigs = (0..<plan.idle).map { config(.idle, $0, topic: "") }
        channels += await connect(idleConfigs, homes: homes, tally: tally, offset: configs.count)
        let connectSeconds = Self.seconds(clock.now - runStart)
        let failures = tally.connectFailures.load(ordering: .relaxed)
        if failures > 0 && plan.mode != .conn {
            await Self.closeAll(homes, channels: channels)
            throw BenchError(description: "\(failures) connections failed, first: \(tally.firstError.withLock { $0 ?? "?" })")
        }
        if plan.keepAlive > 0 {
            tasks += homes.map { home in home.eventLoop.scheduleRepeatedTask(initialDelay: .seconds(1), delay: .seconds(1)) { _ in home.value.pingTick() } }
        }

        var usageStart = plan.brokerPID.flatMap(ProcessUsage.sample)
        var measuredUntil = clock.now
        if plan.mode == .conn {
            // Let the broker settle, then measure what the idle connections cost it.
            try await Task.sleep(for: .seconds(1))
            usageStart = plan.brokerPID.flatMap(ProcessUsage.sample)
            let held = clock.now
            try await Task.sleep(until: held + .seconds(max(0, plan.duration - 1)), clock: clock)
            measuredUntil = clock.now
        } else {
            let start = NIODeadline.now()
            let deadline = start + .milliseconds(Int64(plan.duration * 1000))
            for home in homes { try await home.eventLoop.submit { home.value.startPublishing(start: start, deadline: deadline) }.get() }
            if plan.publishers > 0 {
                let tick: TimeAmount = plan.rate > 0 ? .milliseconds(1) : .microseconds(100)
                tasks += homes.map { home in home.eventLoop.scheduleRepeatedTask(initialDelay: tick, delay: tick) { _ in home.value.tick() } }
            }
            try await waitForPublishing(homes, deadline: deadline)
            if plan.publishers > 0 { try await drain(homes) }
            measuredUntil = clock.now
        }
        let usageEnd = plan.brokerPID.flatMap(ProcessUsage.sample)
        var snapshot = try await Self.collect(homes)
        snapshot.counters.connectFailures = tally.connectFailures.load(ordering: .relaxed)
        if snapshot.counters.unexpectedDisconnects > 0, let first = snapshot.disconnectReasons.first {
            printError("junction bench: the broker closed connections during the run, e.g. \(first)")
        }
        let ownCPU = ProcessUsage.ownCPUSeconds() - ownCPUStart
        await Self.closeAll(homes, channels: channels)
        return summary(snapshot, connectSeconds: connectSeconds, elapsed: Self.seconds(measuredUntil - runStart),
                       usage: (usageBefore, usageStart, usageEnd), ownCPU: ownCPU)
    }

    private func config(_ role: BenchRole, _ index: Int, topic: String) -> BenchClientConfig {
        let name = switch role { case .publisher: "pub" case .subscriber: "sub" case .idle: "conn" }
        return BenchClientConfig(role: role, index: index, clientID: "\(plan.clientPrefix)-\(name)-\(index)", version: plan.version,
                                 keepAlive: plan.keepAlive, topic: topic, qos: plan.qos, payloadSize: plan.payloadSize,
                                 rate: plan.rate, limit: plan.limit, inflight: plan.inflight, batch: plan.batch, fanOut: 0,
                                 persistent: plan.persistent && role == .subscriber)
    }

    /// How many of the subscriptions receive a message published on `topic`: every matching plain
    /// filter, and each share group with a matching filter once.
    static func fanOut(of topic: String, filters: [String]) -> Int {
        var groups = Set<String>()
        var count = 0
        for raw in filters {
            guard let filter = MQTTTopicFilter(raw), filter.matches(topic) else { continue }
            if let group = filter.shareGroup { groups.insert(group + "\u{0}" + filter.filter) } else { count += 1 }
        }
        return count + groups.count
    }

    // MARK: Connecting

    /// Opens the connections of `configs`, at most `connectConcurrency` handshakes at a time;
    /// client `offset + i` goes to loop `(offset + i) % loops`. Returns the ready channels.
    private func connect(_ configs: [BenchClientConfig], homes: [NIOLoopBoundBox<BenchLoop>], tally: Tally, offset: Int) async -> [Channel] {
        let (host, port) = (plan.host, plan.port)
        return await withTaskGroup(of: Channel?.self) { group in
            var next = 0
            var channels: [Channel] = []
            channels.reserveCapacity(configs.count)
            func startNext() {
                let config = configs[next]
                let home = homes[(offset + next) % homes.count]
                next += 1
                group.addTask {
                    do {
                        return try await Self.connectOne(config, home: home, host: host, port: port)
                    } catch {
                        if tally.connectFailures.add(1, ordering: .relaxed).oldValue == 0 {
                            tally.firstError.withLock { $0 = "\(config.clientID): \(error)" }
                        }
                        return nil
                    }
                }
            }
            while next < min(max(1, plan.connectConcurrency), configs.count) { startNext() }
            for await channel in group {
                if let channel { channels.append(channel) }
                if next < configs.count { startNext() }
            }
            return channels
        }
    }

    private static func connectOne(_ config: BenchClientConfig, home: NIOLoopBoundBox<BenchLoop>, host: String, port: Int) async throws -> Channel {
        let ready = home.eventLoop.makePromise(of: Void.self)
        let channel: Channel
        do {
            channel = try await ClientBootstrap(group: home.eventLoop)
                .connectTimeout(.seconds(10))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelOption(.maxMessagesPerRead, value: 16)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let client = BenchClient(config: config, home: home.value, ready: ready)
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(ByteToMessageHandler(MQTTPacketDecoder(version: config.version)))
                        try sync.addHandler(client)
                        home.value.add(client)
                    }
                }
                .connect(host: host, port: port)
                .get()
        } catch {
            ready.fail(error)  // no effect when the client already failed it
            throw error
        }
        do {
            try await ready.futureResult.get()
        } catch {
            channel.close(promise: nil)
            throw error
        }
        return channel
    }

    // MARK: Running

    /// Waits until every publisher finished (deadline or limit); `sub` waits for its duration or
    /// its count. Publishers still going 5 s after the deadline are stopped.
    private func waitForPublishing(_ homes: [NIOLoopBoundBox<BenchLoop>], deadline: NIODeadline) async throws {
        while true {
            try await Task.sleep(for: .milliseconds(50))
            let counters = try await Self.collect(homes).counters
            let now = NIODeadline.now()
            if plan.mode == .sub {
                if now >= deadline || plan.limit.map({ counters.received >= $0 }) ?? false { return }
                continue
            }
            if counters.publishersDone >= plan.publishers { return }
            if now >= deadline + .seconds(5) {
                for home in homes { try await home.eventLoop.submit { home.value.stopPublishing() }.get() }
                return
            }
        }
    }

    /// After publishing: waits until every expected message arrived and every QoS 1/2 exchange
    /// completed, until nothing moved for a sixth of `drainSeconds` (2 s at least: what is still
    /// missing then is lost), or for `drainSeconds` at most.
    private func drain(_ homes: [NIOLoopBoundBox<BenchLoop>]) async throws {
        let clock = ContinuousClock()
        let end = clock.now + .seconds(plan.drainSeconds)
        let stall = Duration.seconds(max(2, plan.drainSeconds / 6))
        var last = (received: -1, acknowledged: -1)
        var lastMove = clock.now
        while clock.now < end {
            let counters = try await Self.collect(homes).counters
            if counters.inflight <= 0 && counters.received + counters.duplicates >= counters.expected { return }
            if (counters.received, counters.acknowledged) != last {
                last = (counters.received, counters.acknowledged)
                lastMove = clock.now
            } else if clock.now - lastMove > stall {
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    static func collect(_ homes: [NIOLoopBoundBox<BenchLoop>]) async throws -> BenchSnapshot {
        var total = BenchSnapshot()
        for home in homes { total.merge(try await home.eventLoop.submit { home.value.snapshot() }.get()) }
        return total
    }

    private static func closeAll(_ homes: [NIOLoopBoundBox<BenchLoop>], channels: [Channel]) async {
        for home in homes { try? await home.eventLoop.submit { home.value.disconnectAll() }.get() }
        for channel in channels { try? await channel.closeFuture.get() }
    }

    static func seconds(_ duration: Duration) -> Double {
        let (s, atto) = duration.components
        return Double(s) + Double(atto) / 1e18
    }

    /// One line per second on standard error: connections, then rates and latency of the last second.
    private static func printProgress(_ homes: [NIOLoopBoundBox<BenchLoop>], tally: Tally, plan: BenchPlan, since start: ContinuousClock.Instant) async {
        var previous = BenchSnapshot()
        let clock = ContinuousClock()
        let total = plan.publishers + plan.subscribers + plan.idle
        var tick = start
        while !Task.isCancelled {
            tick += .seconds(1)
            do { try await Task.sleep(until: tick, clock: clock) } catch { return }
            guard let snapshot = try? await collect(homes) else { return }
            let c = snapshot.counters
            var line = String(format: "[%5.1fs]", seconds(clock.now - start)) + " conn \(benchCount(c.connected))/\(benchCount(total))"
            let failures = tally.connectFailures.load(ordering: .relaxed)
            if failures > 0 { line += " (\(benchCount(failures)) failed)" }
            if plan.publishers > 0 { line += "  sent \(benchCount(c.sent)) (+\(benchCount(c.sent - previous.counters.sent))/s)" }
            if plan.publishers > 0 && plan.qos != .atMostOnce { line += " inflight \(c.inflight)" }
            if plan.receives {
                line += "  recv \(benchCount(c.received)) (+\(benchCount(c.received - previous.counters.received))/s)"
                let window = snapshot.latency.since(previous.latency)
                if window.total > 0, let summary = window.summary {
                    line += "  lat p50 \(benchMillis(summary.p50Us)) p99 \(benchMillis(summary.p99Us))"
                }
                if c.duplicates > 0 { line += "  dup \(benchCount(c.duplicates))" }
            }
            if c.unexpectedDisconnects > 0 { line += "  DISCONNECTED \(c.unexpectedDisconnects)" }
            printError(line)
            previous = snapshot
        }
    }

    // MARK: Summary

    private func summary(_ snapshot: BenchSnapshot, connectSeconds: Double, elapsed: Double,
                         usage: (before: ProcessUsage?, start: ProcessUsage?, end: ProcessUsage?), ownCPU: Double) -> BenchSummary {
        let c = snapshot.counters
        let publishing = plan.publishers > 0
        let publishSeconds = c.sent > 0 ? max(Double(c.lastSendNanos - c.firstSendNanos) / 1e9, 0.001) : 0
        var deliveredRate: Double?
        if plan.receives {
            // From the first send (the first receipt when the publishers are elsewhere) to the last receipt.
            let from = publishing ? c.firstSendNanos : c.firstReceiveNanos
            deliveredRate = c.received > 0 && from != .max && c.lastReceiveNanos > from
                ? Double(c.received) / (Double(c.lastReceiveNanos - from) / 1e9) : 0
        }
        let expected = publishing && plan.receives ? c.expected : nil
        var brokerUsage: BrokerUsage?
        if let pid = plan.brokerPID, let before = usage.before, let end = usage.end {
            let cpu = usage.start.map { end.cpuSeconds - $0.cpuSeconds }
            let messages = plan.receives ? c.received : c.sent
            brokerUsage = BrokerUsage(
                pid: pid, cpuSeconds: cpu.map { ($0 * 1000).rounded() / 1000 },
                cpuSecondsPerMillionMessages: cpu.flatMap { messages > 0 ? ($0 / (Double(messages) / 1e6) * 1000).rounded() / 1000 : nil },
                rssBeforeKB: before.rssKB, rssAfterKB: (usage.start ?? end).rssKB,
                rssPerConnectionBytes: plan.mode == .conn && c.connected > 0
                    ? (Double((usage.start ?? end).rssKB - before.rssKB) * 1024 / Double(c.connected)).rounded() : nil)
        }
        return BenchSummary(
            mode: plan.mode.rawValue, broker: "\(plan.host):\(plan.port)", protocolVersion: plan.version.description,
            qos: plan.mode == .conn ? nil : Int(plan.qos.rawValue), publishers: plan.publishers, subscribers: plan.subscribers,
            httpSink: plan.httpSinkPort.map { "http://\(plan.host):\($0)" },
            connections: c.connected, connectFailures: c.connectFailures, connectSeconds: (connectSeconds * 1000).rounded() / 1000,
            payloadBytes: publishing ? plan.payloadSize : nil, ratePerPublisher: publishing && plan.rate > 0 ? plan.rate : nil,
            publishSeconds: publishing ? (publishSeconds * 1000).rounded() / 1000 : nil, elapsedSeconds: (elapsed * 1000).rounded() / 1000,
            sent: c.sent, acknowledged: c.acknowledged, received: c.received, expected: expected,
            lost: expected.map { $0 - c.received }, duplicates: c.duplicates, outOfOrder: c.outOfOrder,
            unexpectedDisconnects: c.unexpectedDisconnects, disconnectReasons: snapshot.disconnectReasons,
            publishRate: publishing ? (Double(c.sent) / publishSeconds).rounded() : nil, deliveredRate: deliveredRate?.rounded(),
            latency: snapshot.latency.summary, brokerUsage: brokerUsage, loadGeneratorCPUSeconds: (ownCPU * 1000).rounded() / 1000)
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}
