import Foundation
import Logging
import ServiceLifecycle

/// Outbound resources shared by all processes of a daemon, built once from the definitions:
/// the HTTP client (libcurl) and the connections to external MQTT brokers. Their long-lived
/// parts run as services in the daemon's group.
public final class EngineResources: Sendable {
    public let http: HTTPResources
    public let mqtt: ExternalMQTTClients

    public init(definitions: Definitions, logger: Logger, dataDirectory: URL? = nil) {
        http = HTTPResources(definitions: definitions, logger: logger)
        mqtt = ExternalMQTTClients(definitions: definitions, logger: logger, dataDirectory: dataDirectory)
    }

    /// Services to run beside the processes (connection managers, listeners, admin API).
    public var services: [any Service] { http.services + mqtt.services }
}
