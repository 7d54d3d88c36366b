import Foundation
import Logging
import MQTTClient
import MQTTCore
import NIOCore
import ServiceLifecycle
import Synchronization

/// Connections to external MQTT brokers (`mqtt` connectors) through MQTTClient. Sends share one
/// long-lived connection per connector (client id `clientId`, default `junction-<connector>`),
/// run as a service of the daemon; each Listen opens its own persistent session
/// (`<that id>-<process>`) in ``ProcessRunner/runExternalMQTT(_:_:)``. With a data directory,
/// sends to a connector with store-and-forward (the default) go through its durable outbox
/// queue in `<data>/outbox.sqlite` (see ``OutboxQueue``).
public final class ExternalMQTTClients: Sendable {
    /// The send connections, one per mqtt connector some process sends or dead-letters to.
    let connections: [String: ExternalMQTTConnection]
    /// The durable outbox shared by the store-and-forward queues and bridges; nil without a data directory.
    let outboxStore: OutboxStore?
    let logger: Logger

    public init(definitions: Definitions, logger: Logger, dataDirectory: URL? = nil) {
        self.logger = logger
        let store = dataDirectory.map { OutboxStore(file: $0.appendingPathComponent("outbox.sqlite")) }
        outboxStore = store
        var names: Set<String> = []
        for process in definitions.processes.values {
            Self.collectSends(process.steps, into: &names)
            if let dead = process.onError.deadLetter { names.insert(dead.connector) }
        }
        var connections: [String: ExternalMQTTConnection] = [:]
        for name in names {
            guard case .mqtt(let definition)? = definitions.connectors[name]?.kind, Self.problem(definition) == nil else { continue }
            let outbox = definition.storeAndForward.enabled
                ? store.map { OutboxQueue(name: "send:\(name)", store: $0, limits: definition.storeAndForward, logger: logger) } : nil
            var configuration = Self.configuration(definition, clientID: Self.baseClientID(name, definition), persistent: false)
            if outbox != nil && definition.protocolVersion == .v5 {
                // Clean at each start (no packet ids left over from a previous run), but the session
                // outlives a broken link, so a QoS 2 publish it caught is completed (PUBREL) after
                // the reconnect instead of sent again.
                configuration.sessionExpiryInterval = definition.sessionExpirySeconds
            }
            connections[name] = ExternalMQTTConnection(connector: name, configuration: configuration, logger: logger, outbox: outbox)
        }
        self.connections = connections
    }

    /// The store-and-forward queue of sends to `connector`, if it has one.
    func outbox(for connector: String) -> OutboxQueue? { connections[connector]?.outbox }

    public var services: [any Service] { connections.keys.sorted().compactMap { connections[$0] } }

    /// Throws when a process may not use this connector here.
    public func check(connector: String, _ definition: MQTTConnectorDefinition) throws {
        if let problem = Self.problem(definition) {
            throw ProcessError(message: "connector \(connector) (external mqtt): \(problem)", permanent: true)
        }
    }

    /// The send connection of `connector`, once it is connected (waits up to `timeout`).
    func client(for connector: String, timeout: Duration = .seconds(10)) async throws -> MQTTClient {
        guard let connection = connections[connector] else {
            throw ProcessError(message: "connector \(connector) has no external MQTT connection", permanent: true)
        }
        if let client = connection.current { return client }
        // Woken by the connection's change signal; the timer only bounds the wait.
        let client = await withTaskGroup(of: MQTTClient?.self) { group in
            group.addTask { await connection.waitForClient() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let client else {
            throw ProcessError(message: "connector \(connector): not connected to \(connection.configuration.servers)", permanent: false)
        }
        return client
    }

    /// Why the connector cannot be served by this client, or nil.
    static func problem(_ definition: MQTTConnectorDefinition) -> String? {
        if definition.urls.isEmpty { return "no url" }
        for url in definition.urls where MQTTServer(url: url.absoluteString) == nil {
            return "\(url.absoluteString): expected an mqtt://, mqtts://, ws:// or wss:// url"
        }
        return nil
    }

    static func baseClientID(_ connector: String, _ definition: MQTTConnectorDefinition) -> String {
        definition.clientID ?? "junction-\(connector)"
    }

    /// The client configuration of a connector: failover servers, version, credentials,
    /// keepalive; `persistent` sessions (a Listen) do not start clean and outlive the connection.
    static func configuration(_ definition: MQTTConnectorDefinition, clientID: String, persistent: Bool,
                              receiveMaximum: Int? = nil) -> MQTTClientConfiguration {
        MQTTClientConfiguration(
            servers: definition.urls.compactMap { MQTTServer(url: $0.absoluteString) }, version: definition.protocolVersion,
            clientID: clientID, cleanStart: !persistent, sessionExpiryInterval: persistent ? definition.sessionExpirySeconds : 0,
            keepAlive: .seconds(Int(definition.keepAliveSeconds)), username: definition.username?.reveal(),
            password: definition.password.map { ByteBuffer(string: $0.reveal()) },
            receiveMaximum: receiveMaximum.map { UInt16(clamping: max(1, $0)) })
        .withTLS(definition.tls)
    }

    /// Connects a new client, trying again with backoff until it works or the service stops.
    static func connect(_ configuration: MQTTClientConfiguration, connector: String, logger: Logger) async -> MQTTClient? {
        var delay = Duration.milliseconds(200)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let client = MQTTClient(configuration: configuration)
            do {
                try await client.connect()
                logger.info("connected to external broker", metadata: ["connector.name": "\(connector)", "mqtt.client": "\(configuration.clientID)"])
                return client
            } catch {
                await client.disconnect()
                logger.warning("cannot connect to external broker", metadata: ["connector.name": "\(connector)", "error": "\(error)"])
                let wait = delay
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
                delay = min(delay * 2, .seconds(30))
            }
        }
        return nil
    }

    private static func collectSends(_ steps: [StepDefinition], into names: inout Set<String>) {
        for step in steps {
            switch step {
            case .send(let send): names.insert(send.connector)
            case .route(let cases, let otherwise):
                for (_, nested) in cases { collectSends(nested, into: &names) }
                collectSends(otherwise, into: &names)
            default: break
            }
        }
    }
}
