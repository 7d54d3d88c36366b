import ArgumentParser
import Foundation
import Junction
import Logging
import ServiceLifecycle

/// `junction run`: the daemon (docs/design.md).
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Start the embedded broker and every valid process; SIGINT/SIGTERM drain and stop.",
        discussion: "Invalid definitions are reported and left out; the others run."
    )

    @Option(help: "Folder of process definitions.")
    var processes = "Processes"

    @Option(help: "Folder of connector definitions.")
    var connectors = "Connectors"

    @Option(help: "Data folder (tracking logs; the embedded broker's durable state in broker.sqlite).")
    var data = ".junction"

    @Option(help: "Admin API address (/health, /ready, /metrics, /api/processes); other than loopback it needs --admin-token.")
    var adminHost = "127.0.0.1"

    @Option(help: "Admin API port; 0 turns it off.")
    var adminPort = 8090

    @Option(help: "Bearer token the admin API requires (\"${env:NAME}\" reads it from the environment).")
    var adminToken: String?

    @Option(help: "Tracking files (<data>/tracking/YYYY-MM-DD.jsonl) older than this are deleted, e.g. 30d; \"off\" keeps them.")
    var trackingRetention = "30d"

    @Option(help: "Log format: text, json, or auto (text when standard error is a terminal, JSON lines otherwise).")
    var logFormat: LogFormat = .auto

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    enum LogFormat: String, ExpressibleByArgument { case text, json, auto }

    func run() async throws {
        let format = logFormat == .auto ? (isatty(STDERR_FILENO) == 1 ? LogFormat.text : .json) : logFormat
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = format == .json ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "junction")
        var trackingRetentionMilliseconds: Int64?
        if trackingRetention != "off" {
            guard let milliseconds = Units.milliseconds(trackingRetention), milliseconds > 0 else {
                throw ValidationError("--tracking-retention: expected a duration like \"30d\" or \"12h\", or \"off\"; found \"\(trackingRetention)\"")
            }
            trackingRetentionMilliseconds = milliseconds
        }
        let definitions = DefinitionLoader.load(processes: processes, connectors: connectors)
        if !definitions.problems.isEmpty {
            logger.error("definitions with problems are left out", metadata: [
                "definition.problems": "\(DefinitionError(problems: definitions.problems))",
            ])
        }
        for warning in definitions.warnings { logger.warning("definition warning", metadata: ["definition.warning": "\(warning)"]) }
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        var admin: AdminConfiguration?
        if adminPort != 0 {
            var token: Secret?
            if let adminToken {
                let reader = DefinitionReader(file: "--admin-token")
                token = reader.resolveReferences(adminToken, "").map(Secret.init)
                if !reader.problems.isEmpty { throw ValidationError(DefinitionError(problems: reader.problems).description) }
            }
            admin = AdminConfiguration(host: adminHost, port: adminPort, token: token)
            try admin?.validate()
        }
        let engine = Engine(definitions: definitions, dataDirectory: data.hasPrefix("/") ? URL(fileURLWithPath: data) : cwd.appendingPathComponent(data), baseDirectory: cwd,
                            logger: logger, admin: admin,
                            onAdminBound: { [logger, adminHost] port in
                                logger.notice("admin API listening", metadata: ["admin.address": "http://\(adminHost):\(port)"])
                            },
                            trackingRetention: trackingRetentionMilliseconds,
                            watch: DefinitionDirectories(processes: processes, connectors: connectors))
        if let broker = engine.broker {
            logger.notice("embedded broker", metadata: ["listener.address": "\(broker.listeners.map(\.url))"])
        }
        logger.notice("starting", metadata: ["process.count": "\(engine.runners.count)", "data.directory": "\(data)"])
        let group = ServiceGroup(configuration: .init(services: engine.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

/// One JSON object per log line, for machines (`--log-format json`).
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var object: [String: String] = ["time": ISO8601DateFormatter().string(from: Date()), "level": "\(event.level)",
                                        "label": label, "message": "\(event.message)"]
        for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { object[key] = "\(value)" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var line = try? encoder.encode(object) else { return }
        line.append(0x0A)
        FileHandle.standardError.write(line)
    }
}
