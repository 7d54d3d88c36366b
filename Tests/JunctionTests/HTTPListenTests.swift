import Foundation
import Junction
import MQTTBroker
import MQTTCore
import NIOCore
import Testing

@Suite("HTTP Listen: requests become documents, the reply is the process's result", .timeLimit(.minutes(1)))
struct HTTPListenTests {
    static let broker = #"{"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}}"#

    @Test("POST runs the process (publish to the broker) and answers the reply step; filtered is 422; no token is 401; unknown path 404")
    func listenAndReply() async throws {
        let harness = try EngineHarness(
            connectors: ["local": Self.broker,
                         "web": #"{"type": "http-listener", "host": "127.0.0.1", "port": 0, "token": "s3cret"}"#],
            processes: ["ingest": """
                {"listen": {"connector": "web", "path": "/ingest", "method": "POST"},
                 "steps": [{"filter": {"field": "payload.ok", "eq": true}},
                           {"send": {"connector": "local", "topic": "ingested/{{payload.id}}", "qos": 1}},
                           {"reply": {"status": 202, "body": "accepted {{payload.id}}"}}]}
                """])
        try await harness.runHTTP(connector: "web", routes: ["POST /ingest"]) { h, port in
            let out = try await h.broker.subscribe(clientID: "checker", subscriptions: [MQTTSubscription(topicFilter: "ingested/#", qos: .atLeastOnce)], cleanStart: true)
            let client = CurlClient()
            let url = "http://127.0.0.1:\(port)/ingest?src=test"
            let auth = [("Authorization", "Bearer s3cret"), ("Content-Type", "application/json")]

            let accepted = try await client.perform(CurlRequest(url: url, method: "POST", headers: auth, body: Array(#"{"ok": true, "id": 5}"#.utf8)))
            #expect(accepted.status == 202)
            #expect(String(buffer: accepted.body) == "accepted 5")
            let delivery = try #require(await withTimeout(.seconds(15)) { await out.first { _ in true } })
            #expect(delivery.topic == "ingested/5" && String(buffer: delivery.payload) == #"{"ok": true, "id": 5}"#)
            await delivery.ack()

            let filtered = try await client.perform(CurlRequest(url: url, method: "POST", headers: auth, body: Array(#"{"ok": false}"#.utf8)))
            #expect(filtered.status == 422)

            let unauthorized = try await client.perform(CurlRequest(url: url, method: "POST", body: Array("{}".utf8)))
            #expect(unauthorized.status == 401)
            let unknown = try await client.perform(CurlRequest(url: "http://127.0.0.1:\(port)/other", method: "POST", headers: auth))
            #expect(unknown.status == 404)
            let wrongMethod = try await client.perform(CurlRequest(url: url, method: "GET", headers: auth))
            #expect(wrongMethod.status == 405)

            let events = try h.trackingEvents()
            #expect(events.contains { $0.event == .filtered && $0.process == "ingest" })
            #expect(events.filter { $0.event == .completed }.count == 2)
        }
    }

    @Test("Without a reply step the answer is 200 with the last payload; a failed send answers 5xx")
    func defaultReplyAndFailure() async throws {
        let harness = try EngineHarness(
            connectors: ["local": Self.broker, "web": #"{"type": "http-listener", "port": 0}"#,
                         "out": #"{"type": "file", "directory": "blocked"}"#],
            processes: [
                "echo": #"{"listen": {"connector": "web", "path": "/echo", "method": "PUT"}, "steps": [{"map": {"seen": "{{properties.http.method}}"}}]}"#,
                "broken": #"{"listen": {"connector": "web", "path": "/broken"}, "steps": [{"send": {"connector": "out", "name": "x.json"}}]}"#,
            ])
        try Data("not a folder".utf8).write(to: harness.root.appendingPathComponent("blocked"))
        try await harness.runHTTP(connector: "web", routes: ["PUT /echo", "POST /broken"]) { _, port in
            let client = CurlClient()
            let echo = try await client.perform(CurlRequest(url: "http://127.0.0.1:\(port)/echo", method: "PUT", body: Array("x".utf8)))
            #expect(echo.status == 200)
            #expect(String(buffer: echo.body).contains("seen"))
            let broken = try await client.perform(CurlRequest(url: "http://127.0.0.1:\(port)/broken", method: "POST", body: Array("y".utf8)))
            #expect((500..<600).contains(broken.status))
        }
    }
}
