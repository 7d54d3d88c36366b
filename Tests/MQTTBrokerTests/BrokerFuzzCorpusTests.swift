import Foundation
import MQTTBrokerFuzzing
import Testing

/// The stateful broker fuzzer's invariants (Sources/MQTTBrokerFuzzing) on its committed seed
/// corpus, and on hand-written sequences whose outcome is known, so that the checks are seen
/// to fire (`make fuzz-broker` runs the same harness under libFuzzer).
@Suite("broker fuzz corpus", .timeLimit(.minutes(1)))
struct BrokerFuzzCorpusTests {
    static let seedDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/broker-seeds")

    static func seeds() throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: seedDirectory, includingPropertiesForKeys: nil)
            .filter { !$0.lastPathComponent.hasPrefix(".") }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    @Test("every seed keeps the invariants")
    func corpus() throws {
        let seeds = try Self.seeds()
        #expect(seeds.count >= 20)
        var total = BrokerFuzzReport()
        for seed in seeds {
            let bytes = try [UInt8](Data(contentsOf: seed))
            do {
                let report = try BrokerFuzzer().run(bytes)
                total.publishesAcknowledged += report.publishesAcknowledged
                total.deliveriesOwed += report.deliveriesOwed
                total.deliveriesSeen += report.deliveriesSeen
                total.connectionsAccepted += report.connectionsAccepted
            } catch {
                Issue.record("\(seed.lastPathComponent): \(error)")
            }
        }
        // The corpus exercises the delivery model, not only the parser.
        #expect(total.connectionsAccepted > 50)
        #expect(total.publishesAcknowledged > 20)
        #expect(total.deliveriesSeen > 10)
    }

    /// Subscriber on slot 0 (`a/b`, QoS 1), publisher on slot 1 (QoS 1 to `a/b`).
    static func pair(v5: Bool = true) -> BrokerFuzzScript {
        var script = BrokerFuzzScript()
        script.connect(slot: 0, id: 0, v5: v5)
        script.subscribe(slot: 0, [(filter: 3, options: 1)])  // "a/b", QoS 1
        script.connect(slot: 1, id: 1, v5: v5)
        script.publish(slot: 1, topic: 1, qos: 1)  // "a/b"
        return script
    }

    @Test("a PUBACKed QoS 1 message is owed to the matching subscriber and seen delivered", arguments: [true, false])
    func delivered(v5: Bool) throws {
        var script = Self.pair(v5: v5)
        script.acknowledgeAll(slot: 0)
        let report = try BrokerFuzzer().run(script.bytes)
        #expect(report.connectionsAccepted == 2)
        #expect(report.publishesAcknowledged == 1)
        #expect(report.deliveriesOwed == 1)
        #expect(report.deliveriesSeen == 1)
    }

    @Test("a PUBACKed message that never reaches the subscriber is a violation")
    func lostDelivery() throws {
        #expect(throws: BrokerFuzzViolation.self) {
            try BrokerFuzzer(options: .init(loseDeliveriesToSlot: 0)).run(Self.pair().bytes)
        }
    }

    /// A persistent subscriber (expiry 300 s) drops; a QoS 1 message comes; it resumes.
    static func offline(limits: BrokerFuzzScript.Limits = [], burst: UInt8 = 0) -> BrokerFuzzScript {
        var script = BrokerFuzzScript(limits: limits)
        script.connect(slot: 0, id: 0, cleanStart: false, expiry: 5)
        script.subscribe(slot: 0, [(filter: 3, options: 1)])
        script.drop(slot: 0)
        script.connect(slot: 1, id: 1)
        script.publish(slot: 1, topic: 1, qos: 1)
        if burst > 0 { script.publishBurst(slot: 1, count: burst, qos: 1, topic: 1) }
        script.advance(2)
        script.connect(slot: 0, id: 0, cleanStart: false, expiry: 5)
        return script
    }

    @Test("a message queued for an offline persistent session is delivered when it resumes")
    func resumed() throws {
        let report = try BrokerFuzzer().run(Self.offline().bytes)
        #expect(report.deliveriesOwed == 1)
        #expect(report.deliveriesSeen == 1)
        #expect(throws: BrokerFuzzViolation.self) {
            try BrokerFuzzer(options: .init(loseDeliveriesToSlot: 0)).run(Self.offline().bytes)
        }
    }

    @Test("messages the queue limit dropped are excused, the rest delivered")
    func queueLimit() throws {
        let report = try BrokerFuzzer().run(Self.offline(limits: [.smallQueue], burst: 9).bytes)
        #expect(report.deliveriesOwed == 10)
        #expect(report.deliveriesExcused == 7)
        #expect(report.deliveriesSeen == 3)
    }

    @Test("an unacknowledged delivery is owed again on the resumed session")
    func redelivered() throws {
        var script = Self.pair()
        script.connect(slot: 2, id: 2, cleanStart: false, expiry: 5)
        script.subscribe(slot: 2, [(filter: 5, options: 2)])  // "a/#", QoS 2
        script.publish(slot: 1, topic: 2, qos: 2)  // "a/b/c": slot 2 only
        script.drop(slot: 2)
        script.connect(slot: 2, id: 2, cleanStart: false, expiry: 5)
        script.acknowledgeAll(slot: 2)
        script.acknowledgeAll(slot: 2)
        let report = try BrokerFuzzer().run(script.bytes)
        #expect(report.deliveriesOwed == 2)
        #expect(report.deliveriesSeen == 3)  // slot 0 once, slot 2 before and after the drop
    }
}

/// A short fuzz run inside `make test`: the committed seeds mutated the way libFuzzer mutates
/// (bytes flipped, inserted, erased, chunks repeated, seeds spliced), from a fixed random seed
/// so a failure reproduces. `make fuzz-broker` is the long, coverage-guided run.
@Suite("broker fuzz: short mutation run", .timeLimit(.minutes(3)))
struct BrokerFuzzMutationTests {
    /// SplitMix64: a fixed sequence from a fixed seed.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func mutate(_ input: [UInt8], splice other: [UInt8], using random: inout Generator) -> [UInt8] {
        var bytes = input.isEmpty ? [0] : input
        for _ in 0..<Int.random(in: 1...6, using: &random) {
            let at = Int.random(in: 0..<bytes.count, using: &random)
            switch Int.random(in: 0..<6, using: &random) {
            case 0: bytes[at] ^= UInt8(1 << Int.random(in: 0..<8, using: &random))
            case 1: bytes[at] = UInt8.random(in: 0...255, using: &random)
            case 2: bytes.insert(UInt8.random(in: 0...255, using: &random), at: at)
            case 3: if bytes.count > 1 { bytes.remove(at: at) }
            case 4:
                let length = Int.random(in: 1...min(16, bytes.count - at), using: &random)
                bytes.insert(contentsOf: bytes[at..<(at + length)], at: at)
            default:
                guard !other.isEmpty else { continue }
                let from = Int.random(in: 0..<other.count, using: &random)
                bytes = Array(bytes[..<at]) + Array(other[from...])
            }
            if bytes.isEmpty { bytes = [0] }
        }
        return Array(bytes.prefix(4096))
    }

    @Test("mutated seeds keep the invariants (fixed random seed, 4,000 inputs, about a minute)")
    func mutationRun() throws {
        let seeds = try BrokerFuzzCorpusTests.seeds().map { try [UInt8](Data(contentsOf: $0)) }
        var random = Generator(state: 20)
        var failures = 0
        var delivering = 0
        for index in 0..<4_000 {
            let base = seeds[Int.random(in: 0..<seeds.count, using: &random)]
            let other = seeds[Int.random(in: 0..<seeds.count, using: &random)]
            let input = Self.mutate(base, splice: other, using: &random)
            do {
                let report = try BrokerFuzzer().run(input)
                if report.deliveriesSeen > 0 { delivering += 1 }
            } catch {
                failures += 1
                if failures <= 3 {
                    Issue.record("input \(index) (\(input.map { String(format: "%02x", $0) }.joined())): \(error)")
                }
            }
        }
        #expect(failures == 0)
        // Mutations keep enough structure to reach delivery, not only the decoder.
        #expect(delivering > 400, "\(delivering) of 4,000 inputs delivered a message")
    }
}
