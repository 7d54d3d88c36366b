import Foundation
import Logging
import MQTTBroker
import MQTTCore
import ServiceLifecycle

/// A process definition file as read for a reload.
public struct DefinitionFile: Sendable, Hashable {
    public var path: String
    public var contents: Data

    public init(path: String, contents: Data) {
        self.path = path
        self.contents = contents
    }
}

extension ProcessSupervisor {
    /// Applies a reload (see ``reload(_:files:)``).
    func apply(_ definitions: Definitions, files: [String: DefinitionFile], in tasks: inout TaskGroup<Void>) async -> ReloadReport {
        var report = ReloadReport()
        let logger = environment.logger
        refusedSources.withLock { refused in refused = refused.filter { files[$0.key] != nil } }
        for name in names where files[name] == nil {
            let runner = entry(name)?.runner
            await remove(name)
            if let runner { await environment.discardSession(of: runner) }
            report.stopped.append(name)
            logger.notice("process stopped: its file was deleted", metadata: ["process.name": "\(name)"])
        }
        for name in files.keys.sorted() {
            guard let file = files[name] else { continue }
            let old = entry(name)
            guard let process = definitions.processes[name] else {
                let known = refusedSources.withLock { refused in
                    defer { refused[name] = file.contents }
                    return refused[name] == file.contents
                }
                if known { continue }  // refused before as it is: reported then
                let problems = definitions.problems.filter { $0.file == file.path }
                let text = problems.isEmpty ? "it could not be loaded" : "\(DefinitionError(problems: problems))"
                report.refused[name] = text
                if old == nil { status.set(name, .failed("refused: \(text)")) }
                logger.error(old == nil ? "new process refused" : "process change refused, the running version stays", metadata: [
                    "process.name": "\(name)", "definition.problems": "\(text)",
                ])
                continue
            }
            _ = refusedSources.withLock { $0.removeValue(forKey: name) }
            var runner = environment.runner(process, connectors: definitions.connectors)
            if let old, old.source == file.contents, !environment.connectorsChanged(old.runner.context, runner.context) { continue }
            do {
                try await startHTTPServerIfNeeded(for: runner, in: &tasks)
                try environment.check(runner)
            } catch {
                report.refused[name] = "\(error)"
                if old == nil { status.set(name, .failed("refused: \(error)")) }
                logger.error("process refused, the running version (if any) stays", metadata: ["process.name": "\(name)", "error": "\(error)"])
                continue
            }
            if let old {
                let connector = process.listen.connector
                if case .httpListener(let listener)? = runner.context.connectors[connector]?.kind,
                   old.runner.context.connectors[connector] != runner.context.connectors[connector],
                   let server = environment.resources.http.server(for: connector) {
                    if server.update(listener) {
                        logger.notice("http-listener settings applied", metadata: ["connector.name": "\(connector)"])
                    } else {
                        logger.warning("a changed http-listener host or port applies when the daemon restarts", metadata: [
                            "process.name": "\(name)", "connector.name": "\(connector)",
                        ])
                    }
                }
                let previous = Self.sessionKey(old.runner.context.definition)
                runner.freshSession = previous != nil && previous != Self.sessionKey(process)
                if runner.freshSession {
                    logger.warning("the listen subscription changed: the process starts a fresh session; what waited in the old one is dropped",
                                   metadata: ["process.name": "\(name)"])
                }
                await halt(name)
                replace(name, with: Entry(runner: runner, source: file.contents, paused: old.paused))
                if old.paused {
                    environment.markPaused(old.runner, false)
                    environment.markPaused(runner, true)
                    status.set(name, .paused)
                } else {
                    launch(name, in: &tasks)
                }
                report.restarted.append(name)
                logger.notice("process reloaded", metadata: ["process.name": "\(name)"])
            } else {
                replace(name, with: Entry(runner: runner, source: file.contents))
                launch(name, in: &tasks)
                report.started.append(name)
                logger.notice("process added", metadata: ["process.name": "\(name)"])
            }
        }
        // A refused new process that is gone again leaves nothing behind.
        for name in status.snapshot.keys where files[name] == nil && entry(name) == nil { status.remove(name) }
        return report
    }

    /// Starts the server of an `http-listener` connector that none of the processes at start
    /// listened on, and waits until it is bound; throws when it cannot bind.
    func startHTTPServerIfNeeded(for runner: ProcessRunner, in tasks: inout TaskGroup<Void>) async throws {
        guard case .http(let listen) = runner.context.definition.listen,
              case .httpListener(let definition)? = runner.context.connectors[listen.connector]?.kind,
              let server = environment.resources.http.makeServer(connector: listen.connector, definition) else { return }
        let group = ServiceGroup(configuration: .init(services: [server], logger: environment.logger))
        addedServers.withLock { $0.append(group) }
        tasks.addTask { try? await group.run() }
        do {
            _ = try await server.boundPort()
        } catch {
            environment.resources.http.dropServer(server)
            throw error
        }
    }

    /// What identifies a Listen's broker subscription; nil when it has none (HTTP, file).
    static func sessionKey(_ process: ProcessDefinition) -> String? {
        guard case .mqtt(let listen) = process.listen else { return nil }
        return "\(listen.connector)|\(listen.shared ?? "")|\(listen.topic.filter)|\(listen.qos.rawValue)|\(listen.noLocal)|"
            + "\(listen.retainAsPublished)|\(listen.retainHandling)"
    }
}

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

extension ProcessDefinition {
    /// Every connector the process names: its Listen, its sends (in routes too), its dead letter.
    var connectorNames: Set<String> {
        var names: Set<String> = [listen.connector]
        names.formUnion(sendConnectors)
        if let dead = onError.deadLetter { names.insert(dead.connector) }
        return names
    }

    /// Whether the process sends (or dead-letters) to `connector`.
    func sendsTo(_ connector: String) -> Bool {
        sendConnectors.contains(connector) || onError.deadLetter?.connector == connector
    }

    private var sendConnectors: Set<String> {
        var names: Set<String> = []
        func walk(_ steps: [StepDefinition]) {
            for step in steps {
                switch step {
                case .send(let send): names.insert(send.connector)
                case .route(let cases, let otherwise):
                    for (_, nested) in cases { walk(nested) }
                    walk(otherwise)
                default: break
                }
            }
        }
        walk(steps)
        return names
    }
}
