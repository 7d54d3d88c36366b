import Foundation
import Logging
import ServiceLifecycle

/// Where `junction run` read its definitions, watched for changes while it runs.
public struct DefinitionDirectories: Sendable, Hashable {
    public var processes: String
    public var connectors: String
    /// How often the folders are looked at.
    public var interval: Duration

    public init(processes: String, connectors: String, interval: Duration = .seconds(1)) {
        self.processes = processes
        self.connectors = connectors
        self.interval = interval
    }
}

/// Reloads processes when a file in `Processes/` or `Connectors/` is saved, added or deleted
/// (docs/design.md): every `interval` it compares the `*.json` files of both folders with what it saw
/// last; on a difference it loads all definitions strictly again and hands them to the
/// supervisor, which restarts only the processes whose file or connectors changed. Problems are
/// logged; a process whose new version has problems keeps running as it was. (The embedded
/// broker's own file is reloaded by ``BrokerReloader``.)
struct DefinitionsWatcher: Service {
    let directories: DefinitionDirectories
    let supervisor: ProcessSupervisor
    let logger: Logger
    /// The folders' contents when the daemon loaded them.
    let baseline: [String: Data]

    init(directories: DefinitionDirectories, supervisor: ProcessSupervisor, logger: Logger) {
        self.directories = directories
        self.supervisor = supervisor
        self.logger = logger
        self.baseline = Self.snapshot(directories)
    }

    /// Every `*.json` file of both folders (path → contents).
    static func snapshot(_ directories: DefinitionDirectories) -> [String: Data] {
        var files: [String: Data] = [:]
        for directory in [directories.processes, directories.connectors] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            for name in names where name.hasSuffix(".json") && !name.hasPrefix(".") {
                let path = (directory as NSString).appendingPathComponent(name)
                if let data = FileManager.default.contents(atPath: path) { files[path] = data }
            }
        }
        return files
    }

    func run() async throws {
        var last = baseline
        while !Task.isCancelledOrShuttingDown {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: directories.interval) }
            } catch {
                return
            }
            let current = Self.snapshot(directories)
            guard current != last else { continue }
            last = current
            await reload(current)
        }
    }

    /// Loads the definitions again and applies them.
    @discardableResult
    func reload(_ files: [String: Data]) async -> ProcessSupervisor.ReloadReport {
        let definitions = DefinitionLoader.load(processes: directories.processes, connectors: directories.connectors)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directories.processes, isDirectory: &isDirectory), isDirectory.boolValue else {
            logger.error("the processes folder is gone; the running processes stay", metadata: ["definition.folder": "\(directories.processes)"])
            return ProcessSupervisor.ReloadReport()
        }
        var processFiles: [String: DefinitionFile] = [:]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directories.processes)) ?? []
        for name in names where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let path = (directories.processes as NSString).appendingPathComponent(name)
            guard let data = files[path] ?? FileManager.default.contents(atPath: path) else { continue }
            processFiles[String(name.dropLast(5))] = DefinitionFile(path: path, contents: data)
        }
        let processPaths = Set(processFiles.values.map(\.path))
        let connectorProblems = definitions.problems.filter { !processPaths.contains($0.file) }
        if !connectorProblems.isEmpty {
            logger.error("connector definitions with problems are left out", metadata: [
                "definition.problems": "\(DefinitionError(problems: connectorProblems))",
            ])
        }
        let report = await supervisor.reload(definitions, files: processFiles)
        logger.notice("definitions reloaded", metadata: [
            "reload.started": "\(report.started)", "reload.restarted": "\(report.restarted)", "reload.stopped": "\(report.stopped)",
            "reload.refused": "\(report.refused.keys.sorted())",
        ])
        return report
    }
}
