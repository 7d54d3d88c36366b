import Foundation
import Junction
import MQTTBroker
import MQTTClient
import MQTTCore
import NIOCore
import Testing

/// The five shipped examples (`Processes/*.json` with `Connectors/*.json` of the repository,
/// loaded from disk, only their addresses overridden) run by the whole engine: MQTT over TCP to
/// the embedded broker, a real HTTP server for the ops API, real files under a temporary root.
@Suite("Shipped examples end to end", .timeLimit(.minutes(1)))
struct ShippedExampleTests {
    /// Runs every shipped process, once each is listening, with a recording HTTP server as the
    /// ops API (`gate`, when given, holds its answers).
    func withExamples(gate: Gate? = nil, _ body: @Sendable (EngineHarness, RecordingServer) async throws -> Void) async throws {
        let server = RecordingServer(gate: gate)
        try await server.run { apiPort in
            let harness = try EngineHarness(definitions: ShippedExamples.load(opsAPIPort: apiPort))
            try await harness.run(until: { try await harness.everyProcessListening() }) { h in
                do {
                    try await body(h, server)
                } catch {
                    await gate?.release()  // a held answer would keep the engine from draining
                    throw error
                }
            }
        }
    }

    func events(_ h: EngineHarness, _ process: String) throws -> [TrackingEvent] {
        try h.trackingEvents().filter { $0.process == process }
    }

    @Test("hot-readings: a hot reading is POSTed to the ops API, acknowledged only after the answer, published retained; all archived and tracked")
    func hotReadings() async throws {
        let gate = Gate()
        try await withExamples(gate: gate) { h, server in
            try await withMQTTClient(port: try await h.mqttPort()) { client in
                try await client.publish(to: "plant/s1/temperature", string: #"{"celsius": 20}"#, qos: .atLeastOnce)
                try await waitUntil("the cool reading completed") { try events(h, "hot-readings").contains { $0.event == .completed } }
                try await client.publish(to: "plant/s2/temperature", string: #"{"celsius": 91}"#, qos: .atLeastOnce)

                let request = try await server.next()
                #expect(request.method == "POST" && request.path == "/alerts" && request.body == #"{"celsius": 91}"#)
                #expect(request.headers["content-type"] == "application/json")
                // The ops API holds its answer: the message is still unacknowledged in the session.
                #expect(try await h.session("hot-readings")?.inflight == 1)
                #expect(try !events(h, "hot-readings").contains { $0.event == .completed && $0.fields?["sensor"] == "s2" })
                await gate.release()
                try await waitUntil("acknowledged after the HTTP answer") { try await h.session("hot-readings")?.inflight == 0 }

                try await withMessages(client, [MQTTSubscription(topicFilter: "alerts/#", qos: .atLeastOnce)]) { alerts in
                    let alert = try await alerts.next()
                    #expect(alert.topic == "alerts/s2" && alert.retain && alert.payloadString == #"{"celsius": 91}"#)
                }
            }
            let archive = h.root.appendingPathComponent("data/archive/temperature")
            let archived = try FileManager.default.contentsOfDirectory(atPath: archive.path).sorted()
            #expect(archived.count == 4 && archived.filter { $0.hasSuffix(".meta.json") }.count == 2, "\(archived)")
            let metaTopics = try archived.filter { $0.hasSuffix(".meta.json") }.map { name in
                let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: archive.appendingPathComponent(name))) as? [String: Any]
                return meta?["topic"] as? String ?? ""
            }
            #expect(metaTopics == ["plant/s1/temperature", "plant/s2/temperature"])

            let tracked = try events(h, "hot-readings")
            let cool = tracked.filter { $0.fields?["sensor"] == "s1" }
            #expect(cool.map(\.event) == [.received, .filtered, .completed], "\(cool.map(\.event))")
            #expect(cool.first?.fields?["celsius"] == "20")
            let hot = tracked.filter { $0.fields?["sensor"] == "s2" }
            #expect(hot.map(\.event) == [.received, .sent, .sent, .completed], "\(hot.map(\.event))")
            #expect(hot.filter { $0.event == .sent }.map(\.connector) == ["ops-api", "local-broker"])
            #expect(hot.last { $0.event == .sent }?.topic == "alerts/s2")
        }
    }

    @Test("plant-archive: every plant/# message is archived and appended as one line; a failed append is not acknowledged")
    func plantArchive() async throws {
        try await withExamples { h, _ in
            try await withMQTTClient(port: try await h.mqttPort()) { client in
                try await client.publish(to: "plant/a/pressure", string: #"{"bar": 2}"#, qos: .atLeastOnce)
                try await client.publish(to: "plant/b/state", string: "running", qos: .atLeastOnce)
                try await waitUntil("both completed") { try events(h, "plant-archive").filter { $0.event == .completed }.count == 2 }
                try await waitUntil("both acknowledged") { try await h.session("plant-archive")?.inflight == 0 }

                let lines = try String(contentsOf: h.root.appendingPathComponent("data/archive/plant.jsonl"), encoding: .utf8)
                    .split(separator: "\n")
                let objects = try lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
                let byTopic = Dictionary(uniqueKeysWithValues: objects.map { ($0["topic"] as? String ?? "", $0) })
                #expect(Set(byTopic.keys) == ["plant/a/pressure", "plant/b/state"])
                #expect((byTopic["plant/a/pressure"]?["payload"] as? [String: Any])?["bar"] as? Int == 2)
                #expect(byTopic["plant/b/state"]?["payload"] as? String == "running")
                #expect(objects.allSatisfy { ($0["received"] as? String)?.hasSuffix("Z") == true })
                let archived = try FileManager.default.contentsOfDirectory(atPath: h.root.appendingPathComponent("data/archive/plant").path)
                #expect(archived.filter { $0.hasSuffix(".meta.json") }.count == 2 && archived.contains { $0.hasSuffix(".bin") }, "\(archived)")

                // The line file cannot be appended to (a folder took its name): no acknowledgement.
                let lineFile = h.root.appendingPathComponent("data/archive/plant.jsonl")
                try FileManager.default.removeItem(at: lineFile)
                try FileManager.default.createDirectory(at: lineFile, withIntermediateDirectories: false)
                try await client.publish(to: "plant/c/state", string: "stuck", qos: .atLeastOnce)
                try await waitUntil("the append failed") { try events(h, "plant-archive").contains { $0.event == .failed } }
                #expect(try await h.session("plant-archive")?.inflight == 1)
            }
            let tracked = try events(h, "plant-archive")
            for site in ["a", "b"] {
                #expect(tracked.filter { $0.fields?["site"] == site }.map(\.event) == [.received, .step, .sent, .completed])
            }
            #expect(tracked.first { $0.event == .sent }?.connector == "archive")
            #expect(tracked.first { $0.event == .failed }?.fields?["site"] == "c")
        }
    }

    @Test("http-ingest: a POSTed reading is published retained before the 202 answer; one without sensor is 422")
    func httpIngest() async throws {
        try await withExamples { h, _ in
            let port = try await h.engine.resources.http.boundPort(of: "ingest")
            let client = CurlClient()
            let url = "http://127.0.0.1:\(port)/readings"
            let answer = try await client.perform(CurlRequest(url: url, method: "POST", headers: [("Content-Type", "application/json")],
                                                              body: Array(#"{"sensor": "s9", "value": 3}"#.utf8)))
            #expect(answer.status == 202)
            let body = try #require(JSONSerialization.jsonObject(with: Data(String(buffer: answer.body).utf8)) as? [String: String])
            let id = try #require(body["accepted"])
            // Answered after the process finished: the publish is already tracked, no waiting.
            let tracked = try events(h, "http-ingest").filter { $0.document == id }
            #expect(tracked.map(\.event) == [.received, .sent, .step, .completed], "\(tracked.map(\.event))")
            #expect(tracked.first { $0.event == .sent }?.topic == "ingest/s9")
            #expect(tracked.first?.fields?["sensor"] == "s9")

            try await withMQTTClient(port: try await h.mqttPort()) { mqtt in
                try await withMessages(mqtt, [MQTTSubscription(topicFilter: "ingest/#", qos: .atLeastOnce)]) { readings in
                    let reading = try await readings.next()
                    #expect(reading.topic == "ingest/s9" && reading.retain && reading.payloadString == #"{"sensor": "s9", "value": 3}"#)
                }
            }
            let refused = try await client.perform(CurlRequest(url: url, method: "POST", body: Array(#"{"value": 4}"#.utf8)))
            #expect(refused.status == 422)
            #expect(try events(h, "http-ingest").contains { $0.event == .filtered })
        }
    }

    @Test("drop-split: a dropped JSON array is split and published per element, then moved to processed/; a non-array to failed/")
    func dropSplit() async throws {
        try await withExamples { h, _ in
            let drop = h.root.appendingPathComponent("data/drop")
            try await withMQTTClient(port: try await h.mqttPort()) { client in
                try await withMessages(client, [MQTTSubscription(topicFilter: "drop/#", qos: .atLeastOnce)]) { published in
                    try Data(#"[{"type": "a", "n": 1}, {"type": "b", "n": 2}]"#.utf8).write(to: drop.appendingPathComponent("batch.json"))
                    try Data(#"{"type": "x"}"#.utf8).write(to: drop.appendingPathComponent("bad.json"))
                    var seen: [String: String] = [:]
                    for _ in 0..<2 {
                        let message = try await published.next()
                        seen[message.topic] = message.payloadString.replacingOccurrences(of: " ", with: "")
                    }
                    #expect(seen == ["drop/a": #"{"type":"a","n":1}"#, "drop/b": #"{"type":"b","n":2}"#])
                }
            }
            try await waitUntil("files moved") {
                FileManager.default.fileExists(atPath: drop.appendingPathComponent("processed/batch.json").path)
                    && FileManager.default.fileExists(atPath: drop.appendingPathComponent("failed/bad.json").path)
            }
            #expect(!FileManager.default.fileExists(atPath: drop.appendingPathComponent("batch.json").path))
            let tracked = try events(h, "drop-split")
            let sent = tracked.filter { $0.event == .sent }
            #expect(Set(sent.compactMap(\.topic)) == ["drop/a", "drop/b"])
            #expect(tracked.filter { $0.event == .completed }.count == 1 && tracked.filter { $0.event == .failed }.count == 1)
            #expect(tracked.first { $0.event == .failed }?.error?.contains("not a JSON array") == true)
        }
    }

    @Test("order-routing: QoS 2 orders routed by priority; one that cannot be sent is dead-lettered, then acknowledged")
    func orderRouting() async throws {
        try await withExamples { h, _ in
            let dead = try await h.broker.subscribe(clientID: "dead-reader", subscriptions: [MQTTSubscription(topicFilter: "dead/#", qos: .atLeastOnce)],
                                                    cleanStart: true)
            try await withMQTTClient(port: try await h.mqttPort()) { client in
                try await withMessages(client, [MQTTSubscription(topicFilter: "orders/+", qos: .exactlyOnce)]) { orders in
                    try await client.publish(to: "orders/new", string: #"{"id": 1, "priority": "high"}"#, qos: .exactlyOnce)
                    try await client.publish(to: "orders/new", string: #"{"id": 2, "priority": "low"}"#, qos: .exactlyOnce)
                    var routed: [String: (String, MQTTQoS)] = [:]
                    while routed.count < 2 {
                        let message = try await orders.next()
                        if message.topic != "orders/new" { routed[message.payloadString] = (message.topic, message.qos) }
                    }
                    #expect(routed[#"{"id": 1, "priority": "high"}"#]?.0 == "orders/urgent")
                    #expect(routed[#"{"id": 1, "priority": "high"}"#]?.1 == .exactlyOnce)
                    #expect(routed[#"{"id": 2, "priority": "low"}"#]?.0 == "orders/normal")
                    #expect(routed[#"{"id": 2, "priority": "low"}"#]?.1 == .atLeastOnce)
                }
            }
            // Larger than a send's default maxMessageSize (1MB): the send refuses it for good.
            let large = #"{"id": 3, "priority": "low", "pad": ""# + String(repeating: "x", count: 1_100_000) + #""}"#
            try await h.broker.publish(topic: "orders/new", payload: ByteBuffer(string: large), qos: .exactlyOnce)
            let letter = try #require(await withTimeout(.seconds(15)) { await dead.first { _ in true } }, "no dead letter within 15 s")
            #expect(letter.topic == "dead/orders" && letter.payload.readableBytes == large.utf8.count)
            #expect(letter.properties.userProperties.first { $0.name == "junction.error" }?.value.contains("maxMessageSize") == true)
            await letter.ack()
            try await waitUntil("every order acknowledged") { try await h.session("order-routing")?.inflight == 0 }

            let tracked = try events(h, "order-routing")
            for order in ["1", "2"] {
                #expect(tracked.filter { $0.fields?["order"] == order }.map(\.event) == [.received, .step, .sent, .completed])
            }
            #expect(tracked.filter { $0.fields?["order"] == "3" }.map(\.event) == [.received, .step, .failed, .deadLettered])
            #expect(tracked.first { $0.event == .deadLettered }?.topic == "dead/orders")
        }
    }

    @Test("An override naming a missing connector, or one of another type, throws and changes nothing")
    func overrideErrors() throws {
        var definitions = try ShippedExamples.load(opsAPIPort: 1)
        #expect(throws: Definitions.OverrideError.self) { try definitions.overrideHTTPBaseURL("ingest", URL(fileURLWithPath: "/")) }
        #expect(throws: Definitions.OverrideError.self) { try definitions.overrideFileDirectory("nope", "x") }
        do {
            try definitions.overrideHTTPListener("ops-api", port: 1)
            Issue.record("an http connector was overridden as an http-listener")
        } catch {
            #expect("\(error)" == #"no http-listener connector named "ops-api" to override"#)
        }
        try definitions.overrideFileDirectory("drop", "elsewhere/drop")
        guard case .file(let drop)? = definitions.connectors["drop"]?.kind else { Issue.record("drop is not a file connector"); return }
        #expect(drop.directory == "elsewhere/drop")
    }
}
