import Foundation
import Logging
import MQTTBroker
import MQTTCore
import NIOCore
import Testing
import TestSupport

extension BrokerSettings {
    /// Small, quiet settings for scenario tests: no `$SYS` noise, no 3.1.1 retry while a test
    /// runs, and a connect timeout a CONNECT delayed by a loaded machine still meets (tests of
    /// the timeout itself set their own).
    static var test: BrokerSettings {
        var settings = BrokerSettings()
        settings.sysInterval = nil
        settings.connectTimeout = .seconds(15)
        settings.retryInterval = .seconds(60)
        return settings
    }

    func with(_ change: (inout BrokerSettings) -> Void) -> BrokerSettings {
        var copy = self
        change(&copy)
        return copy
    }
}

let testLogger = makeTestLogger(label: "junction.broker.test")

/// Starts a broker on 127.0.0.1 with port 0, runs `body` with the bound port, and always shuts
/// the broker down, also when `body` throws.
func withBroker<T>(settings: BrokerSettings = .test, _ body: (_ port: Int) async throws -> T) async throws -> T {
    try await withStartedBroker(listeners: [BrokerListener(host: "127.0.0.1", port: 0)], settings: settings, logger: testLogger) { ports in
        guard let port = ports.first else { throw RawClientError(description: "broker bound no address") }
        return try await body(port)
    }
}

extension MQTTPublishPacket {
    var payloadString: String { String(buffer: payload) }
}
