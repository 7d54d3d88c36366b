import Foundation
import MQTTBroker

/// Overrides of loaded definitions: run the definitions as they are on disk with only the
/// addresses changed, e.g. the shipped examples on free ports in a test. Each override names a
/// connector that must exist with the expected type; otherwise it throws and changes nothing,
/// so a renamed example fails loudly instead of running with its original addresses.
///
/// ```swift
/// var definitions = DefinitionLoader.load(processes: "Processes", connectors: "Connectors")
/// try definitions.overrideBrokerListeners([BrokerListener(host: "127.0.0.1", port: 0)])
/// try definitions.overrideHTTPListener("ingest", port: 0)
/// try definitions.overrideHTTPBaseURL("ops-api", URL(string: "http://127.0.0.1:9000")!)
/// ```
///
/// Relative directories (file connectors, archives) need no override: the engine resolves
/// them against its `baseDirectory`.
extension Definitions {
    /// A connector an override names is missing or of another type.
    public struct OverrideError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Replaces the embedded broker's listeners (port 0 binds a free port; the engine's
    /// ``Engine/brokerAddresses()`` tells which).
    public mutating func overrideBrokerListeners(_ listeners: [BrokerListener]) throws {
        guard let connector = broker, case .mqttBroker(var definition) = connector.kind else {
            throw OverrideError(description: "no mqtt-broker connector to override")
        }
        definition.listeners = listeners
        connectors[connector.name]?.kind = .mqttBroker(definition)
    }

    /// Points the `http` connector `name` at another base URL.
    public mutating func overrideHTTPBaseURL(_ name: String, _ baseURL: URL) throws {
        guard case .http(var definition)? = connectors[name]?.kind else { throw Self.missing(name, "http") }
        definition.baseURL = baseURL
        connectors[name]?.kind = .http(definition)
    }

    /// Binds the `http-listener` connector `name` elsewhere (port 0: a free port, see
    /// ``HTTPResources/boundPort(of:)``).
    public mutating func overrideHTTPListener(_ name: String, host: String? = nil, port: Int) throws {
        guard case .httpListener(var definition)? = connectors[name]?.kind else { throw Self.missing(name, "http-listener") }
        if let host { definition.host = host }
        definition.port = port
        connectors[name]?.kind = .httpListener(definition)
    }

    /// Moves the `file` connector `name` to another directory.
    public mutating func overrideFileDirectory(_ name: String, _ directory: String) throws {
        guard case .file(var definition)? = connectors[name]?.kind else { throw Self.missing(name, "file") }
        definition.directory = directory
        connectors[name]?.kind = .file(definition)
    }

    /// Points the external `mqtt` connector `name` at other broker URLs.
    public mutating func overrideMQTTURLs(_ name: String, _ urls: [URL]) throws {
        guard case .mqtt(var definition)? = connectors[name]?.kind else { throw Self.missing(name, "mqtt") }
        definition.urls = urls
        connectors[name]?.kind = .mqtt(definition)
    }

    private static func missing(_ name: String, _ type: String) -> OverrideError {
        OverrideError(description: "no \(type) connector named \"\(name)\" to override")
    }
}
