import Foundation
import MQTTCore
import Testing

/// The packet that once took the whole daemon down (a filter of 65,536 levels), sent to the
/// built `junction broker` and `junction run` as child processes: each stays up and serves.
@Suite("deep topics against the built daemon", .timeLimit(.minutes(2)))
struct DeepTopicDaemonTests {
    /// A folder with a broker definition (`maxTopicLevels` as given, nil: the default) and a
    /// process relaying `deep/in` to `deep/out`.
    static func definitions(_ root: URL, maxTopicLevels: Int?) throws {
        for folder in ["Processes", "Connectors"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        let mqtt = maxTopicLevels.map { #", "maxTopicLevels": \#($0)"# } ?? ""
        try Data(#"{"type": "mqtt-broker", "listeners": [{"host": "127.0.0.1", "port": 0}], "mqtt": {"sysInterval": "off"\#(mqtt)}}"#.utf8)
            .write(to: root.appendingPathComponent("Connectors/local.json"))
        try Data(#"{"listen": {"connector": "local", "topic": "deep/in", "qos": 1}, "steps": [{"send": {"connector": "local", "topic": "deep/out", "qos": 1}}]}"#.utf8)
            .write(to: root.appendingPathComponent("Processes/relay.json"))
    }

    /// Sends the deep CONNECT, SUBSCRIBE and DISCONNECT; the SUBSCRIBE is granted when the limit allows it.
    static func sendDeepPacket(port: Int, granted: Bool) async throws {
        let client = try await RawMQTTClient.open(port: port, version: .v311)
        try await client.sendRaw(TopicLevelsTests.deepConnect)
        guard case .connack(let connack) = try await client.receive() else { Issue.record("no CONNACK"); return }
        #expect(connack.reasonCode == .success)
        try await client.sendRaw(TopicLevelsTests.deepSubscribe)
        if granted {
            guard case .suback(let suback) = try await client.receive() else { Issue.record("no SUBACK"); return }
            #expect(suback.reasonCodes == [.grantedQoS0])
            try await client.sendRaw([0xE0, 0x00])
        }
        try await client.expectClosed()
    }

    @Test("junction broker: the deep filter with the limit raised and with the default; the broker stays up and serves a QoS 1 pair",
          arguments: [65_536, nil])
    func brokerSurvives(maxTopicLevels: Int?) async throws {
        try await withTemporaryDirectory { root in
            try Self.definitions(root, maxTopicLevels: maxTopicLevels)
            let broker = try await JunctionBrokerProcess.launch(
                ["broker", "--config", root.appendingPathComponent("Connectors/local.json").path, "--host", "127.0.0.1", "--port", "0", "--log-level", "info"])
            defer { broker.kill() }
            try await Self.sendDeepPacket(port: broker.port, granted: maxTopicLevels != nil)
            try await TopicLevelsTests.expectQoS1Pair(port: broker.port)
            #expect(broker.isRunning, "junction broker exited: \(broker.errorOutput)")
        }
    }

    @Test("junction run: the deep filter with the limit raised; the daemon stays up, its process relays a QoS 1 message")
    func daemonSurvives() async throws {
        try await withTemporaryDirectory { root in
            try Self.definitions(root, maxTopicLevels: 65_536)
            let daemon = try await JunctionBrokerProcess.launch([
                "run", "--processes", root.appendingPathComponent("Processes").path,
                "--connectors", root.appendingPathComponent("Connectors").path,
                "--data", root.appendingPathComponent(".junction").path, "--admin-port", "0", "--log-format", "json",
            ])
            defer { daemon.kill() }
            try await daemon.waitForLine(containing: "process started")
            try await Self.sendDeepPacket(port: daemon.port, granted: true)

            let subscriber = try await RawMQTTClient.connected(port: daemon.port, version: .v5, clientID: unique("out"))
            #expect(try await subscriber.subscribe("deep/out", qos: .atLeastOnce) == [.grantedQoS1])
            let publisher = try await RawMQTTClient.connected(port: daemon.port, version: .v311, clientID: unique("in"))
            #expect(try await publisher.publish("deep/in", #"{"n": 1}"#, qos: .atLeastOnce) == .success)
            let relayed = try await subscriber.receivePublish()
            #expect(relayed.payloadString == #"{"n": 1}"# && relayed.qos == .atLeastOnce)
            try await subscriber.acknowledge(relayed)
            #expect(daemon.isRunning, "junction run exited: \(daemon.errorOutput)")
        }
    }
}
