import Foundation
import Junction
import Logging
import MQTTBroker
import MQTTCore
import NIOCore
import ServiceLifecycle
import Testing

@Suite("Reload on save, pause, resume and restart", .timeLimit(.minutes(1)))
struct ReloadTests {
    static let local = #"{"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}}"#

    static func copy(_ from: String, to: String) -> String {
        #"{"listen": {"connector": "local", "topic": "\#(from)", "qos": 1}, "steps": [{"send": {"connector": "local", "topic": "\#(to)", "qos": 1}}]}"#
    }

    func next(_ subscription: BrokerSubscription) async throws -> BrokerDelivery {
        let received = try await subscription.next()
        await received.ack()
        return received
    }

    /// Writes a process file and waits until the engine applied the reload it causes.
    func save(_ h: EngineHarness, _ name: String, _ json: String?) async throws -> ProcessSupervisor.ReloadReport {
        let before = h.engine.supervisor.lastReload.count
        let file = h.root.appendingPathComponent("Processes/\(name).json")
        // Atomic (temporary file and rename): a poll in the middle of a plain write would see a
        // truncated file, refuse it, and count as the reload this waits for.
        if let json { try Data(json.utf8).write(to: file, options: .atomic) } else { try FileManager.default.removeItem(at: file) }
        try await waitUntil("the reload of \(name).json") { h.engine.supervisor.lastReload.count > before }
        return try #require(h.engine.supervisor.lastReload.report)
    }

    @Test("Saving a file restarts only its process with the session kept; an invalid edit is refused; deleting stops; a new file starts")
    func reloadOnSave() async throws {
        let (root, definitions) = try definitionFolder(
            connectors: ["local": Self.local, "out": #"{"type": "file", "directory": "blocked"}"#],
            processes: ["a": #"{"listen": {"connector": "local", "topic": "in/a", "qos": 1}, "steps": [{"send": {"connector": "out", "name": "x"}}]}"#,
                        "b": Self.copy("in/b", to: "out/b")])
        try Data("not a folder".utf8).write(to: root.appendingPathComponent("blocked"))
        let harness = try EngineHarness(definitions: definitions, root: root, listeners: [], watch: DefinitionDirectories(
            processes: root.appendingPathComponent("Processes").path, connectors: root.appendingPathComponent("Connectors").path,
            interval: .milliseconds(50)))
        try await harness.run { h in
            let out = try await h.broker.subscribe(clientID: "checker", subscriptions: [MQTTSubscription(topicFilter: "out/#", qos: .atLeastOnce)],
                                                   cleanStart: true)
            // Version 1 of a cannot write its file: the message stays unacknowledged in a's session.
            try await h.broker.publish(topic: "in/a", payload: ByteBuffer(string: "kept"), qos: .atLeastOnce)
            try await waitUntil("a failed") { try h.trackingEvents().contains { $0.process == "a" && $0.event == .failed } }
            #expect(try await h.session("a")?.inflight == 1)

            // Version 2 sends to MQTT: only a restarts, and gets the kept message again from its session.
            let fixed = try await save(h, "a", Self.copy("in/a", to: "out/a"))
            #expect(fixed.restarted == ["a"] && fixed.started.isEmpty && fixed.stopped.isEmpty && fixed.refused.isEmpty, "\(fixed)")
            let redelivered = try await next(out)
            #expect(redelivered.topic == "out/a" && String(buffer: redelivered.payload) == "kept")
            try await waitUntil("a acknowledged") { try await h.session("a")?.inflight == 0 }

            // An invalid edit is refused and version 2 keeps running.
            let broken = try await save(h, "a", #"{"listen": {"connector": "local", "topic": "in/a"}, "steps": [{"send": {"connector": "nope", "topic": "x"}}]}"#)
            #expect(broken.restarted.isEmpty && broken.refused["a"]?.contains("steps[0].send.connector: unknown connector \"nope\"") == true, "\(broken)")
            try await h.broker.publish(topic: "in/a", payload: ByteBuffer(string: "still"), qos: .atLeastOnce)
            let still = try await next(out)
            #expect(still.topic == "out/a" && String(buffer: still.payload) == "still")

            // Deleting b stops it and ends its session; a new file starts c.
            let deleted = try await save(h, "b", nil)
            #expect(deleted.stopped == ["b"] && deleted.restarted.isEmpty && deleted.refused.isEmpty, "\(deleted)")
            try await waitUntil("b's session ended") { try await h.session("b") == nil }
            #expect(h.engine.status.snapshot["b"] == nil)
            let added = try await save(h, "c", Self.copy("in/c", to: "out/c"))
            #expect(added.started == ["c"] && added.restarted.isEmpty, "\(added)")
            try await waitUntil("c listening") { try await h.session("c")?.connected == true }
            try await h.broker.publish(topic: "in/c", payload: ByteBuffer(string: "new"), qos: .atLeastOnce)
            let fromC = try await next(out)
            #expect(fromC.topic == "out/c" && String(buffer: fromC.payload) == "new")
            #expect(Set(h.engine.runners.map(\.context.name)) == ["a", "c"])

            // A changed Listen topic: the old filter does not stay subscribed in the session.
            let moved = try await save(h, "c", Self.copy("in/c2", to: "out/c"))
            #expect(moved.restarted == ["c"], "\(moved)")
            try await waitUntil("c subscribed to its new topic only") { try await h.session("c")?.subscriptions == ["in/c2"] }
        }
    }

    @Test("Changing a connector file restarts the processes that use it, not the others")
    func connectorChange() async throws {
        let (root, definitions) = try definitionFolder(
            connectors: ["local": Self.local, "files": #"{"type": "file", "directory": "one"}"#],
            processes: ["writer": #"{"listen": {"connector": "local", "topic": "w", "qos": 1}, "steps": [{"send": {"connector": "files", "name": "f.txt"}}]}"#,
                        "other": Self.copy("in/o", to: "out/o")])
        let harness = try EngineHarness(definitions: definitions, root: root, listeners: [], watch: DefinitionDirectories(
            processes: root.appendingPathComponent("Processes").path, connectors: root.appendingPathComponent("Connectors").path,
            interval: .milliseconds(50)))
        try await harness.run { h in
            let before = h.engine.supervisor.lastReload.count
            try Data(#"{"type": "file", "directory": "two"}"#.utf8).write(to: root.appendingPathComponent("Connectors/files.json"), options: .atomic)
            try await waitUntil("the reload") { h.engine.supervisor.lastReload.count > before }
            #expect(h.engine.supervisor.lastReload.report?.restarted == ["writer"])
            try await waitUntil("writer listening again") { try await h.session("writer")?.connected == true }
            try await h.broker.publish(topic: "w", payload: ByteBuffer(string: "to two"), qos: .atLeastOnce)
            try await waitUntil("written to the new directory") {
                FileManager.default.fileExists(atPath: root.appendingPathComponent("two/f.txt").path)
            }
        }
    }

    @Test("POST /api/processes/NAME/pause|resume|restart over HTTP; a paused process's messages wait in its session")
    func adminControl() async throws {
        let (root, definitions) = try definitionFolder(connectors: ["local": Self.local], processes: ["copy": Self.copy("in", to: "out")])
        defer { try? FileManager.default.removeItem(at: root) }
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let engine = Engine(definitions: definitions, dataDirectory: root.appendingPathComponent(".junction"), baseDirectory: root,
                            logger: quiet, listeners: [], admin: AdminConfiguration(port: 0), onAdminBound: { portSink.yield($0) })
        let broker = try #require(engine.broker)
        let group = ServiceGroup(configuration: .init(services: engine.services, logger: quiet))
        let client = CurlClient()
        func post(_ port: Int, _ path: String) async throws -> (Int, String) {
            let response = try await client.perform(CurlRequest(url: "http://127.0.0.1:\(port)/\(path)", method: "POST", timeoutMilliseconds: 5000))
            return (response.status, String(buffer: response.body))
        }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                let port = try #require(await withTimeout(.seconds(20)) { await ports.first { _ in true } })
                try await waitUntil("copy listening") { try await broker.session(clientID: "junction.process.copy")?.connected == true }
                let out = try await broker.subscribe(clientID: "checker", subscriptions: [MQTTSubscription(topicFilter: "out", qos: .atLeastOnce)],
                                                     cleanStart: true)

                #expect(try await post(port, "api/processes/copy/pause") == (200, #"{"name":"copy","status":"paused"}"# + "\n"))
                let session = try await broker.session(clientID: "junction.process.copy")
                #expect(session?.connected == false && session?.subscriptions == ["in"])
                for i in 0..<2 { try await broker.publish(topic: "in", payload: ByteBuffer(string: "m\(i)"), qos: .atLeastOnce) }
                #expect(try await broker.session(clientID: "junction.process.copy")?.queued == 2)
                let listed = try await client.perform(CurlRequest(url: "http://127.0.0.1:\(port)/api/processes", timeoutMilliseconds: 5000))
                #expect(String(buffer: listed.body) == #"[{"name":"copy","status":"paused"}]"# + "\n")

                #expect(try await post(port, "api/processes/copy/resume") == (200, #"{"name":"copy","status":"running"}"# + "\n"))
                var payloads: [String] = []
                for _ in 0..<2 { payloads.append(String(buffer: try await next(out).payload)) }
                #expect(payloads.sorted() == ["m0", "m1"])

                #expect(try await post(port, "api/processes/copy/restart").0 == 200)
                try await waitUntil("copy listening after the restart") {
                    try await broker.session(clientID: "junction.process.copy")?.connected == true
                }
                try await broker.publish(topic: "in", payload: ByteBuffer(string: "after"), qos: .atLeastOnce)
                #expect(String(buffer: try await next(out).payload) == "after")

                #expect(try await post(port, "api/processes/nope/pause").0 == 404)
                #expect(try await post(port, "api/processes/copy/explode").0 == 404)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("A paused HTTP Listen answers 503 until it is resumed")
    func pausedHTTPRoute() async throws {
        let harness = try EngineHarness(
            connectors: ["local": Self.local, "web": #"{"type": "http-listener", "port": 0}"#],
            processes: ["echo": #"{"listen": {"connector": "web", "path": "/echo"}, "steps": [{"map": {"seen": "{{properties.http.method}}"}}]}"#])
        try await harness.runHTTP(connector: "web", routes: ["POST /echo"]) { h, port in
            let client = CurlClient()
            let request = CurlRequest(url: "http://127.0.0.1:\(port)/echo", method: "POST", body: Array("x".utf8))
            #expect(try await client.perform(request).status == 200)
            #expect(await h.engine.supervisor.pause("echo") == .done(.paused))
            let paused = try await client.perform(request)
            #expect(paused.status == 503 && String(buffer: paused.body).contains("paused"))
            #expect(try await client.perform(CurlRequest(url: "http://127.0.0.1:\(port)/other", method: "POST")).status == 404)
            #expect(await h.engine.supervisor.resume("echo") == .done(.running))
            try await waitUntil("the route served again") { h.engine.resources.http.routes(of: "web").contains("POST /echo") }
            #expect(try await client.perform(request).status == 200)
            #expect(await h.engine.supervisor.pause("nope") == .unknownProcess)
        }
    }

    @Test("A new process on an http-listener no process used at start gets its server from the reload")
    func newHTTPListener() async throws {
        let (root, definitions) = try definitionFolder(
            connectors: ["local": Self.local, "web": #"{"type": "http-listener", "port": 0}"#],
            processes: ["copy": Self.copy("in", to: "out")])
        let harness = try EngineHarness(definitions: definitions, root: root, listeners: [], watch: DefinitionDirectories(
            processes: root.appendingPathComponent("Processes").path, connectors: root.appendingPathComponent("Connectors").path,
            interval: .milliseconds(50)))
        try await harness.run { h in
            #expect(h.engine.resources.http.routes(of: "web").isEmpty)
            let added = try await save(h, "hook", #"{"listen": {"connector": "web", "path": "/hook"}, "steps": [{"reply": {"status": 201, "body": "hooked"}}]}"#)
            #expect(added.started == ["hook"] && added.refused.isEmpty, "\(added)")
            try await waitUntil("the route served") { h.engine.resources.http.routes(of: "web") == ["POST /hook"] }
            let port = try await h.engine.resources.http.boundPort(of: "web")
            let answer = try await CurlClient().perform(CurlRequest(url: "http://127.0.0.1:\(port)/hook", method: "POST", body: Array("x".utf8)))
            #expect(answer.status == 201 && String(buffer: answer.body) == "hooked")
        }
    }

    @Test("Saving an http-listener connector with a new token applies it to the next request")
    func tokenRotation() async throws {
        let (root, definitions) = try definitionFolder(
            connectors: ["local": Self.local, "web": #"{"type": "http-listener", "port": 0, "token": "one"}"#],
            processes: ["hook": #"{"listen": {"connector": "web", "path": "/hook"}, "steps": [{"reply": {"status": 202}}]}"#])
        let harness = try EngineHarness(definitions: definitions, root: root, listeners: [], watch: DefinitionDirectories(
            processes: root.appendingPathComponent("Processes").path, connectors: root.appendingPathComponent("Connectors").path,
            interval: .milliseconds(50)))
        try await harness.runHTTP(connector: "web", routes: ["POST /hook"]) { h, port in
            let client = CurlClient()
            func status(_ token: String) async throws -> Int {
                try await client.perform(CurlRequest(url: "http://127.0.0.1:\(port)/hook", method: "POST",
                                                     headers: [("Authorization", "Bearer \(token)")])).status
            }
            #expect(try await status("one") == 202)
            let before = h.engine.supervisor.lastReload.count
            try Data(#"{"type": "http-listener", "port": 0, "token": "two"}"#.utf8).write(to: root.appendingPathComponent("Connectors/web.json"), options: .atomic)
            try await waitUntil("the reload") { h.engine.supervisor.lastReload.count > before }
            #expect(h.engine.supervisor.lastReload.report?.restarted == ["hook"])
            try await waitUntil("the route served again") { h.engine.resources.http.routes(of: "web") == ["POST /hook"] }
            #expect(try await status("one") == 401)
            #expect(try await status("two") == 202)
        }
    }
}
