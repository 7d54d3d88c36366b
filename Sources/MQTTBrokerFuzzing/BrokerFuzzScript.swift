import MQTTBroker
import NIOCore

/// Writes fuzz inputs operation by operation: the format ``BrokerFuzzer`` reads, for hand-written
/// sequences in tests (Tests/Fuzz/make_broker_seeds.py writes the same format in Python).
///
/// Byte 0 is ``Limits``; then each operation is an opcode byte and its operands. Operands past
/// the end of the input read as zeros. Slots are 0–3 (a client connection each); client ids
/// are `c0`, `c1`, `c2` and the empty id (`id` 0–3).
public struct BrokerFuzzScript: Sendable {
    /// Broker limits picked by the first byte, one bit each (clear: the default).
    public struct Limits: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        /// maxMqueueLen 3 (default 1000).
        public static let smallQueue = Limits(rawValue: 1 << 0)
        /// maxInflight 2 (default 32).
        public static let smallWindow = Limits(rawValue: 1 << 1)
        /// mqueueStoreQos0 false.
        public static let noQueuedQoS0 = Limits(rawValue: 1 << 2)
        /// maxSubscriptions 3 (default unlimited).
        public static let fewSubscriptions = Limits(rawValue: 1 << 3)
        /// topicAliasMaximum 0 (default 10).
        public static let noTopicAliases = Limits(rawValue: 1 << 4)
        /// maxAwaitingRel 2 (default 100).
        public static let fewAwaitingRelease = Limits(rawValue: 1 << 5)
        /// maxKeepalive 5 s (default 65,535).
        public static let shortKeepalive = Limits(rawValue: 1 << 6)
        /// maxTopicLevels 65,536 (default 128): deep filters and topics reach the subscription tree.
        public static let deepTopics = Limits(rawValue: 1 << 7)

        var settings: BrokerSettings {
            var s = BrokerSettings()
            s.sysInterval = nil
            if contains(.smallQueue) { s.maxMqueueLen = 3 }
            if contains(.smallWindow) { s.maxInflight = 2 }
            if contains(.noQueuedQoS0) { s.mqueueStoreQos0 = false }
            if contains(.fewSubscriptions) { s.maxSubscriptions = 3 }
            if contains(.noTopicAliases) { s.topicAliasMaximum = 0 }
            if contains(.fewAwaitingRelease) { s.maxAwaitingRel = 2 }
            if contains(.shortKeepalive) { s.maxKeepalive = 5 }
            if contains(.deepTopics) { s.maxTopicLevels = 65_536 }
            return s
        }
    }

    /// Operation codes (the opcode byte modulo 16).
    public enum Op: UInt8, Sendable {
        case connect = 0, subscribe, unsubscribe, publish, acknowledge, acknowledgeAll, ping, disconnect, drop,
             raw, advance, toggleWritable, publishSys, publishBurst
    }

    /// Session expiry choices of ``connect``, by index: 0, 0, 1 s, 5 s, 30 s, 300 s, never, 2 s.
    public static let expiries: [UInt32] = [0, 0, 1, 5, 30, 300, .max, 2]
    /// Will delay choices, by index: 0, 1 s, 3 s, 10 s, 60 s.
    public static let willDelays: [UInt32] = [0, 1, 3, 10, 60]
    /// Keepalive choices, by index: 0, 1 s, 2 s, 5 s, 60 s.
    public static let keepAlives: [UInt16] = [0, 1, 2, 5, 60]
    /// Time steps of ``advance``, in milliseconds.
    public static let advances: [Int64] = [100, 500, 1_000, 2_000, 3_000, 5_000, 10_000, 31_000, 61_000, 301_000]

    public private(set) var bytes: [UInt8]

    public init(limits: Limits = []) { bytes = [limits.rawValue] }

    private mutating func op(_ op: Op, _ operands: [UInt8]) {
        bytes.append(op.rawValue)
        bytes += operands
    }

    /// CONNECT on `slot` (a new connection unless one is open there) as client id `id`.
    /// `expiry`, `willDelay`, `keepAlive` index the tables above; `will` is a topic table index.
    public mutating func connect(slot: Int, id: Int, v5: Bool = true, cleanStart: Bool = true, expiry: Int = 0,
                                 will: UInt8? = nil, willQoS: UInt8 = 1, willRetain: Bool = false, willDelay: Int = 0,
                                 keepAlive: Int = 0, receiveMaximumOne: Bool = false, maximumPacketSize: Bool = false) {
        var flags: UInt8 = 0
        if v5 { flags |= 1 }
        if cleanStart { flags |= 2 }
        if will != nil { flags |= 4 | (willQoS & 3) << 3 | (willRetain ? 0x20 : 0) }
        if receiveMaximumOne { flags |= 0x40 }
        if maximumPacketSize { flags |= 0x80 }
        op(.connect, [UInt8(slot & 3) | UInt8(id & 3) << 2, flags, UInt8(expiry), UInt8(willDelay), UInt8(keepAlive), 0]
            + (will.map { [$0] } ?? []))
    }

    /// SUBSCRIBE on `slot`: each filter is a ``FuzzVocabulary`` table index (below 0x80) with its
    /// options byte (QoS in bits 0–1, No Local bit 2, Retain As Published bit 3, Retain Handling bits 4–5).
    public mutating func subscribe(slot: Int, _ filters: [(filter: UInt8, options: UInt8)], identifier: UInt8 = 0) {
        op(.subscribe, [UInt8(slot), UInt8(filters.count)] + filters.flatMap { [$0.filter, $0.options] } + [identifier])
    }

    /// A deep filter of `depth` levels (shape 0: `////…`, 1: `a/a/…/a`, 2: `+/+/…/#`, 3: `a/…/a/#`).
    public mutating func subscribeDeep(slot: Int, depth: UInt16, shape: UInt8, options: UInt8 = 1) {
        op(.subscribe, [UInt8(slot), 1, 0xFF, UInt8(depth >> 8), UInt8(depth & 0xFF), shape, options, 0])
    }

    public mutating func unsubscribe(slot: Int, _ filters: [UInt8]) {
        op(.unsubscribe, [UInt8(slot), UInt8(filters.count)] + filters)
    }

    /// PUBLISH on `slot` to topic table entry `topic`, with a fresh packet id.
    public mutating func publish(slot: Int, topic: UInt8, qos: UInt8, retain: Bool = false, split: UInt8 = 0) {
        op(.publish, [UInt8(slot), (qos & 3) | (retain ? 4 : 0), topic, 0, split])
    }

    /// PUBACK (kind 0), PUBREC (1), PUBREL (2) or PUBCOMP (3) for the `back`-th last QoS 1/2
    /// PUBLISH received (PUBREL for the last PUBREL received, kind 3), success.
    public mutating func acknowledge(slot: Int, kind: UInt8, back: UInt8 = 0) {
        op(.acknowledge, [UInt8(slot), kind, back & 0x7F, 0])
    }

    /// Acknowledges everything received on `slot` as a correct client would.
    public mutating func acknowledgeAll(slot: Int) { op(.acknowledgeAll, [UInt8(slot)]) }
    public mutating func ping(slot: Int) { op(.ping, [UInt8(slot)]) }

    /// DISCONNECT on `slot`: reason 0 (0x00), 1 (0x04, with will), 2 (0x80); `expiry` 0 leaves the
    /// session expiry as it is, else index + 1 into ``expiries``.
    public mutating func disconnect(slot: Int, reason: UInt8 = 0, expiry: UInt8 = 0) {
        op(.disconnect, [UInt8(slot), reason, expiry])
    }

    /// Closes `slot`'s socket without DISCONNECT.
    public mutating func drop(slot: Int) { op(.drop, [UInt8(slot)]) }
    /// Writes `raw` bytes on `slot` (a new connection unless one is open there).
    public mutating func raw(slot: Int, _ raw: [UInt8]) { op(.raw, [UInt8(slot), UInt8(min(raw.count, 255))] + raw.prefix(255)) }
    /// Lets time pass: ``advances`` entry `index`.
    public mutating func advance(_ index: Int) { op(.advance, [UInt8(index)]) }
    public mutating func toggleWritable(slot: Int) { op(.toggleWritable, [UInt8(slot)]) }
    public mutating func publishSys() { op(.publishSys, []) }
    /// `count` QoS `qos` PUBLISHes on `slot` to topic table entry `topic`.
    public mutating func publishBurst(slot: Int, count: UInt8, qos: UInt8, topic: UInt8) {
        op(.publishBurst, [UInt8(slot), count, qos, topic])
    }
}
