import Logging
import MQTTBroker

/// Starts a Junction broker with `listeners` (port 0 allowed), runs `body` with the bound ports
/// in listener order, and always shuts the broker down: also when `body` throws and when the
/// start fails after some listeners were bound.
public func withStartedBroker<T>(listeners: [BrokerListener], settings: BrokerSettings, logger: Logger,
                                 _ body: (_ ports: [Int]) async throws -> T) async throws -> T {
    try await withStartedBroker(listeners: listeners, settings: settings, logger: logger) { _, ports in try await body(ports) }
}

/// ``withStartedBroker(listeners:settings:logger:_:)`` for tests that also use the broker's
/// in-process API or statistics.
public func withStartedBroker<T>(listeners: [BrokerListener], settings: BrokerSettings, logger: Logger,
                                 _ body: (_ broker: MQTTBroker, _ ports: [Int]) async throws -> T) async throws -> T {
    let broker = MQTTBroker(listeners: listeners, settings: settings, logger: logger)
    let ports: [Int]
    do {
        ports = try await broker.start().compactMap(\.port)
    } catch {
        try? await broker.shutdown()
        throw error
    }
    do {
        let result = try await body(broker, ports)
        try await broker.shutdown()
        return result
    } catch {
        try? await broker.shutdown()
        throw error
    }
}
