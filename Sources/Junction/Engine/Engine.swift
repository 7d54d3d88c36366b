import Foundation
import Logging
import MQTTBroker
import ServiceLifecycle

/// The daemon's parts built from loaded definitions (DESIGN §5): the embedded broker, its
/// definition watcher, one runner per valid process, all as `Service`s for one `ServiceGroup`.
public struct Engine: Sendable {
    public let broker: MQTTBroker?
    public let runners: [ProcessRunner]
    public let tracking: TrackingLog
    public let resources: EngineResources
    private let reloader: BrokerReloader?
    private let logger: Logger

    /// - Parameters:
    ///   - dataDirectory: where tracking files go (`<data>/tracking`).
    ///   - baseDirectory: relative file connector and archive directories are resolved here.
    ///   - listeners: replace the broker definition's listeners (tests bind port 0).
    public init(definitions: Definitions, dataDirectory: URL, baseDirectory: URL, logger: Logger,
                listeners: [BrokerListener]? = nil) {
        self.logger = logger
        let tracking = TrackingLog(directory: dataDirectory.appendingPathComponent("tracking"), logger: logger)
        self.tracking = tracking
        var broker: MQTTBroker?
        var reloader: BrokerReloader?
        if let connector = definitions.broker, case .mqttBroker(let definition) = connector.kind {
            let made = MQTTBroker(listeners: listeners ?? definition.listeners, settings: definition.settings,
                                  logger: Logger(label: "junction.broker"))
            broker = made
            reloader = BrokerReloader(file: connector.file, definition: definition, broker: made, logger: logger)
        }
        self.broker = broker
        self.reloader = reloader
        let resources = EngineResources(definitions: definitions, logger: logger)
        self.resources = resources
        runners = definitions.processes.keys.sorted().compactMap { name in
            guard let process = definitions.processes[name] else { return nil }
            let caches = CacheStore(definitions: process.caches)
            return ProcessRunner(context: ProcessContext(
                definition: process, connectors: definitions.connectors, broker: broker, resources: resources, caches: caches,
                tracking: tracking,
                logger: logger, baseDirectory: baseDirectory))
        }
    }

    /// Every service, for one `ServiceGroup`: a process that cannot start is logged and ends
    /// on its own, leaving the others running.
    public var services: [ServiceGroupConfiguration.ServiceConfiguration] {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let broker { services.append(.init(service: broker)) }
        if let reloader { services.append(.init(service: reloader.watcher())) }
        for service in resources.services { services.append(.init(service: service)) }
        for runner in runners {
            services.append(.init(service: ReportingService(runner: runner, logger: logger),
                                  successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        return services
    }
}

/// Runs a process and reports, instead of propagating, why it could not run.
struct ReportingService: Service {
    let runner: ProcessRunner
    let logger: Logger

    func run() async throws {
        do {
            try await runner.run()
        } catch {
            logger.error("process failed to start", metadata: ["process.name": "\(runner.context.name)", "error": "\(error)"])
        }
    }
}
