import Foundation
import Junction
import MQTTBroker
import MQTTCore
import NIOCore
import TestSupport
import Testing

/// Store-and-forward of sends to an external broker (a real Mosquitto, started late, stopped
/// and restarted on the same port).
@Suite("Engine: store-and-forward to an external broker", .timeLimit(.minutes(1)))
struct StoreAndForwardTests {
    static let local = #"{"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}}"#

    static func upstream(_ url: String, _ storeAndForward: String? = nil) -> String {
        #"{"type": "mqtt", "url": "\#(url)""# + (storeAndForward.map { #", "storeAndForward": \#($0)"# } ?? "") + "}"
    }

    static func forwarding(maxInFlight: Int, onError: String = "") -> String {
        #"{"listen": {"connector": "local", "topic": "in/+", "qos": 1}, "maxInFlight": \#(maxInFlight), "#
            + #""steps": [{"send": {"connector": "up", "topic": "out/{{topic[1]}}", "qos": 1}}]\#(onError)}"#
    }

    static func processReady(_ engine: Engine) async throws -> Bool {
        try await engine.broker?.session(clientID: "junction.process.fwd")?.connected == true
    }

    static func publish(_ broker: MQTTBroker, _ range: ClosedRange<Int>) async throws {
        for i in range { try await broker.publish(topic: "in/\(i)", payload: ByteBuffer(string: "m\(i)"), qos: .atLeastOnce) }
    }

    @Test("Remote down at first: sends complete once stored, survive an engine restart, and arrive in order when it comes up")
    func remoteDownThenUp() async throws {
        try await withPreparedMosquitto(persistence: .on(autosaveInterval: 0)) { up in
            try await up.start()
            try await withUpstreamSubscriber(up, filter: "out/#") { _, received in
                await up.terminate()  // the subscriber's session stays in Mosquitto's database
                let harness = try ForwardingHarness(connectors: ["local": Self.local, "up": Self.upstream(up.url)],
                                                    processes: ["fwd": Self.forwarding(maxInFlight: 1)])
                defer { harness.remove() }
                try await harness.run(until: Self.processReady) { _, broker in
                    try await Self.publish(broker, 1...5)
                    try await waitUntil("5 documents completed") { try harness.count(.completed) == 5 }
                    try await waitUntil("all acknowledged") { try await broker.session(clientID: "junction.process.fwd")?.inflight == 0 }
                }
                #expect(received.payloads.isEmpty)
                try await harness.run(until: Self.processReady) { _, broker in
                    try await Self.publish(broker, 6...10)
                    try await waitUntil("10 documents completed") { try harness.count(.completed) == 10 }
                    try await up.start()
                    try await received.wait(for: 10, timeout: .seconds(20))
                    #expect(received.payloads == (1...10).map { "m\($0)" })
                    #expect(received.all.map(\.topic) == (1...10).map { "out/\($0)" })
                }
                #expect(try harness.count(.failed) == 0)
            }
        }
    }

    /// Stores `count` sends while the external broker (a scripted one on a fixed port) is down,
    /// then starts it and accepts the connection; `body` gets it and the PUBLISHes the forwarder
    /// sent before any PUBACK (which it must send itself).
    static func forwardStored(_ count: Int, _ body: @escaping @Sendable (ScriptedServer, [MQTTPublishPacket]) async throws -> Void) async throws {
        let port = try LoopbackPort.pick()
        let harness = try ForwardingHarness(connectors: ["local": Self.local, "up": Self.upstream("mqtt://127.0.0.1:\(port)")],
                                            processes: ["fwd": Self.forwarding(maxInFlight: 1)])
        defer { harness.remove() }
        try await harness.run(until: Self.processReady) { _, broker in
            // The remote is down: each send completes once stored.
            try await Self.publish(broker, 1...count)
            try await waitUntil("\(count) documents completed") { try harness.count(.completed) == count }
            let remote = try await ScriptedServer.start(port: port)
            defer { Task { await remote.close() } }
            guard case .connect = try await remote.receive(timeout: .seconds(20)) else { throw TestFailure("expected CONNECT") }
            try await remote.send(.connack(MQTTConnAckPacket()))
            var publishes: [MQTTPublishPacket] = []
            for i in 1...count {
                guard case .publish(let publish) = try await remote.receive() else { throw TestFailure("expected PUBLISH \(i)") }
                publishes.append(publish)
            }
            try await body(remote, publishes)
        }
    }

    @Test("Stored messages go out several at a time, in order, before the external broker acknowledged the first")
    func forwardsWithManyInFlight() async throws {
        // A forwarder that waited for each PUBACK would send the first and nothing more.
        try await Self.forwardStored(6) { remote, publishes in
            #expect(publishes.map(\.topic) == (1...6).map { "out/\($0)" })
            #expect(publishes.map { String(buffer: $0.payload) } == (1...6).map { "m\($0)" })
            for publish in publishes { try await remote.send(.puback(MQTTPublishAckPacket(packetIdentifier: try #require(publish.packetIdentifier)))) }
        }
    }

    @Test("A message the external broker refuses for now (quota exceeded) is sent again alone; the others once")
    func refusedForNowIsSentAgain() async throws {
        try await Self.forwardStored(3) { remote, publishes in
            for (index, publish) in publishes.enumerated() {
                try await remote.send(.puback(MQTTPublishAckPacket(packetIdentifier: try #require(publish.packetIdentifier),
                                                                   reasonCode: index == 1 ? .quotaExceeded : .success)))
            }
            guard case .publish(let again) = try await remote.receive() else { throw TestFailure("expected m2 again") }
            #expect(String(buffer: again.payload) == "m2")
            try await remote.send(.puback(MQTTPublishAckPacket(packetIdentifier: try #require(again.packetIdentifier))))
            await #expect(throws: (any Error).self, "nothing else is sent") { try await remote.receive(timeout: .milliseconds(500)) }
        }
    }

    @Test("whenFull block: sends beyond the bound wait unacknowledged, and go through once the link returns")
    func whenFullBlock() async throws {
        try await withPreparedMosquitto(persistence: .on(autosaveInterval: 0)) { up in
            try await up.start()
            try await withUpstreamSubscriber(up, filter: "out/#") { _, received in
                await up.terminate()
                let harness = try ForwardingHarness(
                    connectors: ["local": Self.local, "up": Self.upstream(up.url, #"{"maxMessages": 2, "whenFull": "block"}"#)],
                    processes: ["fwd": Self.forwarding(maxInFlight: 4)])
                defer { harness.remove() }
                try await harness.run(until: Self.processReady) { _, broker in
                    try await Self.publish(broker, 1...4)
                    try await waitUntil("2 documents stored") { try harness.count(.completed) == 2 }
                    try await waitUntil("2 waiting for room") { try await broker.session(clientID: "junction.process.fwd")?.inflight == 2 }
                    #expect(try harness.count(.failed) == 0)
                    let stored = try Set(harness.trackingEvents().filter { $0.event == .completed }.map { "m" + ($0.topic ?? "").dropFirst(3) })
                    try await up.start()
                    try await received.wait(for: 4, timeout: .seconds(20))
                    try await waitUntil("all 4 completed and acknowledged", timeout: .seconds(20)) {
                        let acknowledged = try await broker.session(clientID: "junction.process.fwd")?.inflight == 0
                        return try harness.count(.completed) == 4 && acknowledged
                    }
                    #expect(Set(received.payloads) == ["m1", "m2", "m3", "m4"])
                    #expect(Set(received.payloads.prefix(2)) == stored, "the stored ones go first")
                }
            }
        }
    }

    @Test("whenFull block at shutdown: the waiting sends are stored beyond the bound, not failed, and forwarded after the restart")
    func whenFullBlockAtShutdown() async throws {
        try await withPreparedMosquitto(persistence: .on(autosaveInterval: 0)) { up in
            try await up.start()
            try await withUpstreamSubscriber(up, filter: "out/#") { _, received in
                await up.terminate()
                let harness = try ForwardingHarness(
                    connectors: ["local": Self.local, "up": Self.upstream(up.url, #"{"maxMessages": 2}"#)],
                    processes: ["fwd": Self.forwarding(maxInFlight: 4, onError: #", "onError": {"deadLetter": {"connector": "local", "topic": "dead/fwd"}}"#)])
                defer { harness.remove() }
                try await harness.run(until: Self.processReady) { _, broker in
                    try await Self.publish(broker, 1...4)
                    try await waitUntil("2 stored, 2 waiting for room") {
                        let waiting = try await broker.session(clientID: "junction.process.fwd")?.inflight == 2
                        return try harness.count(.completed) == 2 && waiting
                    }
                }
                #expect(try harness.count(.completed) == 4)
                #expect(try harness.count(.failed) == 0 && harness.count(.deadLettered) == 0)
                try await harness.run(until: Self.processReady) { _, _ in
                    try await up.start()
                    try await received.wait(for: 4, timeout: .seconds(20))
                    #expect(Set(received.payloads) == ["m1", "m2", "m3", "m4"])
                }
            }
        }
    }

    @Test("A message the external broker refuses is dead-lettered and does not hold up the ones behind it")
    func refusedUpstream() async throws {
        try await withPreparedMosquitto(persistence: .on(autosaveInterval: 0), extraConfiguration: ["acl_file $DIR/acl"]) { up in
            try "topic readwrite out/ok/#\n".write(to: up.directory.appendingPathComponent("acl"), atomically: true, encoding: .utf8)
            try await up.start()
            try await withUpstreamSubscriber(up, filter: "out/#") { _, received in
                let harness = try ForwardingHarness(
                    connectors: ["local": Self.local, "up": Self.upstream(up.url)],
                    processes: ["fwd": #"{"listen": {"connector": "local", "topic": "in/#", "qos": 1}, "maxInFlight": 1, "steps": [{"send": {"connector": "up", "topic": "out/{{topic[1]}}/{{topic[2]}}", "qos": 1}}], "onError": {"deadLetter": {"connector": "local", "topic": "dead/fwd"}}}"#])
                defer { harness.remove() }
                try await harness.run(until: Self.processReady) { _, broker in
                    let dead = try await broker.subscribe(clientID: "dead-reader", subscriptions: [MQTTSubscription(topicFilter: "dead/#", qos: .atLeastOnce)], cleanStart: true)
                    let (letters, reader) = collect(dead)
                    defer { reader.cancel() }
                    for (topic, payload) in [("in/ok/1", "a"), ("in/denied/1", "b"), ("in/ok/2", "c")] {
                        try await broker.publish(topic: topic, payload: ByteBuffer(string: payload), qos: .atLeastOnce)
                    }
                    try await received.wait(for: 2)
                    try await letters.wait(for: 1)
                    #expect(received.payloads == ["a", "c"])
                    #expect(letters.payloads == ["b"])
                    let failure = try harness.trackingEvents().first { $0.event == .failed }
                    #expect(failure?.error?.contains("refused") == true, "\(String(describing: failure))")
                    await dead.close()
                }
            }
        }
    }

    @Test("whenFull deadLetter: sends beyond the bound go to the process's dead letter and are acknowledged")
    func whenFullDeadLetter() async throws {
        try await withPreparedMosquitto(persistence: .on(autosaveInterval: 0)) { up in  // prepared, never started: the remote stays down
            let harness = try ForwardingHarness(
                connectors: ["local": Self.local, "up": Self.upstream(up.url, #"{"maxMessages": 2, "maxBytes": "1KB", "whenFull": "deadLetter"}"#)],
                processes: ["fwd": Self.forwarding(maxInFlight: 1, onError: #", "onError": {"deadLetter": {"connector": "local", "topic": "dead/fwd"}}"#)])
            defer { harness.remove() }
            try await harness.run(until: Self.processReady) { _, broker in
                let dead = try await broker.subscribe(clientID: "dead-reader", subscriptions: [MQTTSubscription(topicFilter: "dead/#", qos: .atLeastOnce)], cleanStart: true)
                let (letters, reader) = collect(dead)
                defer { reader.cancel() }
                try await Self.publish(broker, 1...4)
                try await letters.wait(for: 2)
                #expect(letters.payloads == ["m3", "m4"])
                try await waitUntil("all acknowledged") { try await broker.session(clientID: "junction.process.fwd")?.inflight == 0 }
                let events = try harness.trackingEvents()
                #expect(events.filter { $0.event == .deadLettered }.count == 2)
                #expect(events.contains { $0.event == .failed && ($0.error ?? "").contains("outbox full") }, "\(events.map(\.error))")
                await dead.close()
            }
        }
    }
}
