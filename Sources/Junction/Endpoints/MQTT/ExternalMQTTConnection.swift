import Foundation
import Logging
import MQTTClient
import MQTTCore
import NIOCore
import ServiceLifecycle
import Synchronization

/// A long-lived connection to an external broker: the shared send connection of an mqtt
/// connector, or a bridge's. Connects when the daemon starts (and keeps trying), stays up until
/// graceful shutdown (after the processes drained), then disconnects. With an outbox, an
/// ``OutboxForwarder`` sends its messages over the connection meanwhile.
final class ExternalMQTTConnection: Service, Sendable {
    let connector: String
    let configuration: MQTTClientConfiguration
    let logger: Logger
    let outbox: OutboxQueue?
    private let client = Mutex<MQTTClient?>(nil)
    /// The client was set or cleared.
    private let clientChanged = ChangeSignal()

    init(connector: String, configuration: MQTTClientConfiguration, logger: Logger, outbox: OutboxQueue? = nil) {
        var configuration = configuration
        configuration.onEvent = { [outbox] event in
            switch event {
            case .connected: outbox?.setLink(up: true)
            case .disconnected: outbox?.setLink(up: false)
            case .reconnecting: break
            }
        }
        self.connector = connector
        self.configuration = configuration
        self.logger = logger
        self.outbox = outbox
    }

    var current: MQTTClient? { client.withLock { $0 } }

    /// The client once the first connection succeeded; nil when the task is cancelled first.
    func waitForClient() async -> MQTTClient? {
        await clientChanged.wait { current != nil }
        return current
    }

    func run() async throws {
        let forwarder = outbox.map { queue in
            Task { await OutboxForwarder(queue: queue, link: self, logger: logger).run() }
        }
        if let connected = await ExternalMQTTClients.connect(configuration, connector: connector, logger: logger) {
            client.withLock { $0 = connected }
            clientChanged.notify()  // the link state follows the client's events (`.connected` came with the CONNACK)
            try? await gracefulShutdown()
            forwarder?.cancel()
            client.withLock { $0 = nil }
            clientChanged.notify()
            outbox?.setLink(up: false)
            await connected.disconnect()
        }
        forwarder?.cancel()
        await forwarder?.value
    }
}

extension MQTTClientConfiguration {
    /// The connector's `tls` files and verification, used for its mqtts:// and wss:// urls.
    func withTLS(_ tls: TLSDefinition?) -> MQTTClientConfiguration {
        guard let tls else { return self }
        var configuration = self
        configuration.tls = MQTTClientTLS(caFile: tls.caFile, certificateFile: tls.certFile, keyFile: tls.keyFile,
                                          verification: tls.verify ? .full : .none)
        return configuration
    }
}
