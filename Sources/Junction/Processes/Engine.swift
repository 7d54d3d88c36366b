import Foundation
import Logging
import MQTTBroker
import NIOCore
import ServiceLifecycle

/// The daemon's parts built from loaded definitions (docs/design.md): the embedded broker, its
/// definition watcher, the process supervisor (one runner per valid process) and the watcher
/// that reloads changed definitions, all as `Service`s for one `ServiceGroup`.
public struct Engine: Sendable {
    public let broker: MQTTBroker?
    /// Starts, stops, pauses, resumes and reloads the processes.
    public let supervisor: ProcessSupervisor
    public let tracking: TrackingLog
    public let resources: EngineResources
    public let metrics: EngineMetrics
    public let status: ProcessStatusBoard
    private let admin: AdminServer?
    private let reloader: BrokerReloader?
    private let brokerService: EmbeddedBrokerService?
    private let retention: RetentionService
    private let definitionsWatcher: DefinitionsWatcher?
    private let bridge: BridgeService?
    private let logger: Logger

    /// - Parameters:
    ///   - dataDirectory: where tracking files go (`<data>/tracking`) and the broker keeps its state (`<data>/broker.sqlite`).
    ///   - baseDirectory: relative file connector and archive directories are resolved here.
    ///   - listeners: replace the broker definition's listeners (tests bind port 0).
    ///   - admin: where `/health`, `/ready`, `/metrics` and `/api/processes` listen; nil for none.
    ///     `onAdminBound` gets the port (useful with port 0).
    ///   - trackingRetention: tracking day files older than this (milliseconds) are purged; nil
    ///     keeps them. Archives are purged by their own `retention`.
    ///   - retentionInterval: how often retention runs (also once at start).
    ///   - watch: the folders the definitions came from; when given, saving, adding or deleting
    ///     a file there reloads just the processes it concerns.
    public init(definitions: Definitions, dataDirectory: URL, baseDirectory: URL, logger: Logger,
                listeners: [BrokerListener]? = nil, admin: AdminConfiguration? = nil,
                onAdminBound: @escaping @Sendable (Int) -> Void = { _ in },
                trackingRetention: Int64? = nil, retentionInterval: Duration = .seconds(3600),
                watch: DefinitionDirectories? = nil) {
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
        self.brokerService = broker.map { EmbeddedBrokerService(broker: $0) }
        self.reloader = reloader
        let status = ProcessStatusBoard(processes: Array(definitions.processes.keys))
        self.status = status
        let resources = EngineResources(definitions: definitions, logger: logger, dataDirectory: dataDirectory)
        self.resources = resources
        bridge = BridgeService.make(definitions: definitions, broker: broker, mqtt: resources.mqtt, logger: logger)
        let supervisor = ProcessSupervisor(
            definitions: definitions,
            environment: ProcessEnvironment(broker: broker, resources: resources, tracking: tracking, logger: logger, baseDirectory: baseDirectory,
                                            dataDirectory: dataDirectory),
            status: status)
        self.supervisor = supervisor
        retention = RetentionService(
            archives: { RetentionService.archives(of: supervisor.runners.map(\.context.definition), base: baseDirectory) },
            tracking: tracking, trackingRetentionMilliseconds: trackingRetention, interval: retentionInterval, logger: logger)
        definitionsWatcher = watch.map { DefinitionsWatcher(directories: $0, supervisor: supervisor, logger: logger) }
        self.admin = admin.map {
            AdminServer(configuration: $0, metrics: metrics, status: status, broker: broker, supervisor: supervisor, logger: logger,
                        onBound: onAdminBound)
        }
    }

    /// The runners of the processes known now (running, paused or failed to start), by name.
    public var runners: [ProcessRunner] { supervisor.runners }

    /// The addresses the embedded broker's listeners bound, once they are (a listener on port 0
    /// gets a free port). Throws when there is no embedded broker or it could not bind.
    public func brokerAddresses() async throws -> [SocketAddress] {
        guard let brokerService else { throw ProcessError(message: "no embedded broker is configured", permanent: true) }
        return try await brokerService.bound.value()
    }

    /// Every service, for one `ServiceGroup`: a process that cannot start is logged and ends
    /// on its own, leaving the others running.
    public var services: [ServiceGroupConfiguration.ServiceConfiguration] {
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        if let brokerService { services.append(.init(service: brokerService)) }
        if let reloader { services.append(.init(service: reloader.watcher())) }
        for service in resources.services { services.append(.init(service: service)) }
        services.append(.init(service: tracking))
        if let bridge { services.append(.init(service: bridge)) }
        if let admin { services.append(.init(service: admin)) }
        services.append(.init(service: retention))
        services.append(.init(service: supervisor))
        if let definitionsWatcher { services.append(.init(service: definitionsWatcher)) }
        return services
    }
}
