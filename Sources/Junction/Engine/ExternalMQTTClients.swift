import Logging
import ServiceLifecycle

/// Connections to external MQTT brokers (`mqtt` connectors) through MQTTClient, shared by the
/// processes that use the same connector. (Not written yet: every mqtt connector is refused.)
public final class ExternalMQTTClients: Sendable {
    public init(definitions: Definitions, logger: Logger) {}

    public var services: [any Service] { [] }

    /// Throws when a process may not use this connector here.
    public func check(connector: String, _ definition: MQTTConnectorDefinition) throws {
        throw ProcessError(message: "connector \(connector) (external mqtt) is not supported by this version of the engine yet", permanent: true)
    }
}
