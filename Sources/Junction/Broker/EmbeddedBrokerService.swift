import Logging
import MQTTBroker
import NIOCore
import ServiceLifecycle

/// Runs the embedded broker as `MQTTBroker.run()` does (bind, serve until graceful shutdown,
/// close) and keeps the addresses it bound, so a listener on port 0 can be found
/// (``Engine/brokerAddresses()``) and `junction run` can print where it listens.
final class EmbeddedBrokerService: Service, Sendable {
    let broker: MQTTBroker
    let bound = OnceValue<[SocketAddress]>()

    init(broker: MQTTBroker) { self.broker = broker }

    func run() async throws {
        let addresses: [SocketAddress]
        do {
            addresses = try await broker.start()
        } catch {
            bound.fail("the embedded broker could not bind its listeners: \(error)")
            try? await broker.shutdown()
            throw error
        }
        bound.set(addresses)
        try? await gracefulShutdown()
        try await broker.shutdown()
    }
}
