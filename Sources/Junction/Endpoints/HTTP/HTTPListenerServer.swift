import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// An HTTP request as an HTTP Listen sees it.
struct HTTPListenRequest: Sendable {
    var method: String
    var path: String
    var query: String?
    var queryParameters: [(String, String)]
    var headers: [(String, String)]
    var body: ByteBuffer
}

/// What an HTTP Listen answers.
struct HTTPListenReply: Sendable {
    var status: Int
    var body: ByteBuffer
    var contentType: String?

    static func text(_ status: Int, _ text: String) -> HTTPListenReply {
        HTTPListenReply(status: status, body: ByteBuffer(string: text + "\n"), contentType: "text/plain; charset=utf-8")
    }
}

/// The server of one `http-listener` connector (Hummingbird 2): binds host and port from the
/// definition (port 0 binds a free port, see ``boundPort()``), checks the bearer token, and
/// hands each request to the process whose route (method and path) it matches.
final class HTTPListenerServer: Service, Sendable {
    typealias Handler = @Sendable (HTTPListenRequest) async -> HTTPListenReply

    struct Route: Hashable, Sendable {
        var method: String
        var path: String
    }

    let connector: String
    private let current: Mutex<HTTPListenerDefinition>
    /// The definition in force: host and port as bound at start, the token as last updated.
    var definition: HTTPListenerDefinition { current.withLock { $0 } }
    let logger: Logger
    /// The largest request body taken.
    static let maxBodyBytes = 16 * 1024 * 1024

    private let routes = Mutex<[Route: Handler]>([:])
    /// Routes of paused processes: answered 503 until the process runs again.
    private let pausedRoutes = Mutex<Set<Route>>([])
    /// The bound port once the server runs, or why it never will.
    private let bound = OnceValue<Int>()

    init(connector: String, definition: HTTPListenerDefinition, logger: Logger) {
        self.connector = connector
        self.current = Mutex(definition)
        self.logger = logger
    }

    /// Adds the route of a process; throws when another process has it.
    func add(_ route: Route, _ handler: @escaping Handler) throws {
        try routes.withLock { routes in
            guard routes[route] == nil else {
                throw ProcessError(message: "connector \(connector): \(route.method) \(route.path) is already served by another process", permanent: true)
            }
            routes[route] = handler
        }
    }

    func remove(_ route: Route) {
        _ = routes.withLock { $0.removeValue(forKey: route) }
    }

    /// Applies a changed definition while running: a new token applies to the next request;
    /// returns false (nothing changed) when host or port differ, which need a new server.
    func update(_ definition: HTTPListenerDefinition) -> Bool {
        current.withLock { current in
            guard current.host == definition.host, current.port == definition.port else { return false }
            current = definition
            return true
        }
    }

    /// Marks the route of a paused process (or unmarks it).
    func setPaused(_ route: Route, _ paused: Bool) {
        _ = pausedRoutes.withLock { paused ? $0.insert(route).inserted : $0.remove(route) != nil }
    }

    var routeNames: [String] {
        routes.withLock { $0.keys.map { "\($0.method) \($0.path)" }.sorted() }
    }

    /// Waits until the server is bound and returns its port.
    func boundPort() async throws -> Int {
        try await bound.value()
    }

    func run() async throws {
        let responder = CallbackResponder<BasicRequestContext> { [self] request, _ in
            try await self.respond(to: request)
        }
        let server: HTTPServerBuilder
        do {
            // HTTPS when the definition has `tls` (certificate, key, optional CA and client certificates).
            server = try definition.tls.map { try .tls(.http1(), tlsConfiguration: $0.makeServerConfiguration()) } ?? .http1()
        } catch {
            bound.fail("connector \(connector): TLS of the http listener cannot be set up: \(error)")
            throw error
        }
        let app = Application(
            responder: responder,
            server: server,
            configuration: ApplicationConfiguration(address: .hostname(definition.host, port: definition.port)),
            onServerRunning: { [self] channel in
                let port = channel.localAddress?.port ?? definition.port
                logger.info("http listener started", metadata: ["connector": "\(connector)", "host": "\(definition.host)", "port": "\(port)",
                                                                "tls": "\(definition.tls != nil)"])
                bound.set(port)
            },
            logger: logger)
        do {
            try await app.run()
            bound.fail("connector \(connector): the http listener stopped")
        } catch {
            bound.fail("connector \(connector): the http listener on \(definition.host):\(definition.port) failed: \(error)")
            logger.error("http listener failed", metadata: ["connector": "\(connector)", "error": "\(error)"])
            throw error
        }
    }

    private func respond(to request: Request) async throws -> Response {
        let reply = await answer(request)
        var headers = HTTPFields()
        if let contentType = reply.contentType { headers[.contentType] = contentType }
        return Response(status: HTTPResponse.Status(code: reply.status), headers: headers, body: ResponseBody(byteBuffer: reply.body))
    }

    private func answer(_ request: Request) async -> HTTPListenReply {
        if let token = definition.token?.reveal() {
            guard BearerToken.accepts(request.headers[.authorization], token: token) else { return .text(401, "missing or wrong bearer token") }
        }
        let path = request.uri.path
        let method = request.method.rawValue
        let (handler, pathKnown) = routes.withLock { routes in
            (routes[Route(method: method, path: path)], routes.keys.contains { $0.path == path })
        }
        guard let handler else {
            if pausedRoutes.withLock({ $0.contains(Route(method: method, path: path)) }) {
                return .text(503, "the process serving \(method) \(path) is paused")
            }
            return pathKnown ? .text(405, "method \(method) not allowed on \(path)") : .text(404, "no process listens on \(path)")
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: Self.maxBodyBytes)
        } catch {
            return .text(413, "request body larger than \(Self.maxBodyBytes) bytes")
        }
        var headers: [(String, String)] = []
        for field in request.headers where field.name != .authorization { headers.append((field.name.canonicalName, field.value)) }
        let parameters = request.uri.queryParameters.map { (String($0.key), String($0.value)) }
        return await handler(HTTPListenRequest(method: method, path: path, query: request.uri.query, queryParameters: parameters,
                                               headers: headers, body: body))
    }
}
