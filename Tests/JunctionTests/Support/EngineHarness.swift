import Foundation
import Junction
import Logging
import MQTTBroker
import ServiceLifecycle
import Testing

/// A daemon in-process: definitions in a temporary folder, the engine's services in a group.
struct EngineHarness {
    let root: URL
    let engine: Engine
    let broker: MQTTBroker

    init(connectors: [String: String], processes: [String: String]) throws {
        let definitions: Definitions
        (root, definitions) = try definitionFolder(connectors: connectors, processes: processes)
        engine = Engine(definitions: definitions, dataDirectory: root.appendingPathComponent(".junction"), baseDirectory: root,
                        logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), listeners: [])
        broker = try #require(engine.broker)
    }

    /// Runs the engine's services around `body`, then shuts them down gracefully: `body` starts
    /// once every process has its session on the embedded broker.
    func run(_ body: @Sendable (EngineHarness) async throws -> Void) async throws {
        try await run(until: { try await processSessionsReady() }, body)
    }

    /// Runs the engine's services around `body` once `ready` holds (processes whose Listen is
    /// not on the embedded broker have no session there to wait for), then shuts them down.
    func run(until ready: @escaping @Sendable () async throws -> Bool, _ body: @Sendable (EngineHarness) async throws -> Void) async throws {
        let group = ServiceGroup(configuration: .init(services: engine.services, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { try? FileManager.default.removeItem(at: root) }
            do {
                try await waitUntil("processes ready", timeout: .seconds(30)) { try await ready() }
                try await body(self)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    func processSessionsReady() async throws -> Bool {
        for runner in engine.runners where try await broker.session(clientID: runner.clientID)?.connected != true { return false }
        return true
    }

    func session(_ process: String) async throws -> BrokerSessionInfo? {
        try await broker.session(clientID: "junction.process.\(process)")
    }

    /// Every tracking event written so far.
    func trackingEvents() throws -> [TrackingEvent] {
        engine.tracking.flush()
        return try readTrackingEvents(in: root.appendingPathComponent(".junction/tracking"))
    }
}

/// Every tracking event in the day files of `directory`, oldest day first; a line that is not a
/// whole event fails the test (``TrackReport/events(in:)`` would skip it).
func readTrackingEvents(in directory: URL) throws -> [TrackingEvent] {
    let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? []
    let decoder = TrackReport.makeDecoder()
    return try files.sorted { $0.path < $1.path }.flatMap { file in
        try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map { try decoder.decode(TrackingEvent.self, from: Data($0.utf8)) }
    }
}

extension EngineHarness {
    /// Like `run`, for engines whose processes listen on HTTP: waits until every listener is
    /// bound and `routes` are served instead of waiting for broker sessions.
    func runHTTP(connector: String, routes: [String], _ body: @Sendable (EngineHarness, Int) async throws -> Void) async throws {
        try await run(until: { Set(routes).isSubset(of: engine.resources.http.routes(of: connector)) }) { harness in
            try await body(harness, try await harness.engine.resources.http.boundPort(of: connector))
        }
    }
}

/// Definitions in a temporary folder, loaded as `junction run` loads them.
func definitionFolder(connectors: [String: String], processes: [String: String]) throws -> (URL, Definitions) {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("reload-\(UUID())")
    for (folder, files) in [("Connectors", connectors), ("Processes", processes)] {
        let directory = root.appendingPathComponent(folder)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, json) in files { try Data(json.utf8).write(to: directory.appendingPathComponent("\(name).json")) }
    }
    let definitions = DefinitionLoader.load(processes: root.appendingPathComponent("Processes").path,
                                            connectors: root.appendingPathComponent("Connectors").path)
    guard definitions.problems.isEmpty else { throw DefinitionError(problems: definitions.problems) }
    return (root, definitions)
}
