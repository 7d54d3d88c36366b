import Foundation
import Junction
import Testing

/// `junction run` as a child process, killed with SIGKILL while documents wait for a slow HTTP
/// server, then restarted on the same data directory.
@Suite("Engine: junction run killed with SIGKILL while documents are in flight", .timeLimit(.minutes(1)))
struct EngineCrashTests {
    static let count = 10
    static let maxInFlight = 4

    @Test("Every acknowledged QoS 1 message reaches the HTTP server after a SIGKILL and restart; the tracking log shows the in-flight ones redelivered (dup)")
    func inFlightDocumentsRedeliveredAfterKill() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("junction-enginekill-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        for folder in ["Processes", "Connectors"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        // The HTTP server holds every answer at the gate: the documents stay in flight.
        let gate = Gate()
        let server = RecordingServer(gate: gate)
        try await server.run { httpPort in
            try Self.writeDefinitions(root: root, httpPort: httpPort)
            do {
                try await Self.killAndRestart(root: root, server: server, gate: gate)
            } catch {
                await gate.release()  // the server's shutdown waits for the requests held at the gate
                throw error
            }
            await gate.release()
        }
    }

    static func writeDefinitions(root: URL, httpPort: Int) throws {
        try Data(#"{"type": "mqtt-broker", "listeners": [{"host": "127.0.0.1", "port": 0}], "mqtt": {"sysInterval": "off"}}"#.utf8)
            .write(to: root.appendingPathComponent("Connectors/local.json"))
        try Data(#"{"type": "http", "baseUrl": "http://127.0.0.1:\#(httpPort)", "timeout": "60s"}"#.utf8)
            .write(to: root.appendingPathComponent("Connectors/api.json"))
        try Data(#"""
            {"listen": {"connector": "local", "topic": "orders/in", "qos": 1,
                        "tracking": {"n": "{{payload.n}}", "dup": "{{properties.dup}}"}},
             "steps": [{"send": {"connector": "api", "path": "/orders", "method": "POST"}}],
             "maxInFlight": \#(maxInFlight)}
            """#.utf8).write(to: root.appendingPathComponent("Processes/forward.json"))
    }

    static func killAndRestart(root: URL, server: RecordingServer, gate: Gate) async throws {
        let data = root.appendingPathComponent(".junction")
        let arguments = ["run", "--processes", "Processes", "--connectors", "Connectors", "--data", data.path,
                         "--admin-port", "0", "--log-format", "json"]
        let bodies = (0..<count).map { #"{"n": \#($0)}"# }

        // First run: every message is acknowledged by the broker (so durable), maxInFlight of
        // them are taken by the process and wait for their HTTP answer; then SIGKILL.
        let first = try JunctionChild(arguments, directory: root)
        defer { first.kill() }
        let firstPort = try await first.brokerPort()
        try await first.waitForLine(containing: "process started")
        try await withMQTTClient(port: firstPort) { client in
            for body in bodies { try await client.publish(to: "orders/in", string: body, qos: .atLeastOnce) }
        }
        var inFlight: Set<String> = []
        do {
            for _ in 0..<maxInFlight { inFlight.insert(try await server.next().body) }
        } catch {
            Issue.record("junction run's log: \(first.errorOutput)")
            throw error
        }
        #expect(inFlight.count == maxInFlight && inFlight.isSubset(of: bodies), "\(inFlight)")
        first.kill()
        // The requests of the dead daemon are answered into closed connections; the next run's go through.
        await gate.release()

        // Second run on the same data directory: the broker restores the process's session and
        // delivers what was never acknowledged again.
        let second = try JunctionChild(arguments, directory: root)
        defer { second.kill() }
        _ = try await second.brokerPort()
        var delivered: [String] = []
        do {
            while !Set(bodies).isSubset(of: delivered), delivered.count < 3 * count {
                delivered.append(try await server.next().body)
            }
        } catch {
            Issue.record("delivered after the restart: \(delivered); junction run's log: \(second.errorOutput)")
            throw error
        }
        #expect(Set(bodies).isSubset(of: delivered), "every published message reached the HTTP server: \(delivered)")
        #expect(inFlight.isSubset(of: delivered), "the documents in flight at the kill came again")

        // The tracking log: every message completed, the in-flight ones received again as MQTT
        // redeliveries (dup=true, a new document id).
        let numbers = Set((0..<count).map(String.init))
        let inFlightNumbers = Set(try inFlight.map { try number(in: $0) })
        var events: [TrackingEvent] = []
        try await waitUntil("every message completed in the tracking log") {
            events = try trackingEvents(data)
            return numbers.isSubset(of: events.filter { $0.event == .completed }.compactMap { $0.fields?["n"] })
        }
        let redelivered = Set(events.filter { $0.event == .received && $0.fields?["dup"] == "true" }.compactMap { $0.fields?["n"] })
        #expect(inFlightNumbers.isSubset(of: redelivered),
                "received with dup=true: \(redelivered.sorted()); in flight at the kill: \(inFlightNumbers.sorted())")
        let receivedIDs = events.filter { $0.event == .received }.map(\.document)
        #expect(Set(receivedIDs).count == receivedIDs.count, "each delivery is a document of its own")
        second.kill()
    }

    /// "7" from `{"n": 7}`.
    static func number(in body: String) throws -> String {
        let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Int]
        return try #require(object?["n"].map(String.init), "not an order: \(body)")
    }

    /// Every event of `<data>/tracking/*.jsonl`, in file order.
    static func trackingEvents(_ data: URL) throws -> [TrackingEvent] {
        let directory = data.appendingPathComponent("tracking")
        let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? []
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            return try Date(text, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true))
        }
        return try files.filter { $0.pathExtension == "jsonl" }.sorted { $0.path < $1.path }.flatMap { file in
            try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map { try decoder.decode(TrackingEvent.self, from: Data($0.utf8)) }
        }
    }
}
