#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import NIOCore

// What `junction bench` measures and prints: the payload stamp, latency histogram, duplicate
// detection, counters merged across event loops, the broker's CPU and memory, and the summary.

/// The stamp at the front of every bench payload: who sent it, its sequence number and when.
///
/// Layout (big endian): magic `JBNC` (4 bytes), publisher index (4), sequence (8), send time in
/// nanoseconds of the system's monotonic clock (8). The monotonic clock is system-wide, so a
/// `bench sub` in one process can measure the latency of a `bench pub` in another.
enum BenchStamp {
    static let magic: UInt32 = 0x4A42_4E43
    /// Payloads shorter than this carry no stamp (no latency, loss or duplicate tracking).
    static let size = 24

    /// Writes the stamp into `buffer` at `offset` (the payload's first byte).
    static func write(into buffer: inout ByteBuffer, at offset: Int, publisher: UInt32, sequence: UInt64, nanos: UInt64) {
        buffer.setInteger(magic, at: offset)
        buffer.setInteger(publisher, at: offset + 4)
        buffer.setInteger(sequence, at: offset + 8)
        buffer.setInteger(nanos, at: offset + 16)
    }

    /// Reads the stamp of a received payload; nil when it has none.
    static func read(_ payload: ByteBuffer) -> (publisher: UInt32, sequence: UInt64, nanos: UInt64)? {
        let at = payload.readerIndex
        guard payload.readableBytes >= size, payload.getInteger(at: at, as: UInt32.self) == magic,
              let publisher = payload.getInteger(at: at + 4, as: UInt32.self),
              let sequence = payload.getInteger(at: at + 8, as: UInt64.self),
              let nanos = payload.getInteger(at: at + 16, as: UInt64.self)
        else { return nil }
        return (publisher, sequence, nanos)
    }
}

/// Nanoseconds of the monotonic clock (CLOCK_MONOTONIC on Linux), as stamped in payloads.
@inline(__always)
func benchNanos() -> UInt64 { NIODeadline.now().uptimeNanoseconds }

/// A fixed-bucket latency histogram in nanoseconds: exact below 64 ns, then 64 linear buckets per
/// power of two (under 1.6 % error), up to 2^64 ns in 3,776 buckets. Merging is adding counts.
struct LatencyHistogram: Sendable {
    static let bucketCount = 59 * 64
    private(set) var counts = [UInt64](repeating: 0, count: bucketCount)
    private(set) var total: UInt64 = 0
    private(set) var sum: Double = 0
    private(set) var maximum: UInt64 = 0

    @inline(__always)
    static func index(_ value: UInt64) -> Int {
        guard value >= 64 else { return Int(value) }
        let exponent = 63 - value.leadingZeroBitCount
        return (exponent - 5) * 64 + Int((value >> UInt64(exponent - 6)) & 63)
    }

    /// The middle of a bucket, as the value reported for it.
    static func value(ofBucket index: Int) -> UInt64 {
        guard index >= 64 else { return UInt64(index) }
        let exponent = index / 64 + 5
        let lower = UInt64(64 + index % 64) << UInt64(exponent - 6)
        return lower + (UInt64(1) << UInt64(exponent - 6)) / 2
    }

    @inline(__always)
    mutating func record(_ nanos: UInt64) {
        counts[Self.index(nanos)] &+= 1
        total &+= 1
        sum += Double(nanos)
        if nanos > maximum { maximum = nanos }
    }

    mutating func merge(_ other: LatencyHistogram) {
        for index in 0..<Self.bucketCount where other.counts[index] != 0 { counts[index] &+= other.counts[index] }
        total &+= other.total
        sum += other.sum
        maximum = max(maximum, other.maximum)
    }

    /// What was recorded since `earlier` (a snapshot of the same histogram); its maximum is the bucket's.
    func since(_ earlier: LatencyHistogram) -> LatencyHistogram {
        var delta = LatencyHistogram()
        for index in 0..<Self.bucketCount where counts[index] != earlier.counts[index] {
            delta.counts[index] = counts[index] &- earlier.counts[index]
            delta.maximum = max(delta.maximum, Self.value(ofBucket: index))
        }
        delta.total = total &- earlier.total
        delta.sum = sum - earlier.sum
        return delta
    }

    /// The value at `fraction` (0...1) of the recorded values; the exact maximum for 1.
    func percentile(_ fraction: Double) -> UInt64 {
        guard total > 0 else { return 0 }
        if fraction >= 1 { return maximum }
        let rank = max(1, UInt64((Double(total) * fraction).rounded(.up)))
        var seen: UInt64 = 0
        for index in 0..<Self.bucketCount {
            seen &+= counts[index]
            if seen >= rank { return min(Self.value(ofBucket: index), maximum) }
        }
        return maximum
    }

    var summary: LatencySummary? {
        guard total > 0 else { return nil }
        func micros(_ nanos: UInt64) -> Double { (Double(nanos) / 100).rounded() / 10 }
        return LatencySummary(count: Int(total), p50Us: micros(percentile(0.5)), p90Us: micros(percentile(0.9)),
                              p99Us: micros(percentile(0.99)), maxUs: micros(maximum),
                              meanUs: (sum / Double(total) / 100).rounded() / 10)
    }
}

/// What one receiver (a subscriber, or the HTTP sink) has seen: a ``SeenSet`` per publisher.
struct DeliveryTally {
    private var sets: [SeenSet] = []

    /// False when `sequence` of `publisher` was seen before (a duplicate).
    mutating func insert(publisher: Int, sequence: UInt64, reordered: inout Bool) -> Bool {
        if publisher >= sets.count { sets.append(contentsOf: repeatElement(SeenSet(), count: publisher + 1 - sets.count)) }
        return sets[publisher].insert(sequence, reordered: &reordered)
    }
}

/// Sequence numbers seen from one publisher by one subscriber: a growable bit set.
struct SeenSet {
    private var words: [UInt64] = []
    /// Highest sequence seen, for counting messages that arrive out of order.
    private(set) var highest: UInt64?

    /// Sequences beyond this are not tracked (a bug or a foreign payload, not worth gigabytes).
    static let limit: UInt64 = 1 << 32

    /// Inserts `sequence`: false when it was already there (a duplicate). `reordered` is set when
    /// it is lower than one seen before.
    @inline(__always)
    mutating func insert(_ sequence: UInt64, reordered: inout Bool) -> Bool {
        guard sequence < Self.limit else { return true }
        let word = Int(sequence >> 6)
        let bit = UInt64(1) << (sequence & 63)
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: max(word + 1 - words.count, words.count))) }
        if words[word] & bit != 0 { return false }
        words[word] |= bit
        if let highest, sequence < highest { reordered = true } else { highest = sequence }
        return true
    }
}

/// Counters of one event loop's clients; the runner adds them over all loops.
struct BenchCounters: Sendable {
    var connected = 0
    var connectFailures = 0
    var sent = 0
    /// PUBACKs (QoS 1) and PUBCOMPs (QoS 2) received by publishers.
    var acknowledged = 0
    var inflight = 0
    /// Deliveries the subscribers should receive, from what was sent and the topic matches.
    var expected = 0
    /// Distinct messages received (stamped ones counted once per publisher and sequence).
    var received = 0
    var duplicates = 0
    var outOfOrder = 0
    var publishersDone = 0
    /// Connections the broker closed, or that failed, while the run still needed them.
    var unexpectedDisconnects = 0
    var firstSendNanos: UInt64 = .max
    var lastSendNanos: UInt64 = 0
    var firstReceiveNanos: UInt64 = .max
    var lastReceiveNanos: UInt64 = 0

    mutating func merge(_ other: BenchCounters) {
        connected += other.connected
        connectFailures += other.connectFailures
        sent += other.sent
        acknowledged += other.acknowledged
        inflight += other.inflight
        expected += other.expected
        received += other.received
        duplicates += other.duplicates
        outOfOrder += other.outOfOrder
        publishersDone += other.publishersDone
        unexpectedDisconnects += other.unexpectedDisconnects
        firstSendNanos = min(firstSendNanos, other.firstSendNanos)
        lastSendNanos = max(lastSendNanos, other.lastSendNanos)
        firstReceiveNanos = min(firstReceiveNanos, other.firstReceiveNanos)
        lastReceiveNanos = max(lastReceiveNanos, other.lastReceiveNanos)
    }
}

/// Counters and latencies of every loop at one moment.
struct BenchSnapshot: Sendable {
    var counters = BenchCounters()
    var latency = LatencyHistogram()
    /// First few reasons the broker gave for closing connections.
    var disconnectReasons: [String] = []

    mutating func merge(_ other: BenchSnapshot) {
        counters.merge(other.counters)
        latency.merge(other.latency)
        disconnectReasons += other.disconnectReasons.prefix(max(0, 5 - disconnectReasons.count))
    }
}

/// CPU time and resident memory of a process, from Linux's /proc.
struct ProcessUsage: Sendable {
    var cpuSeconds: Double
    var rssKB: Int

    static func sample(pid: Int32) -> ProcessUsage? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after "comm)": state is field 3, utime 14 and stime 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let utime = Double(fields[11]), let stime = Double(fields[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let rss = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { line in Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") } ?? 0
        return ProcessUsage(cpuSeconds: (utime + stime) / ticks, rssKB: rss)
    }
}

extension ProcessUsage {
    /// CPU seconds (user and system) of this process so far.
    static func ownCPUSeconds() -> Double {
        var usage = rusage()
        #if canImport(Glibc)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}

/// Latency percentiles in microseconds.
struct LatencySummary: Codable, Sendable {
    var count: Int
    var p50Us: Double
    var p90Us: Double
    var p99Us: Double
    var maxUs: Double
    var meanUs: Double
}

/// The broker process's usage over the measured part of the run (`--broker-pid`).
struct BrokerUsage: Codable, Sendable {
    var pid: Int32
    var cpuSeconds: Double?
    /// Per million messages delivered to subscribers (sent, when the run has no subscribers).
    var cpuSecondsPerMillionMessages: Double?
    var rssBeforeKB: Int
    var rssAfterKB: Int
    var rssPerConnectionBytes: Double?
}

/// The result of one run, printed as text or as JSON (`--json`).
struct BenchSummary: Codable, Sendable {
    var mode: String
    var broker: String
    var protocolVersion: String
    var qos: Int?
    var publishers: Int
    var subscribers: Int
    /// The HTTP sink's address when the run had one (it receives as one more subscriber).
    var httpSink: String?
    var connections: Int
    var connectFailures: Int
    var connectSeconds: Double
    var payloadBytes: Int?
    /// Messages per second per publisher; nil is unlimited.
    var ratePerPublisher: Double?
    var publishSeconds: Double?
    var elapsedSeconds: Double
    var sent: Int
    var acknowledged: Int
    var received: Int
    var expected: Int?
    var lost: Int?
    var duplicates: Int
    var outOfOrder: Int
    var unexpectedDisconnects: Int
    var disconnectReasons: [String]
    /// Sent messages per second of publishing.
    var publishRate: Double?
    /// Received messages per second, from the first send to the last receipt.
    var deliveredRate: Double?
    var latency: LatencySummary?
    var brokerUsage: BrokerUsage?
    /// CPU seconds of this load generator over the whole run: when it nears the elapsed time per
    /// thread, the generator (not the broker) may be the limit.
    var loadGeneratorCPUSeconds: Double

    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(self)).flatMap { String(data: $0, encoding: .utf8) } ?? "{}"
    }

    /// The human-readable summary.
    func text() -> String {
        var lines: [String] = []
        let qosText = qos.map { ", QoS \($0)" } ?? ""
        let size = payloadBytes.map { ", \($0) B" } ?? ""
        let rate = ratePerPublisher.map { ", \(benchCount($0)) msg/s per publisher" } ?? (publishers > 0 ? ", unlimited rate" : "")
        lines.append("junction bench \(mode) → \(broker), MQTT \(protocolVersion)\(qosText)\(size)\(rate)")
        let kinds = mode == "conn" ? "idle" : "\(publishers) pub, \(subscribers) sub" + (httpSink.map { ", HTTP sink \($0)" } ?? "")
        lines.append("  connections  \(benchCount(connections)) (\(kinds)) in \(benchSeconds(connectSeconds))"
                     + (connectFailures > 0 ? ", \(connectFailures) FAILED" : ""))
        if publishers > 0 {
            lines.append("  sent         \(benchCount(sent)) in \(benchSeconds(publishSeconds ?? 0)) = \(benchCount(publishRate ?? 0)) msg/s"
                         + (qos ?? 0 > 0 ? ", acknowledged \(benchCount(acknowledged))" : ""))
        }
        if subscribers > 0 || httpSink != nil {
            lines.append("  received     \(benchCount(received)) = \(benchCount(deliveredRate ?? 0)) msg/s delivered"
                         + (expected.map { ", expected \(benchCount($0))" } ?? ""))
            lines.append("  lost \(lost.map(benchCount) ?? "-"), duplicates \(benchCount(duplicates)), out of order \(benchCount(outOfOrder))")
        }
        if let latency {
            lines.append("  latency      p50 \(benchMillis(latency.p50Us)), p90 \(benchMillis(latency.p90Us)), "
                         + "p99 \(benchMillis(latency.p99Us)), max \(benchMillis(latency.maxUs)) (\(benchCount(latency.count)) samples)")
        }
        if unexpectedDisconnects > 0 {
            lines.append("  UNEXPECTED DISCONNECTS \(unexpectedDisconnects)"
                         + (disconnectReasons.isEmpty ? "" : ": " + disconnectReasons.joined(separator: "; ")))
        }
        if let usage = brokerUsage {
            var line = "  broker pid \(usage.pid): RSS \(benchCount(usage.rssBeforeKB)) → \(benchCount(usage.rssAfterKB)) KB"
            if let perConnection = usage.rssPerConnectionBytes { line += " (\(benchCount(perConnection)) B per connection)" }
            if let cpu = usage.cpuSeconds {
                line += String(format: ", CPU %.2f s", cpu)
                if let perMillion = usage.cpuSecondsPerMillionMessages {
                    line += String(format: " (%.2f s per million ", perMillion) + (subscribers > 0 ? "delivered)" : "sent)")
                }
            }
            lines.append(line)
        }
        lines.append("  load generator CPU \(benchSeconds(loadGeneratorCPUSeconds)) in \(benchSeconds(elapsedSeconds))")
        return lines.joined(separator: "\n")
    }
}

/// 1234567 → "1,234,567".
func benchCount<T: BinaryInteger>(_ value: T) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, character) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
        out.append(character)
    }
    return (value < 0 ? "-" : "") + out
}

func benchCount(_ value: Double) -> String { benchCount(Int(value.rounded())) }

func benchSeconds(_ seconds: Double) -> String { String(format: "%.2f s", seconds) }

func benchMillis(_ micros: Double) -> String {
    micros < 1000 ? String(format: "%.3f ms", micros / 1000) : String(format: "%.1f ms", micros / 1000)
}
