import Foundation
import Logging
import MQTTBroker
import MQTTCore
import NIOCore
import NIOEmbedded

/// The stateful broker fuzzer: runs one input against a fresh broker and checks its invariants.
///
/// The broker is the real one (``BrokerState`` on an `EmbeddedEventLoop`), its clients
/// `EmbeddedChannel`s with the listener's pipeline. The input's first byte picks limits
/// (``BrokerFuzzScript/Limits``); the rest is operations of up to four clients
/// (``BrokerFuzzScript`` writes them): connects of both protocol levels with sessions and
/// wills, takeovers, subscribes, publishes, acknowledgements, raw bytes, disconnects, socket
/// drops, writability changes and time passing. After each operation the loop is drained, what
/// the broker wrote is decoded and checked, and so is its state. The invariants:
///
/// - **No crash** (under libFuzzer, ASan also catches memory errors and stack overflows).
/// - **No acknowledged message lost**: a QoS 1/2 PUBLISH the broker PUBACKed/PUBRECed whose
///   topic matches a subscription (not shared, no No Local match) of a connected client, or of
///   an offline persistent session at QoS ≥ 1, is owed to it: after each step it was written to
///   that client or waits in its session queue, unless the queue dropped messages since
///   (maxMqueueLen), the message has an expiry, or the client limits its packet size. What is
///   written but not acknowledged is owed again on a resumed session; a PUBACK 0x10 (no
///   matching subscribers) while a connected client's subscription matches is wrong.
/// - **Sessions as the model says**: Session Present as the session's expiry predicts, the
///   broker's session of a connected client is its connection's, no detached session with
///   expiry 0 and none past its expiry, no queue stalled with room in the window.
/// - **Memory bounded**: queue, inflight, awaiting-PUBREL and subscription counts within the
///   settings; connections as open; sessions and retained messages within what the operations made.
/// - **Refusals carry reason codes on 5.0**: CONNACK, SUBACK, UNSUBACK, PUBACK/PUBREC and
///   DISCONNECT codes valid for their packet, a broker DISCONNECT ≥ 0x80, and a 5.0 connection
///   the broker closes after CONNACK ends with DISCONNECT (a client's own drop, DISCONNECT or
///   raw bytes excepted); 3.1.1 gets no DISCONNECT; a refusing CONNACK closes.
/// - **Output well formed**: decodes, CONNACK first and once, only server packets, nothing after
///   DISCONNECT, packet ids not reused while in flight, QoS and RETAIN no higher than published,
///   deliveries only on topics a subscription of the session matched, granted filters valid.
/// - **Wills**: never published after DISCONNECT 0x00, nor once a new connection for the client
///   id opened before the Will Delay Interval elapsed (MQTT-3.1.2-8).
public struct BrokerFuzzer: Sendable {
    /// Fault injection and tracing, for testing the fuzzer itself.
    public struct Options: Sendable, Hashable {
        /// Print each operation to standard error (BROKER_FUZZ_TRACE=1 in the fuzz target).
        public var trace = false
        /// Ignores the PUBLISHes the broker writes to this client slot, as if the broker had lost
        /// them: a run that owes that client a message must then fail. For tests of the checks.
        public var loseDeliveriesToSlot: Int?

        /// Checks to skip, for findings already reported, so that a long run can look for others.
        public var knownIssues: Set<KnownIssue> = []

        public init(trace: Bool = false, loseDeliveriesToSlot: Int? = nil, knownIssues: Set<KnownIssue> = []) {
            self.trace = trace
            self.loseDeliveriesToSlot = loseDeliveriesToSlot
            self.knownIssues = knownIssues
        }
    }

    /// Findings a run can be told to pass over (BROKER_FUZZ_KNOWN in the fuzz target, comma-separated raw values).
    public enum KnownIssue: String, Sendable, Hashable, CaseIterable {
        /// Packets above the client's Maximum Packet Size (reason strings are not left out).
        case oversizedPackets = "oversized-packets"
        /// Inbound QoS 2 ids awaiting PUBREL above maxAwaitingRel (a refused 3.1.1 PUBLISH skips the limit).
        case awaitingReleaseLimit = "awaiting-release-limit"
        /// SUBACK/UNSUBACK never sent (a Reason String quoting a long filter does not encode):
        /// the model then assumes the worst of what the packet did.
        case lostAcknowledgements = "lost-acknowledgements"
    }

    public var options: Options

    public init(options: Options = Options()) { self.options = options }

    /// Runs `data` as one fuzz input; throws ``BrokerFuzzViolation`` when an invariant breaks.
    @discardableResult
    public func run(_ data: [UInt8]) throws -> BrokerFuzzReport {
        let run = FuzzRun(data, options: options)
        defer { run.tearDown() }
        try run.execute()
        return run.report
    }
}

/// What one run did, for tests that check the fuzzer sees what it should.
public struct BrokerFuzzReport: Sendable, Hashable {
    /// Operations executed.
    public var operations = 0
    /// CONNACKs with success.
    public var connectionsAccepted = 0
    /// QoS 1/2 PUBLISHes the broker acknowledged with success (PUBACK/PUBREC below 0x80).
    public var publishesAcknowledged = 0
    /// Deliveries owed: (acknowledged message, subscriber session whose subscription matched).
    public var deliveriesOwed = 0
    /// Owed deliveries seen written to the subscriber.
    public var deliveriesSeen = 0
    /// Owed deliveries excused: the subscriber's queue limit dropped messages meanwhile.
    public var deliveriesExcused = 0
    /// Packets the broker wrote, all clients.
    public var packetsFromBroker = 0
    /// Failure reason codes the broker sent (CONNACK, SUBACK, PUBACK/PUBREC, UNSUBACK, DISCONNECT).
    public var refusals = 0
    /// Connections the broker closed.
    public var closedByBroker = 0

    public init() {}
}

/// An invariant the broker broke, with the operations that led there.
public struct BrokerFuzzViolation: Error, CustomStringConvertible {
    public let message: String
    public let step: Int

    public var description: String { "broker invariant violated at operation \(step): \(message)" }
}

/// One input's run: the broker, its clients and the model.
final class FuzzRun {
    var input: FuzzInput
    let options: BrokerFuzzer.Options
    let loop = EmbeddedEventLoop()
    let state: BrokerState
    var clients: [FuzzClient?] = [nil, nil, nil, nil]
    /// Every client of the run, closed ones included (channels are finished at the end).
    var allClients: [FuzzClient] = []
    var sessions: [String: FuzzSessionModel] = [:]
    var wills: [UInt32: WillRecord] = [:]
    /// Every message the fuzzer made, by number: QoS and retain as published.
    var messages: [UInt32: (qos: MQTTQoS, retain: Bool)] = [:]
    var deliveredSeqs: Set<UInt32> = []
    var nextSeq: UInt32 = 1
    var report = BrokerFuzzReport()
    var step = 0
    /// The most levels a deep filter or topic of this run has.
    let maxDepth: Int
    /// A client sent raw bytes before any CONNECT: sessions may exist the model does not know.
    var unknownSessions = false
    var retainedBound = 0
    /// Each broker session's drop counter before the current operation: a message owed in this
    /// step is excused by any drop from here on (the drops of the step itself come before the
    /// acknowledgements are read).
    var droppedBefore: [String: Int] = [:]
    /// Broker sessions seen detached, since when (virtual time).
    var detachedSince: [String: (session: ObjectIdentifier, since: NIODeadline)] = [:]
    /// Raw bytes went to some connection: counts of sessions and retained messages are not bounded by the model.
    var anyRaw = false

    static let clientIDs = ["c0", "c1", "c2", ""]

    init(_ data: [UInt8], options: BrokerFuzzer.Options) {
        input = FuzzInput(data)
        self.options = options
        let limits = BrokerFuzzScript.Limits(rawValue: input.byte())
        let settings = limits.settings
        maxDepth = limits.contains(.deepTopics) ? 65_535 : FuzzVocabulary.refusedDepth
        state = BrokerState(loop: loop, settings: settings, logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    func execute() throws {
        while !input.isAtEnd {
            step += 1
            report.operations += 1
            droppedBefore = state.sessions.mapValues(\.dropped)
            try perform(input.byte())
            try settle()
        }
    }

    func fail(_ message: String) -> BrokerFuzzViolation {
        BrokerFuzzViolation(message: message, step: step)
    }

    func trace(_ text: @autoclosure () -> String) {
        if options.trace { FileHandle.standardError.write(Data("[\(step)] \(text())\n".utf8)) }
    }

    /// The virtual time of the loop: session expiry, will delay and keepalive run on it.
    var now: NIODeadline { loop.now }

    func tearDown() {
        for client in allClients where client.isOpen { client.channel.close(promise: nil) }
        loop.run()
        for client in allClients {
            do { _ = try client.channel.finish(acceptAlreadyClosed: true) } catch {}
        }
        do { try loop.syncShutdownGracefully() } catch {}
    }

    /// Runs what the operation left on the loop, then reads and checks every client's output and the state.
    func settle() throws {
        loop.run()
        for client in allClients where !client.closeHandled {
            client.drainOutput()
            try readPackets(of: client)
        }
        for client in allClients where !client.closeHandled && !client.isOpen {
            try handleClose(of: client)
        }
        try checkState()
    }
}
