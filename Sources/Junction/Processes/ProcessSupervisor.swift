import Foundation
import Logging
import MQTTBroker
import ServiceLifecycle
import Synchronization

/// Owns the running processes (docs/design.md): each runs in a service group of its own, so one can
/// be stopped gracefully (its documents in flight finish) while the others go on. Pause, resume,
/// restart and reloads of changed definitions are commands handled one at a time; graceful
/// shutdown of the daemon stops every process and waits for them.
///
/// A stopped process keeps its persistent broker session (`junction.process.<name>`, or its
/// session on an external broker), so messages arriving meanwhile wait there and unacknowledged
/// ones come again when it starts.
public final class ProcessSupervisor: Service, Sendable {
    /// What a pause, resume or restart did.
    public enum ControlResult: Sendable, Hashable {
        case done(ProcessStatusBoard.State)
        case unknownProcess
        case refused(String)
    }

    /// What a reload did, by process name.
    public struct ReloadReport: Sendable, Hashable {
        public var started: [String] = []
        public var restarted: [String] = []
        public var stopped: [String] = []
        /// Processes whose new version was refused (the old one, if any, keeps running), with why.
        public var refused: [String: String] = [:]
    }

    struct Entry: Sendable {
        var runner: ProcessRunner
        /// The file's contents when this version was loaded.
        var source: Data?
        var paused = false
        var handle: Handle?
    }

    /// A process running in its own service group.
    struct Handle: Sendable {
        let group: ServiceGroup
        let finished: OnceValue<Void>
    }

    enum Command: Sendable {
        case pause(String), resume(String), restart(String)
        case reload(Definitions, [String: DefinitionFile])
    }

    enum Reply: Sendable {
        case control(ControlResult)
        case reload(ReloadReport)
    }

    let environment: ProcessEnvironment
    let status: ProcessStatusBoard
    private let entries: Mutex<[String: Entry]>
    private let reloads = Mutex<(count: Int, report: ReloadReport?)>((0, nil))
    /// The contents of process files refused at the last reload, so a refusal is reported once.
    let refusedSources = Mutex<[String: Data]>([:])
    /// Servers of http-listener connectors first used by a reload; stopped after the processes.
    let addedServers = Mutex<[ServiceGroup]>([])
    private let commands: AsyncStream<(Command, CheckedContinuation<Reply, Never>)>
    private let sink: AsyncStream<(Command, CheckedContinuation<Reply, Never>)>.Continuation

    init(definitions: Definitions, environment: ProcessEnvironment, status: ProcessStatusBoard) {
        self.environment = environment
        self.status = status
        var entries: [String: Entry] = [:]
        for (name, process) in definitions.processes {
            entries[name] = Entry(runner: environment.runner(process, connectors: definitions.connectors),
                                  source: FileManager.default.contents(atPath: process.file))
        }
        self.entries = Mutex(entries)
        (commands, sink) = AsyncStream.makeStream()
    }

    /// The runners of the processes known now, by name.
    public var runners: [ProcessRunner] {
        entries.withLock { entries in entries.keys.sorted().compactMap { entries[$0]?.runner } }
    }

    /// Stops the process, keeping its session; it stays stopped until resumed (a reload of its
    /// file does not start it).
    public func pause(_ name: String) async -> ControlResult { await control(.pause(name)) }

    /// Starts a paused process again (or one that ended because it could not start).
    public func resume(_ name: String) async -> ControlResult { await control(.resume(name)) }

    /// Stops the process and starts it again with the same definition.
    public func restart(_ name: String) async -> ControlResult { await control(.restart(name)) }

    /// Applies newly loaded definitions: processes whose file or connectors changed are
    /// restarted, new ones started, deleted ones stopped, and those whose file now has problems
    /// refused (the old version keeps running). `files` holds the contents of every process
    /// file there is now, by process name (the file stem).
    public func reload(_ definitions: Definitions, files: [String: DefinitionFile]) async -> ReloadReport {
        guard case .reload(let report) = await send(.reload(definitions, files)) else { return ReloadReport() }
        return report
    }

    /// How many reloads were applied, and what the last one did.
    public var lastReload: (count: Int, report: ReloadReport?) { reloads.withLock { $0 } }

    private func control(_ command: Command) async -> ControlResult {
        guard case .control(let result) = await send(command) else { return .refused("the engine is stopping") }
        return result
    }

    private func send(_ command: Command) async -> Reply {
        await withCheckedContinuation { continuation in
            if case .terminated = sink.yield((command, continuation)) {
                continuation.resume(returning: .control(.refused("the engine is stopping")))
            }
        }
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { tasks in
            for name in entries.withLock({ $0.keys.sorted() }) { launch(name, in: &tasks) }
            await withGracefulShutdownHandler {
                for await (command, reply) in commands {
                    reply.resume(returning: await handle(command, in: &tasks))
                }
            } onGracefulShutdown: { [sink] in
                sink.finish()
            }
            let running = entries.withLock { $0.values.compactMap(\.handle) }
            for handle in running { await handle.group.triggerGracefulShutdown() }
            for handle in running { try? await handle.finished.value() }
            for server in addedServers.withLock({ $0 }) { await server.triggerGracefulShutdown() }
            await tasks.waitForAll()
        }
        // Commands sent while stopping get an answer too.
        for await (_, reply) in commands { reply.resume(returning: .control(.refused("the engine is stopping"))) }
    }

    private func handle(_ command: Command, in tasks: inout TaskGroup<Void>) async -> Reply {
        switch command {
        case .pause(let name):
            guard entries.withLock({ $0[name] }) != nil else { return .control(.unknownProcess) }
            await halt(name)
            entries.withLock { $0[name]?.paused = true }
            if let runner = entry(name)?.runner { environment.markPaused(runner, true) }
            status.set(name, .paused)
            environment.logger.notice("process paused", metadata: ["process.name": "\(name)"])
            return .control(.done(.paused))
        case .resume(let name):
            guard let entry = entries.withLock({ $0[name] }) else { return .control(.unknownProcess) }
            entries.withLock { $0[name]?.paused = false }
            // Paused, or ended on its own (it could not start): start it (again).
            if let handle = entry.handle, handle.finished.isSettled { await halt(name) }
            launch(name, in: &tasks)
            environment.logger.notice("process resumed", metadata: ["process.name": "\(name)"])
            return .control(.done(.running))
        case .restart(let name):
            guard entries.withLock({ $0[name] }) != nil else { return .control(.unknownProcess) }
            await halt(name)
            entries.withLock { $0[name]?.paused = false }
            launch(name, in: &tasks)
            environment.logger.notice("process restarted", metadata: ["process.name": "\(name)"])
            return .control(.done(.running))
        case .reload(let definitions, let files):
            let report = await apply(definitions, files: files, in: &tasks)
            reloads.withLock { $0 = ($0.count + 1, report) }
            return .reload(report)
        }
    }

    /// Starts the entry's runner in a service group of its own.
    func launch(_ name: String, in tasks: inout TaskGroup<Void>) {
        guard let entry = entries.withLock({ $0[name] }), !entry.paused, entry.handle == nil else { return }
        environment.markPaused(entry.runner, false)
        let service = ReportingService(runner: entry.runner, status: status, logger: environment.logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup,
                             failureTerminationBehavior: .gracefullyShutdownGroup)],
            logger: environment.logger))
        let finished = OnceValue<Void>()
        entries.withLock { $0[name]?.handle = Handle(group: group, finished: finished) }
        status.set(name, .starting)
        tasks.addTask {
            try? await group.run()
            finished.set(())
        }
        // A one-time fresh session (after the Listen's filter changed) is not fresh again.
        entries.withLock { $0[name]?.runner.freshSession = false }
    }

    /// Stops the process gracefully (its documents in flight finish) and waits for it.
    func halt(_ name: String) async {
        guard let handle = entries.withLock({ entries in
            defer { entries[name]?.handle = nil }
            return entries[name]?.handle
        }) else { return }
        await handle.group.triggerGracefulShutdown()
        try? await handle.finished.value()
    }

    func remove(_ name: String) async {
        await halt(name)
        if let runner = entry(name)?.runner { environment.markPaused(runner, false) }
        _ = entries.withLock { $0.removeValue(forKey: name) }
        status.remove(name)
    }

    func replace(_ name: String, with entry: Entry) {
        entries.withLock { $0[name] = entry }
    }

    func entry(_ name: String) -> Entry? { entries.withLock { $0[name] } }

    var names: [String] { entries.withLock { $0.keys.sorted() } }
}
