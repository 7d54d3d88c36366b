import Foundation
import Logging
import MQTTBroker
import MQTTClient
import MQTTCore
import NIOCore
import TestSupport
import Testing

let testLogger = makeTestLogger(label: "junction.client.test")

extension BrokerSettings {
    /// Quiet settings for client tests: no `$SYS`, a connect timeout that a CONNECT delayed by a
    /// loaded machine still meets (tests of the timeout itself set their own).
    static var clientTest: BrokerSettings {
        var settings = BrokerSettings()
        settings.sysInterval = nil
        settings.connectTimeout = .seconds(15)
        return settings
    }
}

/// A Junction broker on 127.0.0.1, port 0, for the duration of `body`; always shut down.
func withBroker<T>(settings: BrokerSettings = .clientTest, _ body: (_ port: Int) async throws -> T) async throws -> T {
    try await withStartedBroker(listeners: [BrokerListener(host: "127.0.0.1", port: 0)], settings: settings, logger: testLogger) { ports in
        guard let port = ports.first else { throw TestFailure("broker bound no address") }
        return try await body(port)
    }
}

extension MQTTClientConfiguration {
    /// A client of the local test broker with fast reconnects and a connect timeout that holds on a
    /// loaded machine (a CONNACK that is only slow must not count as a failure).
    static func test(port: Int, version: MQTTProtocolVersion = .v5, clientID: String = unique("client")) -> MQTTClientConfiguration {
        var configuration = MQTTClientConfiguration(host: "127.0.0.1", port: port, version: version, clientID: clientID)
        configuration.connectTimeout = .seconds(20)
        configuration.reconnect = MQTTReconnectPolicy(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(300))
        return configuration
    }
}
