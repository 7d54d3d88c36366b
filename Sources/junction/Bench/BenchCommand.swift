import ArgumentParser
import Foundation
import MQTTCore

/// `junction bench`: an MQTT load generator in the spirit of emqtt-bench, for any broker.
///
/// `pub`, `sub` and `conn` load a broker one way each; `scenario` runs publishers and
/// subscribers together and reports end-to-end delivery: rate, loss, duplicates and latency
/// (every payload carries its publisher, sequence number and send time). Every run stops by
/// itself and closes its connections. `-h` is the host, as in mosquitto_pub; help is `--help`.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "MQTT load generator: publishers, subscribers, idle connections, end-to-end scenarios.",
        discussion: """
            Examples:
              junction bench pub -c 10 -t 'bench/%i' -q 1 -s 256 --rate 1000 -d 30
              junction bench sub -c 10 -t 'bench/#' -q 1 -d 30
              junction bench conn -c 10000 -d 60
              junction bench scenario --pubs 1 --subs 50 -t bench/0 -f bench/0 -q 0 -d 5 --json
            """,
        subcommands: [Pub.self, Sub.self, Conn.self, Scenario.self],
        helpNames: [.long]
    )

    /// `pub`: N publishers.
    struct Pub: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pub", abstract: "N publishers on a topic template (%i is the publisher's index).")
        @OptionGroup var connection: BenchConnectionOptions
        @Option(name: [.customShort("c"), .customLong("count")], help: "Publishers.")
        var count = 1
        @OptionGroup var publish: BenchPublishOptions

        func validate() throws { _ = try makePlan() }
        func run() async throws { try await execute(makePlan(), json: connection.json) }

        private func makePlan() throws -> BenchPlan {
            var plan = try connection.plan(.pub)
            guard count >= 1 else { throw ValidationError("-c must be at least 1") }
            plan.publishers = count
            try publish.apply(to: &plan)
            return plan
        }
    }

    /// `sub`: N subscribers.
    struct Sub: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "sub", abstract: "N subscribers on a filter (%i is the subscriber's index); counts and times what arrives.")
        @OptionGroup var connection: BenchConnectionOptions
        @Option(name: [.customShort("c"), .customLong("count")], help: "Subscribers.")
        var count = 1
        @Option(name: [.customShort("t"), .customLong("topic")], help: "Topic filter.")
        var topic = "bench/#"
        @Option(name: [.customShort("q"), .customLong("qos")], help: "Subscription QoS: 0, 1 or 2.")
        var qos = 0
        @Option(name: [.customShort("d"), .customLong("duration")], help: "Seconds to receive (default 10).")
        var duration = 10.0
        @Option(name: [.customShort("L"), .customLong("limit")], help: "Stop after this many messages in all.")
        var limit: Int?

        func validate() throws { _ = try makePlan() }
        func run() async throws { try await execute(makePlan(), json: connection.json) }

        private func makePlan() throws -> BenchPlan {
            var plan = try connection.plan(.sub)
            guard count >= 1 else { throw ValidationError("-c must be at least 1") }
            guard MQTTTopic.isValidFilter(topic) else { throw ValidationError("-t \(topic) is not a valid topic filter") }
            plan.subscribers = count
            plan.filter = topic
            plan.qos = try benchQoS(qos)
            plan.duration = try benchDuration(duration)
            plan.limit = limit
            return plan
        }
    }

    /// `conn`: N idle connections, held.
    struct Conn: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "conn", abstract: "Open N idle connections and hold them (with --broker-pid: broker memory per connection).")
        @OptionGroup var connection: BenchConnectionOptions
        @Option(name: [.customShort("c"), .customLong("count")], help: "Connections.")
        var count = 100
        @Option(name: [.customShort("d"), .customLong("duration")], help: "Seconds to hold them once open (default 10).")
        var duration = 10.0

        func validate() throws { _ = try makePlan() }
        func run() async throws { try await execute(makePlan(), json: connection.json) }

        private func makePlan() throws -> BenchPlan {
            var plan = try connection.plan(.conn)
            guard count >= 1 else { throw ValidationError("-c must be at least 1") }
            plan.idle = count
            plan.duration = try benchDuration(duration)
            return plan
        }
    }

    /// `scenario`: publishers and subscribers together, end to end.
    struct Scenario: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "scenario",
            abstract: "Publishers and subscribers together: delivered msg/s, loss, duplicates, latency p50/p99/max.")
        @OptionGroup var connection: BenchConnectionOptions
        @Option(name: [.customShort("P"), .customLong("pubs")], help: "Publishers.")
        var publishers = 1
        @Option(name: [.customShort("S"), .customLong("subs")], help: "Subscribers.")
        var subscribers = 1
        @Option(name: [.customShort("f"), .customLong("filter")], help: "Subscribers' topic filter (%i is the subscriber's index).")
        var filter = "bench/#"
        @Option(help: "Also receive over HTTP: a server on this port of --host counts each request body as a delivery (for MQTT → HTTP processes).")
        var httpSink: Int?
        @Option(help: "Deliveries expected per published message (default: from the topic and filters, +1 with --http-sink); for a process between publisher and receivers.")
        var fanOut: Int?
        @OptionGroup var publish: BenchPublishOptions

        func validate() throws { _ = try makePlan() }
        func run() async throws { try await execute(makePlan(), json: connection.json) }

        private func makePlan() throws -> BenchPlan {
            var plan = try connection.plan(.scenario)
            guard publishers >= 1, subscribers >= (httpSink == nil ? 1 : 0) else {
                throw ValidationError("--pubs must be at least 1, and --subs too unless --http-sink receives")
            }
            if let httpSink, !(1...65_535).contains(httpSink) { throw ValidationError("--http-sink must be a port, 1–65535") }
            if let fanOut, fanOut < 0 { throw ValidationError("--fan-out must be 0 or more") }
            guard MQTTTopicFilter(filter.replacingOccurrences(of: "%i", with: "0")) != nil else {
                throw ValidationError("-f \(filter) is not a valid topic filter")
            }
            plan.publishers = publishers
            plan.subscribers = subscribers
            plan.filter = filter
            plan.httpSinkPort = httpSink
            plan.fanOut = fanOut
            try publish.apply(to: &plan)
            guard plan.payloadSize >= BenchStamp.size else {
                throw ValidationError("--size must be at least \(BenchStamp.size): the payload carries publisher, sequence and send time")
            }
            return plan
        }
    }
}

/// Where to connect and how: shared by every mode.
struct BenchConnectionOptions: ParsableArguments {
    @Option(name: [.customShort("h"), .customLong("host")], help: "Broker host.")
    var host = "127.0.0.1"
    @Option(name: [.customShort("p"), .customLong("port")], help: "Broker port.")
    var port = 1883
    @Option(name: [.customShort("V"), .customLong("protocol-version")], help: "MQTT version: 311 or 5 (also mqttv311, mqttv5).")
    var protocolVersion = "311"
    @Option(name: [.customShort("k"), .customLong("keepalive")], help: "Keepalive seconds; 0 turns it off.")
    var keepalive: UInt16 = 60
    @Option(help: "Client ids are PREFIX-pub-N, PREFIX-sub-N, PREFIX-conn-N (default bench-PID).")
    var clientPrefix: String?
    @Option(help: "Event loop threads of the load generator (it shares the machine with the broker).")
    var threads = 1
    @Option(help: "Connections being set up at once.")
    var connectConcurrency = 100
    @Option(help: "Process id of a broker on this machine: report its CPU time and memory from /proc.")
    var brokerPid: Int32?
    @Flag(help: "Print the summary as JSON on standard output.")
    var json = false
    @Flag(help: "No progress lines on standard error.")
    var quiet = false
    @Flag(help: "Subscribers open persistent sessions (clean session off; 5.0: session expiry 1 h), which a broker with durable state stores.")
    var persistent = false

    func plan(_ mode: BenchPlan.Mode) throws -> BenchPlan {
        var plan = BenchPlan(mode: mode)
        plan.host = host
        guard (1...65_535).contains(port) else { throw ValidationError("--port must be 1–65535") }
        plan.port = port
        switch protocolVersion.lowercased() {
        case "311", "mqttv311", "4", "3.1.1": plan.version = .v311
        case "5", "mqttv5", "5.0": plan.version = .v5
        default: throw ValidationError("-V must be 311 or 5, not \(protocolVersion)")
        }
        plan.keepAlive = keepalive
        plan.clientPrefix = clientPrefix ?? "bench-\(ProcessInfo.processInfo.processIdentifier)"
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be 1–64") }
        plan.threads = threads
        plan.connectConcurrency = max(1, connectConcurrency)
        plan.brokerPID = brokerPid
        plan.progress = !quiet
        plan.persistent = persistent
        return plan
    }
}

/// What publishers send: shared by `pub` and `scenario`.
struct BenchPublishOptions: ParsableArguments {
    @Option(name: [.customShort("t"), .customLong("topic")], help: "Topic; %i is replaced by the publisher's index.")
    var topic = "bench/%i"
    @Option(name: [.customShort("q"), .customLong("qos")], help: "QoS 0, 1 or 2 (also the subscriptions' QoS in a scenario).")
    var qos = 0
    @Option(name: [.customShort("s"), .customLong("size")], help: "Payload bytes; 24 or more carry the stamp for latency and loss.")
    var size = 64
    @Option(name: [.customShort("r"), .customLong("rate")], help: "Messages per second per publisher; 0 is unlimited.")
    var rate = 0.0
    @Option(name: [.customShort("d"), .customLong("duration")], help: "Seconds of publishing (default 10, or 300 at most with --limit).")
    var duration: Double?
    @Option(name: [.customShort("L"), .customLong("limit")], help: "Messages per publisher.")
    var limit: Int?
    @Option(help: "QoS 1/2 messages in flight per publisher.")
    var inflight = 32
    @Option(help: "Most messages per write and flush.")
    var batch = 64
    @Option(help: "Longest wait after publishing for what is still due, in seconds.")
    var drain = 10.0

    func apply(to plan: inout BenchPlan) throws {
        guard MQTTTopic.isValidName(topic.replacingOccurrences(of: "%i", with: "0")) else {
            throw ValidationError("-t \(topic) is not a valid topic name")
        }
        plan.topic = topic
        plan.qos = try benchQoS(qos)
        guard (0...(256 << 20)).contains(size) else { throw ValidationError("--size must be 0 to 256 MB") }
        plan.payloadSize = size
        guard rate >= 0 else { throw ValidationError("--rate must be 0 (unlimited) or more") }
        plan.rate = rate
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        plan.limit = limit
        plan.duration = try benchDuration(duration ?? (limit == nil ? 10 : 300))
        guard (1...65_535).contains(inflight) else { throw ValidationError("--inflight must be 1–65535") }
        plan.inflight = inflight
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        plan.batch = batch
        plan.drainSeconds = max(0, drain)
        if plan.publishers < 1 { throw ValidationError("at least one publisher is needed") }
    }
}

func benchQoS(_ value: Int) throws -> MQTTQoS {
    guard let qos = MQTTQoS(rawValue: UInt8(clamping: value)), value >= 0 else { throw ValidationError("QoS must be 0, 1 or 2") }
    return qos
}

func benchDuration(_ seconds: Double) throws -> Double {
    guard seconds > 0, seconds <= 86_400 else { throw ValidationError("the duration must be more than 0 and at most a day") }
    return seconds
}

/// Runs `plan` and prints its summary (text or JSON) on standard output.
private func execute(_ plan: BenchPlan, json: Bool) async throws {
    let summary: BenchSummary
    do {
        summary = try await BenchRunner(plan: plan).run()
    } catch let error as BenchError {
        printError("junction bench: \(error)")
        throw ExitCode(1)
    }
    print(json ? summary.json() : summary.text())
}
