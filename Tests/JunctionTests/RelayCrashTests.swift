import Foundation
import MQTTClient
import MQTTCore
import NIOCore
import Testing

/// An MQTT → MQTT relay process (its steps run inline and hand their message to the broker
/// with the acknowledgement: `MQTTBroker.forward(_:acknowledging:)`) in `junction run --data`,
/// killed with SIGKILL while messages flow, then restarted on the same data directory.
@Suite("Engine: a relay process killed with SIGKILL while relaying", .serialized, .timeLimit(.minutes(1)))
struct RelayCrashTests {
    static let subscriberID = "relay-sink"

    @Test("Every message the broker acknowledged to its publisher reaches the persistent subscriber of the relayed topic after a kill and restart",
          arguments: 0..<5)
    func acknowledgedMessagesAreRelayedAfterKill(round: Int) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("junction-relaykill-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        try Self.writeDefinitions(root: root)
        let arguments = ["run", "--processes", "Processes", "--connectors", "Connectors", "--data", root.appendingPathComponent(".junction").path,
                         "--admin-port", "0", "--log-format", "json"]

        let first = try JunctionChild(arguments, directory: root)
        defer { first.kill() }
        let firstPort = try await first.brokerPort()
        let started = try await first.waitForLine(containing: "process started")
        #expect(started.contains(#""process.inline":"true""#), "the relay runs inline: \(started)")
        // The subscriber's session is persistent and offline: what the relay publishes is stored for it.
        try await Self.withSubscriber(port: firstPort) { _ in }

        // Publish with up to 20 messages outstanding; SIGKILL once a random number was acknowledged.
        let killAfter = Int.random(in: 5...400)
        var acknowledged: [String] = []
        try await withMQTTClient(port: firstPort) { publisher in
            var outstanding: [(String, MQTTPublishInProgress)] = []
            var sent = 0
            while sent < 1000 || !outstanding.isEmpty {
                while outstanding.count < 20 && sent < 1000 {
                    let payload = "m-\(sent)"
                    outstanding.append((payload, publisher.startPublish(to: "in/\(sent % 3)", payload: ByteBuffer(string: payload), qos: .atLeastOnce)))
                    sent += 1
                }
                let (payload, publish) = outstanding.removeFirst()
                do { _ = try await publish.result() } catch { break }
                acknowledged.append(payload)
                if acknowledged.count >= killAfter { break }
            }
            first.kill()
        }
        #expect(acknowledged.count >= 1)

        let second = try JunctionChild(arguments, directory: root)
        defer { second.kill() }
        let secondPort = try await second.brokerPort()
        let wanted = Set(acknowledged)
        var received: Set<String> = []
        try await Self.withSubscriber(port: secondPort) { messages in
            while !wanted.isSubset(of: received) {
                let message: MQTTMessage
                do { message = try await messages.next() } catch {
                    Issue.record("round \(round): killed after \(acknowledged.count) acknowledgements, never relayed: \(wanted.subtracting(received).sorted())")
                    return
                }
                #expect(message.topic.hasPrefix("out/"))
                received.insert(String(buffer: message.payload))
            }
        }
        second.kill()
    }

    static func writeDefinitions(root: URL) throws {
        for folder in ["Processes", "Connectors"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try Data(#"{"type": "mqtt-broker", "listeners": [{"host": "127.0.0.1", "port": 0}], "mqtt": {"sysInterval": "off"}}"#.utf8)
            .write(to: root.appendingPathComponent("Connectors/local.json"))
        try Data(#"""
            {"listen": {"connector": "local", "topic": "in/+", "qos": 1},
             "steps": [{"send": {"connector": "local", "topic": "out/{{topic[1]}}", "qos": 1}}]}
            """#.utf8).write(to: root.appendingPathComponent("Processes/relay.json"))
    }

    /// The subscriber's persistent session (expiry one hour) subscribed to `out/#`, with what
    /// arrives (acknowledged as it arrives); it stays subscribed when `body` ends.
    static func withSubscriber(port: Int, _ body: (ReceivedMessages) async throws -> Void) async throws {
        var configuration = MQTTClientConfiguration(host: "127.0.0.1", port: port, version: .v5, clientID: subscriberID)
        configuration.reconnect = .disabled
        configuration.cleanStart = false
        configuration.sessionExpiryInterval = 3600
        try await MQTTClient.withConnection(configuration) { client in
            try await withMessages(client, [MQTTSubscription(topicFilter: "out/#", qos: .atLeastOnce)], unsubscribeOnExit: false, body)
        }
    }
}
