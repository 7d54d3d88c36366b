import Foundation
import Junction
import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// Caches marked `"persist": true` (SQLite under the data directory).
@Suite("Engine: persisted caches", .timeLimit(.minutes(1)))
struct PersistedCacheTests {
    @Test("A persisted cache is loaded again by a new store: TTL honoured on load, size bound kept, other caches not persisted")
    func reload() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("cache-\(UUID())/p.sqlite")
        defer { try? FileManager.default.removeItem(at: file.deletingLastPathComponent()) }
        let definitions = [
            "kept": CacheDefinition(ttl: 3_600_000, maxEntries: 2, persist: true),
            "memory": CacheDefinition(ttl: nil, maxEntries: 10, persist: false),
        ]
        let t0 = Date(timeIntervalSince1970: 1_800_000_000)
        let first = CacheStore(definitions: definitions, file: file)
        await first.put("kept", key: "a", payload: ByteBuffer(string: "A"), now: t0)
        await first.put("kept", key: "b", payload: ByteBuffer(string: "B"), now: t0)
        await first.put("kept", key: "c", payload: ByteBuffer(string: "C"), now: t0.addingTimeInterval(1))  // evicts a
        await first.put("kept", key: "b", payload: ByteBuffer(string: "B2"), now: t0.addingTimeInterval(2))
        await first.put("memory", key: "x", payload: ByteBuffer(string: "X"), now: t0)

        let second = CacheStore(definitions: definitions, file: file)
        let later = t0.addingTimeInterval(60)
        #expect(await second.get("kept", key: "b", now: later).map { String(buffer: $0) } == "B2")
        #expect(await second.get("kept", key: "c", now: later).map { String(buffer: $0) } == "C")
        #expect(await second.get("kept", key: "a", now: later) == nil)
        #expect(await second.get("memory", key: "x", now: later) == nil)
        #expect(await second.count("kept") == 2)
        // The oldest loaded entry is still the first to go.
        await second.put("kept", key: "d", payload: ByteBuffer(string: "D"), now: later)
        #expect(await second.get("kept", key: "c", now: later) == nil)
        #expect(await second.get("kept", key: "b", now: later) != nil)

        let third = CacheStore(definitions: definitions, file: file)
        #expect(await third.count("kept") == 2)
        let expired = CacheStore(definitions: definitions, file: file)
        #expect(await expired.get("kept", key: "d", now: later.addingTimeInterval(3_601)) == nil)
        #expect(await expired.count("kept") == 0)
    }

    @Test("A process's persisted cache survives an engine restart")
    func engineRestart() async throws {
        let process = """
            {"listen": {"connector": "local", "topic": "c/+", "qos": 1}, "maxInFlight": 1,
             "caches": {"latest": {"ttl": "1h", "persist": true}},
             "steps": [{"lookup": {"cache": "latest", "key": "{{topic[1]}}", "into": "properties.previous"}},
                       {"send": {"connector": "local", "topic": "answer/{{topic[1]}}", "qos": 1, "userProperties": {"previous": "{{properties.previous}}"}}},
                       {"cache": {"cache": "latest", "key": "{{topic[1]}}"}}]}
            """
        let harness = try ForwardingHarness(connectors: ["local": #"{"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}}"#],
                                            processes: ["remember": process])
        defer { harness.remove() }
        let ready: @Sendable (Engine) async throws -> Bool = { engine in
            try await engine.broker?.session(clientID: "junction.process.remember")?.connected == true
        }
        for (run, (payload, previous)) in [("one", ""), ("two", "one")].enumerated() {
            try await harness.run(until: ready) { _, broker in
                let answers = try await broker.subscribe(clientID: "answers", subscriptions: [MQTTSubscription(topicFilter: "answer/#", qos: .atLeastOnce)],
                                                         cleanStart: true)
                try await broker.publish(topic: "c/k", payload: ByteBuffer(string: payload), qos: .atLeastOnce)
                let answer = await withTimeout(.seconds(15)) { await answers.first { _ in true } }
                let delivery = try #require(answer, "no answer in run \(run + 1)")
                #expect(delivery.properties.userProperties.first { $0.name == "previous" }?.value == previous, "run \(run + 1)")
                await delivery.ack()
                try await waitUntil("document completed") { try harness.count(.completed) == run + 1 }
                await answers.close()
            }
        }
        #expect(FileManager.default.fileExists(atPath: harness.root.appendingPathComponent(".junction/caches/remember.sqlite").path))
    }
}
