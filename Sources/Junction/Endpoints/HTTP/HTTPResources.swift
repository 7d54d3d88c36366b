import Logging
import ServiceLifecycle
import Synchronization

/// HTTP for the engine: the libcurl client behind `send` to `http` connectors (one pool of
/// keep-alive handles per connector, made when first used, so connectors added by a reload work
/// too) and the servers behind `http-listener` connectors (one
/// Hummingbird server per connector that a valid process listens on, at start or added by a
/// reload; processes add their route when they start and remove it when they stop).
public final class HTTPResources: Sendable {
    private let clients: Mutex<[String: CurlClient]>
    private let servers: Mutex<[String: HTTPListenerServer]>
    private let initialServers: [HTTPListenerServer]
    private let logger: Logger

    public init(definitions: Definitions, logger: Logger) {
        var clients: [String: CurlClient] = [:]
        for (name, connector) in definitions.connectors {
            if case .http = connector.kind { clients[name] = CurlClient() }
        }
        var servers: [String: HTTPListenerServer] = [:]
        for process in definitions.processes.values {
            guard case .http(let listen) = process.listen, servers[listen.connector] == nil,
                  case .httpListener(let definition)? = definitions.connectors[listen.connector]?.kind else { continue }
            servers[listen.connector] = HTTPListenerServer(connector: listen.connector, definition: definition, logger: logger)
        }
        self.clients = Mutex(clients)
        self.servers = Mutex(servers)
        initialServers = servers.keys.sorted().compactMap { servers[$0] }
        self.logger = logger
    }

    /// Services to run: one server per http-listener connector in use.
    public var services: [any Service] { initialServers }

    /// A server for `connector` when it has none yet (a reload added a process listening on
    /// it); nil when one exists. The caller runs it.
    func makeServer(connector: String, _ definition: HTTPListenerDefinition) -> HTTPListenerServer? {
        servers.withLock { servers in
            guard servers[connector] == nil else { return nil }
            let server = HTTPListenerServer(connector: connector, definition: definition, logger: logger)
            servers[connector] = server
            return server
        }
    }

    /// Forgets a server that could not bind, so a later reload can try again.
    func dropServer(_ server: HTTPListenerServer) {
        servers.withLock { servers in
            if servers[server.connector] === server { servers[server.connector] = nil }
        }
    }

    /// Any http connector can be sent to (its client is made on first use); kept as the check
    /// every connector kind has.
    public func checkSend(connector: String, _ definition: HTTPConnectorDefinition) throws {}

    /// Throws when a process may not listen on this connector here.
    public func checkListen(connector: String, _ definition: HTTPListenerDefinition) throws {
        guard server(for: connector) != nil else {
            throw ProcessError(message: "connector \(connector) (http-listener) has no server: no process listened on it when the daemon started; restart it", permanent: true)
        }
    }

    func client(for connector: String) -> CurlClient {
        clients.withLock { clients in
            if let client = clients[connector] { return client }
            let client = CurlClient()
            clients[connector] = client
            return client
        }
    }

    func server(for connector: String) -> HTTPListenerServer? { servers.withLock { $0[connector] } }

    /// The port the listener of `connector` is bound to, once it is (port 0 in a definition
    /// binds any free port). Throws when there is no such listener or it could not bind.
    public func boundPort(of connector: String) async throws -> Int {
        guard let server = server(for: connector) else {
            throw ProcessError(message: "no http-listener server for connector \(connector)", permanent: true)
        }
        return try await server.boundPort()
    }

    /// The routes (`METHOD path`) the listener of `connector` serves now.
    public func routes(of connector: String) -> [String] {
        server(for: connector)?.routeNames ?? []
    }
}
