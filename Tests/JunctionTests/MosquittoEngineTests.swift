import Foundation
import Junction
import MQTTBroker
import MQTTClient
import MQTTCore
import NIOCore
import Synchronization
import TestSupport
import Testing

/// What an in-process subscription on the embedded broker received (acknowledged at once).
final class LocalCollector: Sendable {
    private let received = Mutex<[BrokerDelivery]>([])
    private let task: Mutex<Task<Void, Never>?> = Mutex(nil)

    init(_ broker: MQTTBroker, _ filter: String) async throws {
        let subscription = try await broker.subscribe(clientID: "collector-\(UUID().uuidString.prefix(8))",
                                                      subscriptions: [MQTTSubscription(topicFilter: filter, qos: .atLeastOnce)], cleanStart: true)
        let feeder = Task { [self] in
            for await delivery in subscription {
                await delivery.ack()
                received.withLock { $0.append(delivery) }
            }
        }
        task.withLock { $0 = feeder }
    }

    var topics: Set<String> { received.withLock { Set($0.map(\.topic)) } }
    var deliveries: [BrokerDelivery] { received.withLock { $0 } }
    func stop() { task.withLock { $0?.cancel() } }
}

@Suite("Engine with Mosquitto as the external broker", .timeLimit(.minutes(1)))
struct MosquittoEngineTests {
    static let local = #"{"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}}"#

    /// Publishes a probe on each topic until its relay reached the embedded broker: then the
    /// processes' subscriptions on Mosquitto exist (Mosquitto has no API to ask).
    func waitForRelays(_ client: MQTTClient, _ local: LocalCollector, probes: [(String, String)]) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            let missing = probes.filter { !local.topics.contains($0.1) }
            if missing.isEmpty { return }
            guard ContinuousClock.now < deadline else { throw ProcessError(message: "no relay of \(missing.map(\.0)) within 20 s", permanent: true) }
            for (topic, _) in missing { try await client.publish(to: topic, string: "probe", qos: .atLeastOnce) }
            let pause = ContinuousClock.now + .milliseconds(300)
            while ContinuousClock.now < pause && !missing.allSatisfy({ local.topics.contains($0.1) }) {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    @Test("Listen on Mosquitto (5.0, QoS 2; 3.1.1, QoS 1) and send back to Mosquitto (user properties, retained) and into the embedded broker")
    func relayThroughMosquitto() async throws {
        try await withTestMosquitto { mosquitto in
            let url = "mqtt://127.0.0.1:\(mosquitto.port)"
            let harness = try EngineHarness(
                connectors: ["local": Self.local,
                             "mosq": #"{"type": "mqtt", "url": "\#(url)", "protocolVersion": "5", "sessionExpiry": "10m"}"#,
                             "mosq311": #"{"type": "mqtt", "url": "\#(url)", "protocolVersion": "3.1.1", "clientId": "junction-311"}"#],
                processes: [
                    "relay": """
                        {"listen": {"connector": "mosq", "topic": "in/+", "qos": 2, "tracking": {"key": "{{topic[1]}}"}},
                         "steps": [{"send": {"connector": "mosq", "topic": "out/{{topic[1]}}", "qos": 2,
                                             "userProperties": {"via": "junction", "from": "{{topic}}"}}},
                                   {"send": {"connector": "local", "topic": "local/{{topic[1]}}", "qos": 1}}]}
                        """,
                    "keep": """
                        {"listen": {"connector": "mosq311", "topic": "state/+", "qos": 1},
                         "steps": [{"send": {"connector": "mosq311", "topic": "last/{{topic[1]}}", "qos": 1, "retain": true}},
                                   {"send": {"connector": "local", "topic": "local/state/{{topic[1]}}", "qos": 1}}]}
                        """,
                ])
            try await harness.run(until: { true }) { h in
                let local = try await LocalCollector(h.broker, "local/#")
                defer { local.stop() }
                try await withMQTTClient(port: mosquitto.port) { client in
                    try await waitForRelays(client, local, probes: [("in/probe", "local/probe"), ("state/probe", "local/state/probe")])
                    try await withMessages(client, [MQTTSubscription(topicFilter: "out/+", qos: .exactlyOnce)]) { out in
                        for i in 0..<3 { try await client.publish(to: "in/m\(i)", string: "message \(i)", qos: .exactlyOnce) }
                        var relayed: [String: MQTTMessage] = [:]
                        while relayed.count < 3 {
                            let message = try await out.next()
                            if message.topic != "out/probe" { relayed[message.topic] = message }
                        }
                        for i in 0..<3 {
                            let message = try #require(relayed["out/m\(i)"])
                            #expect(message.payloadString == "message \(i)" && message.qos == .exactlyOnce)
                            let properties = Dictionary(message.properties.userProperties.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
                            #expect(properties == ["via": "junction", "from": "in/m\(i)"])
                        }
                    }
                    try await client.publish(to: "state/boiler", string: "on", qos: .atLeastOnce)
                    try await waitUntil("state relayed into the embedded broker") { local.topics.contains("local/state/boiler") }
                }
                // A client arriving later gets the state Junction published retained on Mosquitto.
                try await withMQTTClient(port: mosquitto.port, version: .v311) { late in
                    try await withMessages(late, [MQTTSubscription(topicFilter: "last/boiler", qos: .atLeastOnce)]) { last in
                        let message = try await last.next()
                        #expect(message.retain && message.payloadString == "on")
                    }
                }
                try await waitUntil("the relayed messages reached the embedded broker") {
                    Set(["local/m0", "local/m1", "local/m2"]).isSubset(of: local.topics)
                }
                #expect(local.deliveries.first { $0.topic == "local/m1" }.map { String(buffer: $0.payload) } == "message 1")
                let events = try h.trackingEvents()
                for i in 0..<3 {
                    let kinds = events.filter { $0.process == "relay" && $0.fields?["key"] == "m\(i)" }.map(\.event)
                    #expect(kinds == [.received, .sent, .sent, .completed], "\(kinds)")
                }
                #expect(events.contains { $0.process == "relay" && $0.event == .received && $0.connector == "mosq" && $0.qos == 2 })
                #expect(events.contains { $0.process == "keep" && $0.event == .sent && $0.connector == "mosq311" && $0.topic == "last/boiler" })
            }
        }
    }

    @Test("A message the engine could not process stays unacknowledged at Mosquitto and reaches the next run of the process")
    func unacknowledgedUntilProcessed() async throws {
        try await withTestMosquitto { mosquitto in
            let (root, definitions) = try definitionFolder(
                connectors: ["local": Self.local, "out": #"{"type": "file", "directory": "blocked"}"#,
                             "mosq": #"{"type": "mqtt", "url": "mqtt://127.0.0.1:\#(mosquitto.port)", "sessionExpiry": "10m"}"#],
                processes: ["jobs": """
                    {"listen": {"connector": "mosq", "topic": "jobs/+", "qos": 1, "retainHandling": 1},
                     "steps": [{"send": {"connector": "out", "name": "{{topic[1]}}.txt", "mode": "append"}}]}
                    """])
            // Retained, so the process gets it as soon as it subscribes (Mosquitto cannot tell when that is).
            _ = try await withMQTTClient(port: mosquitto.port) { client in
                try await client.publish(to: "jobs/first", string: "job 1", qos: .atLeastOnce, retain: true)
            }
            try Data("not a folder".utf8).write(to: root.appendingPathComponent("blocked"))
            try await EngineHarness(definitions: definitions, root: root, listeners: []).run(until: { true }) { h in
                try await waitUntil("the job failed in the first run") { try h.trackingEvents().contains { $0.event == .failed } }
            }
            // The retained copy is cleared (the empty message also reaches the session, as an empty
            // line): a "job 1" line in the second run can only come from the unacknowledged message.
            _ = try await withMQTTClient(port: mosquitto.port) { client in
                try await client.publish(to: "jobs/first", payload: ByteBuffer(), qos: .atLeastOnce, retain: true)
            }
            // The first run's folder went with it, "blocked" included: the file can be written now.
            try await EngineHarness(definitions: definitions, root: root, listeners: []).run(until: { true }) { h in
                let written = root.appendingPathComponent("blocked/first.txt")
                try await waitUntil("the job written by the second run", timeout: .seconds(20)) {
                    let lines = (try? String(contentsOf: written, encoding: .utf8))?.split(separator: "\n", omittingEmptySubsequences: false)
                    return lines?.contains("job 1") == true
                }
                try await waitUntil("completed") { try h.trackingEvents().contains { $0.event == .completed } }
            }
        }
    }
}
