import Foundation
import Logging
import MQTTBroker
import MQTTCore
import ServiceLifecycle

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
