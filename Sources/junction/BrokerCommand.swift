import ArgumentParser
import Foundation
import Junction
import Logging
import MQTTBroker
import ServiceLifecycle

/// `junction broker`: the embedded broker alone, in the foreground, like `mosquitto -p`.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run the MQTT broker alone in the foreground (SIGINT/SIGTERM stop it).",
        discussion: """
            With --config, listeners and settings come from an mqtt-broker connector definition, and \
            saving that file applies new settings to the running broker. --host/--port replace the \
            definition's listeners. With --data, sessions, subscriptions, retained messages and QoS 1/2 \
            messages are kept in DIR/broker.sqlite and survive restarts and crashes; without it, the \
            broker keeps everything in memory.
            """
    )

    @Option(help: "Address to listen on (default 127.0.0.1).")
    var host: String?

    @Option(help: "TCP port to listen on, 0 picks a free one (default 1883).")
    var port: Int?

    @Option(help: "An mqtt-broker connector definition, e.g. Connectors/local-broker.json.")
    var config: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .info

    @Option(name: .customLong("data"), help: ArgumentHelp("Keep the broker's state in this folder (broker.sqlite).", valueName: "dir"))
    var data: String?

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let logger = Logger(label: "junction.broker")
        var definition = BrokerDefinition(listeners: [BrokerListener()], settings: BrokerSettings())
        if let config {
            do {
                definition = try BrokerDefinition.load(file: config)
            } catch let error as DefinitionError {
                printError("junction broker: invalid broker definition, \(error)")
                throw ExitCode(2)
            }
        }
        if host != nil || port != nil {
            definition.listeners = [BrokerListener(host: host ?? "127.0.0.1", port: port ?? 1883)]
        }
        let broker = MQTTBroker(listeners: definition.listeners, settings: definition.settings,
                                dataDirectory: data.map { URL(fileURLWithPath: $0) }, logger: logger)
        var services: [any Service] = [broker]
        if let config {
            services.append(BrokerReloader(file: config, definition: definition, broker: broker, logger: logger).watcher())
        }
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        do {
            try await group.run()
        } catch let error as BrokerStoreError {
            printError("junction broker: \(error)")
            throw ExitCode(2)
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Writes a line to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
