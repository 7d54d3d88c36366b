import Foundation
import Junction
import Logging
import MQTTBroker
import MQTTCore
import NIOCore
import ServiceLifecycle
import Testing

/// A second in-process broker on a free loopback port, standing in for an external one.
func withExternalBroker<T>(_ body: (MQTTBroker, Int) async throws -> T) async throws -> T {
    let broker = MQTTBroker(listeners: [BrokerListener(host: "127.0.0.1", port: 0)],
                            logger: Logger(label: "external", factory: { _ in SwiftLogNoOpLogHandler() }))
    let addresses = try await broker.start()
    guard let port = addresses.first?.port else {
        try? await broker.shutdown()
        throw ProcessError(message: "external broker bound no address", permanent: true)
    }
    do {
        let result = try await body(broker, port)
        try await broker.shutdown()
        return result
    } catch {
        try? await broker.shutdown()
        throw error
    }
}

@Suite("Engine: Listen and Send on an external MQTT broker", .timeLimit(.minutes(1)))
struct ExternalMQTTTests {
    static let local = #"{"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}}"#

    @Test("Listen on the external broker, route, send back to it and to the embedded broker; acknowledged after completion")
    func listenRouteAndSend() async throws {
        try await withExternalBroker { external, port in
            let harness = try EngineHarness(
                connectors: ["local": Self.local, "ext": #"{"type": "mqtt", "url": "mqtt://127.0.0.1:\#(port)", "sessionExpiry": "10m"}"#],
                processes: ["bridge": """
                    {"listen": {"connector": "ext", "topic": "in/+", "qos": 1}, "maxInFlight": 4,
                     "steps": [{"route": {"cases": [{"when": {"field": "payload.kind", "eq": "a"},
                                                     "steps": [{"send": {"connector": "ext", "topic": "out/{{payload.kind}}", "qos": 1,
                                                                         "userProperties": {"source": "{{topic}}"}}}]}],
                                          "otherwise": [{"send": {"connector": "local", "topic": "local/other", "qos": 1}}]}}]}
                    """])
            try await harness.run(until: {
                let listening = try await external.session(clientID: "junction-ext-bridge")?.subscriptions == ["in/+"]
                let sending = try await external.session(clientID: "junction-ext")?.connected == true
                return listening && sending
            }) { h in
                let out = try await external.subscribe(clientID: "checker", subscriptions: [MQTTSubscription(topicFilter: "out/#", qos: .atLeastOnce)], cleanStart: true)
                let local = try await h.broker.subscribe(clientID: "local-checker", subscriptions: [MQTTSubscription(topicFilter: "local/#", qos: .atLeastOnce)], cleanStart: true)
                try await external.publish(topic: "in/1", payload: ByteBuffer(string: #"{"kind": "a"}"#), qos: .atLeastOnce)
                try await external.publish(topic: "in/2", payload: ByteBuffer(string: #"{"kind": "b"}"#), qos: .atLeastOnce)
                let a = try await out.next()
                #expect(a.topic == "out/a" && String(buffer: a.payload) == #"{"kind": "a"}"#)
                #expect(a.properties.userProperties.contains { $0.name == "source" && $0.value == "in/1" }, "\(a.properties.userProperties)")
                await a.ack()
                let b = try await local.next()
                #expect(b.topic == "local/other" && String(buffer: b.payload) == #"{"kind": "b"}"#)
                await b.ack()
                try await waitUntil("both acknowledged at the external broker") {
                    try await external.session(clientID: "junction-ext-bridge")?.inflight == 0
                }
                let events = try h.trackingEvents()
                #expect(events.filter { $0.event == .completed }.count == 2)
                #expect(events.contains { $0.event == .sent && $0.connector == "ext" && $0.topic == "out/a" })
                #expect(events.contains { $0.event == .received && $0.connector == "ext" && $0.topic == "in/1" })
            }
        }
    }

    @Test("A document that fails without dead letter stays unacknowledged in the external session")
    func failedStaysUnacknowledged() async throws {
        try await withExternalBroker { external, port in
            let harness = try EngineHarness(
                connectors: ["local": Self.local, "ext": #"{"type": "mqtt", "url": "mqtt://127.0.0.1:\#(port)"}"#,
                             "out": #"{"type": "file", "directory": "blocked"}"#],
                processes: ["stuck": #"{"listen": {"connector": "ext", "topic": "stuck/in", "qos": 1}, "steps": [{"send": {"connector": "out", "name": "x.json"}}]}"#])
            try Data("not a folder".utf8).write(to: harness.root.appendingPathComponent("blocked"))
            try await harness.run(until: {
                try await external.session(clientID: "junction-ext-stuck")?.subscriptions == ["stuck/in"]
            }) { h in
                try await external.publish(topic: "stuck/in", payload: ByteBuffer(string: "s"), qos: .atLeastOnce)
                try await waitUntil("the document failed") { try h.trackingEvents().contains { $0.event == .failed } }
                let session = try await external.session(clientID: "junction-ext-stuck")
                #expect(session?.inflight == 1)
            }
            // The session outlives the engine, with the message still in it for the next run.
            let after = try await external.session(clientID: "junction-ext-stuck")
            #expect(after?.connected == false && after?.inflight == 1)
        }
    }

    @Test("External connectors the client cannot reach (a path on mqtt://) are refused at start; mqtt:// (and ws://) ones are accepted")
    func checkConnectors() throws {
        let harness = try EngineHarness(
            connectors: ["local": Self.local, "ws": #"{"type": "mqtt", "url": "mqtt://127.0.0.1:8080/some/path"}"#,
                         "web": #"{"type": "mqtt", "url": "ws://127.0.0.1:8080"}"#,
                         "tcp": #"{"type": "mqtt", "urls": ["mqtt://127.0.0.1:1", "mqtt://127.0.0.1:2"]}"#],
            processes: ["a": #"{"listen": {"connector": "local", "topic": "a"}, "steps": [{"send": {"connector": "ws", "topic": "x"}}]}"#,
                        "b": #"{"listen": {"connector": "tcp", "topic": "b"}, "steps": [{"send": {"connector": "tcp", "topic": "y"}}]}"#,
                        "c": #"{"listen": {"connector": "local", "topic": "c"}, "steps": [{"send": {"connector": "web", "topic": "z"}}]}"#])
        defer { try? FileManager.default.removeItem(at: harness.root) }
        let runners = Dictionary(uniqueKeysWithValues: harness.engine.runners.map { ($0.context.name, $0) })
        #expect(throws: ProcessError.self) { try runners["a"]?.context.checkEndpoints() }
        try runners["b"]?.context.checkEndpoints()
        try runners["c"]?.context.checkEndpoints()
    }
}
