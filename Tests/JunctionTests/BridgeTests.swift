import Foundation
import Junction
import MQTTBroker
import MQTTClient
import MQTTCore
import NIOCore
import TestSupport
import Testing

/// The embedded broker's bridge to a real Mosquitto.
@Suite("Engine: bridge of the embedded broker to an external broker", .timeLimit(.minutes(1)))
struct BridgeTests {
    static func connectors(_ up: TestMosquitto) -> [String: String] {
        ["local": """
            {"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}, "bridge": {"connector": "up", "topics": [
              {"pattern": "sensors/#", "direction": "out", "qos": 1, "remotePrefix": "site/"},
              {"pattern": "cmd/#", "direction": "in", "qos": 1, "localPrefix": "remote/", "remotePrefix": "site/"},
              {"pattern": "sync/#", "direction": "both", "qos": 1}]}}
            """,
         "up": #"{"type": "mqtt", "url": "\#(up.url)"}"#]
    }

    static func bridgeReady(_ engine: Engine) async throws -> Bool {
        try await engine.broker?.session(clientID: "junction.bridge.local")?.connected == true
    }

    /// The payloads without repeats, in the order they first came (a message in flight when the
    /// link broke may come twice: at least once).
    static func firstOccurrences(_ payloads: [String]) -> [String] {
        var seen: Set<String> = []
        return payloads.filter { seen.insert($0).inserted }
    }

    @Test("Upstream stopped and restarted on the same port: nothing published locally meanwhile is lost, order kept")
    func outage() async throws {
        try await withPreparedMosquitto(persistence: .on(autosaveInterval: 0)) { up in
            try await up.start()
            try await withUpstreamSubscriber(up, filter: "site/sensors/#") { _, received in
                let harness = try ForwardingHarness(connectors: Self.connectors(up), processes: [:])
                defer { harness.remove() }
                try await harness.run(until: Self.bridgeReady) { _, broker in
                    try await broker.publish(topic: "sensors/1", payload: ByteBuffer(string: "s1"), qos: .atLeastOnce)
                    try await received.wait(for: 1)
                    #expect(received.all.first?.topic == "site/sensors/1")
                    await up.terminate()
                    for i in 2...30 {
                        try await broker.publish(topic: "sensors/\(i)", payload: ByteBuffer(string: "s\(i)"), qos: .atLeastOnce)
                    }
                    // Every message is in the outbox and acknowledged locally while the link is down.
                    try await waitUntil("the bridge took every message") {
                        let session = try await broker.session(clientID: "junction.bridge.local")
                        return session?.inflight == 0 && session?.queued == 0
                    }
                    try await up.start()
                    try await waitUntil("30 distinct messages upstream", timeout: .seconds(20)) {
                        Self.firstOccurrences(received.payloads).count >= 30
                    }
                    #expect(Self.firstOccurrences(received.payloads) == (1...30).map { "s\($0)" })
                    #expect(Set(received.all.map(\.topic)) == Set((1...30).map { "site/sensors/\($0)" }))
                }
            }
        }
    }

    @Test("Messages published upstream while the daemon is down wait in the bridge's session and reach a process after the restart")
    func inwardAcrossRestart() async throws {
        try await withPreparedMosquitto(persistence: .on(autosaveInterval: 0)) { up in
            try await up.start()
            var connectors = Self.connectors(up)
            connectors["files"] = #"{"type": "file", "directory": "out"}"#
            let harness = try ForwardingHarness(connectors: connectors, processes: [
                "commands": #"{"listen": {"connector": "local", "topic": "remote/cmd/#", "qos": 1}, "steps": [{"send": {"connector": "files", "name": "commands.txt", "mode": "append"}}]}"#,
            ])
            defer { harness.remove() }
            let file = harness.root.appendingPathComponent("out/commands.txt")
            let lines: @Sendable () -> [String] = {
                ((try? String(contentsOf: file, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
            }
            try await withUpstreamSubscriber(up, clientID: "publisher", filter: "nothing/#") { remoteClient, _ in
                try await remoteClient.publish(to: "site/cmd/hello", string: "hi", qos: .atLeastOnce, retain: true)
                try await harness.run(until: Self.bridgeReady) { _, _ in
                    try await waitUntil("the retained message through the bridge and the process", timeout: .seconds(20)) { lines().contains("hi") }
                }
                for i in 2...4 { try await remoteClient.publish(to: "site/cmd/\(i)", string: "c\(i)", qos: .atLeastOnce) }
                try await harness.run(until: Self.bridgeReady) { _, _ in
                    try await waitUntil("the commands sent while the daemon was down", timeout: .seconds(20)) {
                        lines().filter { $0 != "hi" }.count >= 3
                    }
                    #expect(lines().filter { $0 != "hi" } == ["c2", "c3", "c4"])
                }
            }
        }
    }

    @Test("Inward topics arrive renamed; a message bridged in is not bridged back out, nor one bridged out back in")
    func inwardAndNoLoops() async throws {
        try await withPreparedMosquitto(persistence: .on(autosaveInterval: 0)) { up in
            try await up.start()
            try await withUpstreamSubscriber(up, filter: "sync/#") { remoteClient, remote in
                // Retained upstream before the bridge starts: its arrival shows the inward subscription is active.
                try await remoteClient.publish(to: "site/cmd/hello", string: "hi", qos: .atLeastOnce, retain: true)
                let harness = try ForwardingHarness(connectors: Self.connectors(up), processes: [:])
                defer { harness.remove() }
                try await harness.run(until: Self.bridgeReady) { _, broker in
                    let subscription = try await broker.subscribe(
                        clientID: "local-checker", subscriptions: [MQTTSubscription(topicFilter: "remote/#", qos: .atLeastOnce),
                                                                   MQTTSubscription(topicFilter: "sync/#", qos: .atLeastOnce)],
                        cleanStart: true)
                    let (local, reader) = collect(subscription)
                    defer { reader.cancel() }
                    try await waitUntil("the retained upstream message bridged in", timeout: .seconds(20)) { local.count("remote/cmd/hello") == 1 }
                    try await remoteClient.publish(to: "site/cmd/1", string: "c1", qos: .atLeastOnce)
                    try await waitUntil("an inward message") { local.count("remote/cmd/1") == 1 }

                    // Out, then a marker in behind it: an echo of sync/a would arrive before sync/end1.
                    try await broker.publish(topic: "sync/a", payload: ByteBuffer(string: "A"), qos: .atLeastOnce)
                    try await waitUntil("sync/a upstream", timeout: .seconds(20)) { remote.count("sync/a") == 1 }
                    try await remoteClient.publish(to: "sync/end1", string: "E1", qos: .atLeastOnce)
                    try await waitUntil("sync/end1 locally") { local.count("sync/end1") == 1 }
                    #expect(local.count("sync/a") == 1, "\(local.all)")

                    // In, then a marker out behind it: an echo of sync/b would arrive upstream before sync/after.
                    try await remoteClient.publish(to: "sync/b", string: "B", qos: .atLeastOnce)
                    try await waitUntil("sync/b locally") { local.count("sync/b") == 1 }
                    try await broker.publish(topic: "sync/after", payload: ByteBuffer(string: "F"), qos: .atLeastOnce)
                    try await waitUntil("sync/after upstream", timeout: .seconds(20)) { remote.count("sync/after") == 1 }
                    #expect(remote.count("sync/b") == 1, "\(remote.all)")
                    #expect(remote.count("sync/end1") == 1 && remote.count("sync/a") == 1, "\(remote.all)")
                    await subscription.close()
                }
            }
        }
    }
}
