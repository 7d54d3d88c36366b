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
    public let metrics: EngineMetrics
    public let status: ProcessStatusBoard
    private let admin: AdminServer?
    private let reloader: BrokerReloader?
    private let logger: Logger

    /// - Parameters:
    ///   - dataDirectory: where tracking files go (`<data>/tracking`) and the broker keeps its state (`<data>/broker.sqlite`).
    ///   - baseDirectory: relative file connector and archive directories are resolved here.
    ///   - listeners: replace the broker definition's listeners (tests bind port 0).
    ///   - admin: where `/health`, `/ready`, `/metrics` and `/api/processes` listen; nil for none.
    ///     `onAdminBound` gets the port (useful with port 0).
    public init(definitions: Definitions, dataDirectory: URL, baseDirectory: URL, logger: Logger,
                listeners: [BrokerListener]? = nil, admin: AdminConfiguration? = nil,
                onAdminBound: @escaping @Sendable (Int) -> Void = { _ in }) {
        self.logger = logger
        let metrics = EngineMetrics()
        self.metrics = metrics
        let tracking = TrackingLog(directory: dataDirectory.appendingPathComponent("tracking"), logger: logger, metrics: metrics)
        self.tracking = tracking
        var broker: MQTTBroker?
        var reloader: BrokerReloader?
        if let connector = definitions.broker, case .mqttBroker(let definition) = connector.kind {
            let made = MQTTBroker(listeners: listeners ?? definition.listeners, settings: definition.settings,
                                  dataDirectory: dataDirectory, logger: Logger(label: "junction.broker"))
            broker = made
            reloader = BrokerReloader(file: connector.file, definition: definition, broker: made, logger: logger)
        }
        self.broker = broker
        self.reloader = reloader
        let status = ProcessStatusBoard(processes: Array(definitions.processes.keys))
        self.status = status
        self.admin = admin.map {
            AdminServer(configuration: $0, metrics: metrics, status: status, broker: broker, logger: logger, onBound: onAdminBound)
        }
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
        if let admin { services.append(.init(service: admin)) }
        for runner in runners {
            services.append(.init(service: ReportingService(runner: runner, status: status, logger: logger),
                                  successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore))
        }
        return services
    }
}

/// Runs a process and reports, instead of propagating, why it could not run.
struct ReportingService: Service {
    let runner: ProcessRunner
    let status: ProcessStatusBoard
    let logger: Logger

    func run() async throws {
        let name = runner.context.name
        do {
            status.set(name, .running)
            try await runner.run()
            status.set(name, .stopped)
        } catch {
            status.set(name, .failed("\(error)"))
            logger.error("process failed to start", metadata: ["process.name": "\(name)", "error": "\(error)"])
        }
    }
}
