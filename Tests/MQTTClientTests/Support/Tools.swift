import Foundation
import MQTTBroker
import TestSupport

/// The command-line programs the tool tests run.
enum Tools {
    /// The `junction` executable built next to this test bundle (see ``builtJunctionExecutable()``).
    static func junction() throws -> URL { try builtJunctionExecutable() }

    static func mosquittoPub() throws -> URL { try installedTool("mosquitto_pub", package: "mosquitto-clients") }
    static func mosquittoSub() throws -> URL { try installedTool("mosquitto_sub", package: "mosquitto-clients") }
}

/// Which broker a tool test runs against.
enum BrokerKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case junction, mosquitto
    var description: String { rawValue }
}

/// Runs `body` with the port of a fresh broker of `kind`, stopped afterwards.
func withBroker<T>(_ kind: BrokerKind, settings: BrokerSettings = .clientTest, _ body: (_ port: Int) async throws -> T) async throws -> T {
    switch kind {
    case .junction: try await withBroker(settings: settings, body)
    case .mosquitto: try await withTestMosquitto(persistence: .on(autosaveInterval: 1)) { try await body($0.port) }
    }
}
