import Foundation
import Logging
import MQTTBroker

/// What every process of a daemon shares, and how a runner is made from a definition.
struct ProcessEnvironment: Sendable {
    let broker: MQTTBroker?
    let resources: EngineResources
    let tracking: TrackingLog
    let logger: Logger
    let baseDirectory: URL
    /// Where caches marked `persist` keep their files (`<data>/caches/<process>.sqlite`); nil keeps them in memory.
    var dataDirectory: URL? = nil

    func runner(_ process: ProcessDefinition, connectors: [String: ConnectorDefinition]) -> ProcessRunner {
        let caches = CacheStore(definitions: process.caches,
                                file: dataDirectory?.appendingPathComponent("caches/\(process.name).sqlite"), logger: logger)
        return ProcessRunner(context: ProcessContext(
            definition: process, connectors: connectors, broker: broker, resources: resources, caches: caches,
            tracking: tracking, logger: logger, baseDirectory: baseDirectory))
    }

    /// Throws when the runner cannot be served by this daemon as it runs now (a connector that
    /// needs a resource made at start, like a new external MQTT connection or HTTP listener).
    func check(_ runner: ProcessRunner) throws {
        try runner.context.checkEndpoints()
        for name in runner.context.definition.connectorNames.sorted() {
            if case .mqtt? = runner.context.connectors[name]?.kind, runner.context.definition.sendsTo(name),
               resources.mqtt.connections[name] == nil {
                throw ProcessError(message: "connector \(name): a new external MQTT connection needs a restart of the daemon", permanent: true)
            }
        }
    }

    /// Whether a connector the process uses differs between the two contexts. The embedded
    /// broker's own settings do not count: they reload by themselves.
    func connectorsChanged(_ old: ProcessContext, _ new: ProcessContext) -> Bool {
        let names = old.definition.connectorNames.union(new.definition.connectorNames)
        return names.contains { name in
            let (before, after) = (old.connectors[name], new.connectors[name])
            if case .mqttBroker? = before?.kind, case .mqttBroker? = after?.kind { return false }
            return before != after
        }
    }

    /// A paused HTTP Listen's route answers 503 (try again later) instead of 404.
    func markPaused(_ runner: ProcessRunner, _ paused: Bool) {
        guard case .http(let listen) = runner.context.definition.listen else { return }
        resources.http.server(for: listen.connector)?.setPaused(HTTPListenerServer.Route(method: listen.method, path: listen.path), paused)
    }

    /// Ends the persistent in-process session of a process that is gone, so the broker stops
    /// queueing messages for it.
    func discardSession(of runner: ProcessRunner) async {
        guard let broker, case .mqtt(let listen) = runner.context.definition.listen,
              case .mqttBroker? = runner.context.connectors[listen.connector]?.kind else { return }
        do {
            let session = try await broker.subscribe(clientID: runner.clientID, subscriptions: [], cleanStart: true, sessionExpiry: 0)
            await session.close()
        } catch {
            logger.warning("could not end the session of a deleted process", metadata: ["process.name": "\(runner.context.name)", "error": "\(error)"])
        }
    }
}
