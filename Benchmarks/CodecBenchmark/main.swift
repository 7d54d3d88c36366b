// Codec benchmark: decode and encode rates of MQTTCore, in packets per second.
//
// `make bench-codec` builds it in release mode and runs it. Decoding goes through the broker's
// path, MQTTPacket.decode(from:version:maximumPacketSize:), over one buffer of many packets back
// to back (framing included); the buffer is re-read by resetting its reader index. Encoding
// writes into one reused buffer, cleared before each packet. Every rate is the median of several
// timed slices after a warm-up. The PUBLISH rows must reach 3,000,000 packets/s: the program
// exits 1 when one of them does not.
//
// Environment: BENCH_SECONDS (default 1.5) is the measured time per row; BENCH_FILTER, when set,
// runs only the rows whose name contains it (for profiling, e.g. under valgrind --tool=callgrind).

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MQTTCore
import NIOCore

/// Sums something of every decoded or encoded packet, printed at the end, so that the work
/// cannot be optimised away.
nonisolated(unsafe) var blackhole = 0

let required = 3_000_000.0
let packetsPerBuffer = 10_000
let seconds: Double = {
    if let raw = getenv("BENCH_SECONDS"), let value = Double(String(cString: raw)), value > 0 { return value }
    return 1.5
}()
let filter = getenv("BENCH_FILTER").map { String(cString: $0) } ?? ""
let slices = 5
let clock = ContinuousClock()
let allocator = ByteBufferAllocator()

/// Runs `batch` (which handles `perBatch` packets) for a warm-up, then for `seconds` split into
/// slices; returns the median and the best rate of the slices in packets per second.
func measure(perBatch: Int, _ batch: () throws -> Void) rethrows -> (median: Double, best: Double) {
    let warmUp = Duration.seconds(min(0.3, seconds / 4))
    let slice = Duration.seconds(seconds / Double(slices))
    let warmUpStart = clock.now
    while clock.now - warmUpStart < warmUp { try batch() }
    var rates: [Double] = []
    for _ in 0..<slices {
        var packets = 0
        let start = clock.now
        var elapsed = Duration.zero
        repeat {
            try batch()
            packets += perBatch
            elapsed = clock.now - start
        } while elapsed < slice
        let (s, atto) = elapsed.components
        rates.append(Double(packets) / (Double(s) + Double(atto) / 1e18))
    }
    rates.sort()
    return (rates[rates.count / 2], rates[rates.count - 1])
}

func sink(_ packet: MQTTPacket) {
    switch packet {
    case .publish(let publish): blackhole &+= publish.payload.readableBytes &+ publish.topic.utf8.count
    case .subscribe(let subscribe): blackhole &+= subscribe.subscriptions.count &+ subscribe.properties.count
    default: blackhole &+= 1
    }
}

/// Decodes a buffer of `packetsPerBuffer` copies of `packet`, over and over.
func benchDecode(_ packet: MQTTPacket, version: MQTTProtocolVersion) throws -> (median: Double, best: Double) {
    var buffer = allocator.buffer(capacity: 0)
    for _ in 0..<packetsPerBuffer { try packet.encode(into: &buffer, version: version) }
    // Check once that the buffer decodes to what was encoded.
    var check = buffer
    guard try MQTTPacket.decode(from: &check, version: version) == packet else { fatalError("round trip failed") }
    return try measure(perBatch: packetsPerBuffer) {
        buffer.moveReaderIndex(to: 0)
        var decoded = 0
        while let packet = try MQTTPacket.decode(from: &buffer, version: version,
                                                 maximumPacketSize: mqttMaximumVariableByteInteger + 5) {
            sink(packet)
            decoded += 1
        }
        precondition(decoded == packetsPerBuffer)
    }
}

/// Encodes `packet` `packetsPerBuffer` times into one reused buffer, cleared before each packet.
func benchEncode(_ packet: MQTTPacket, version: MQTTProtocolVersion) throws -> (median: Double, best: Double) {
    var buffer = allocator.buffer(capacity: 4096)
    return try measure(perBatch: packetsPerBuffer) {
        for _ in 0..<packetsPerBuffer {
            buffer.clear()
            try packet.encode(into: &buffer, version: version)
            blackhole &+= buffer.readableBytes
        }
    }
}

// MARK: - The packets

let payload = allocator.buffer(bytes: (0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
let topic = "plant/line-3/cell-7/temperature"

let publishQoS0 = MQTTPacket.publish(MQTTPublishPacket(topic: topic, payload: payload))
let publishQoS1 = MQTTPacket.publish(MQTTPublishPacket(
    topic: topic, payload: payload, qos: .atLeastOnce, packetIdentifier: 4711,
    properties: [.messageExpiryInterval(3600), .contentType("application/json")]))
let subscribe = MQTTPacket.subscribe(MQTTSubscribePacket(
    packetIdentifier: 42,
    subscriptions: [
        MQTTSubscription(topicFilter: "plant/+/cell-7/temperature", qos: .atLeastOnce),
        MQTTSubscription(topicFilter: "alarms/#", qos: .exactlyOnce, noLocal: true, retainHandling: .doNotSend),
        MQTTSubscription(topicFilter: "$share/loggers/plant/line-3/#", qos: .atMostOnce, retainAsPublished: true,
                         retainHandling: .sendOnNewSubscribe),
    ],
    properties: [.subscriptionIdentifier(17), .userProperty("client-role", "logger")]))

struct Row {
    var name: String
    var bytes: Int
    var gated: Bool
    var run: () throws -> (median: Double, best: Double)
}

func size(_ packet: MQTTPacket, _ version: MQTTProtocolVersion) -> Int { (try? packet.encodedLength(version: version)) ?? 0 }

let rows: [Row] = [
    Row(name: "decode PUBLISH QoS 0, 3.1.1", bytes: size(publishQoS0, .v311), gated: true) { try benchDecode(publishQoS0, version: .v311) },
    Row(name: "decode PUBLISH QoS 0, 5.0", bytes: size(publishQoS0, .v5), gated: true) { try benchDecode(publishQoS0, version: .v5) },
    Row(name: "decode PUBLISH QoS 1 + 2 props, 5.0", bytes: size(publishQoS1, .v5), gated: true) { try benchDecode(publishQoS1, version: .v5) },
    Row(name: "encode PUBLISH QoS 0, 3.1.1", bytes: size(publishQoS0, .v311), gated: true) { try benchEncode(publishQoS0, version: .v311) },
    Row(name: "encode PUBLISH QoS 0, 5.0", bytes: size(publishQoS0, .v5), gated: true) { try benchEncode(publishQoS0, version: .v5) },
    Row(name: "encode PUBLISH QoS 1 + 2 props, 5.0", bytes: size(publishQoS1, .v5), gated: true) { try benchEncode(publishQoS1, version: .v5) },
    Row(name: "decode SUBSCRIBE 3 filters + props, 5.0", bytes: size(subscribe, .v5), gated: false) { try benchDecode(subscribe, version: .v5) },
    Row(name: "encode SUBSCRIBE 3 filters + props, 5.0", bytes: size(subscribe, .v5), gated: false) { try benchEncode(subscribe, version: .v5) },
]

func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return right ? fill + text : text + fill
}

func grouped(_ value: Double) -> String {
    var digits = String(Int(value.rounded()))
    var out = ""
    while digits.count > 3 {
        out = "," + digits.suffix(3) + out
        digits.removeLast(3)
    }
    return digits + out
}

print("MQTTCore codec benchmark: \(packetsPerBuffer) packets per buffer, \(seconds) s per row (median of \(slices) slices)")
print(pad("case", 42) + pad("bytes", 6, right: true) + pad("packets/s", 14, right: true) + pad("best slice", 14, right: true) + "  vs 3M")
print(String(repeating: "-", count: 84))
var failed: [String] = []
for row in rows where filter.isEmpty || row.name.contains(filter) {
    let (median, best) = try row.run()
    let mark: String
    if row.gated {
        mark = median >= required ? "PASS" : "FAIL"
        if median < required { failed.append(row.name) }
    } else {
        mark = "-"
    }
    print(pad(row.name, 42) + pad(String(row.bytes), 6, right: true) + pad(grouped(median), 14, right: true)
          + pad(grouped(best), 14, right: true) + "  " + mark)
}
print(String(repeating: "-", count: 84))
print("blackhole: \(blackhole)")
if failed.isEmpty {
    print("PASS: every PUBLISH row reaches 3,000,000 packets/s")
} else {
    print("FAIL: below 3,000,000 packets/s: \(failed.joined(separator: "; "))")
    exit(1)
}
