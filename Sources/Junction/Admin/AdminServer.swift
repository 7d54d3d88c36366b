import Foundation
import Hummingbird
import Logging
import MQTTBroker
import NIOCore
import ServiceLifecycle

/// `/health`, `/ready`, `/metrics` (Prometheus text) and `/api/processes` as a Hummingbird service.
public struct AdminServer: Service {
    let configuration: AdminConfiguration
    let metrics: EngineMetrics
    let status: ProcessStatusBoard
    let broker: MQTTBroker?
    let supervisor: ProcessSupervisor
    let logger: Logger
    let onBound: @Sendable (Int) -> Void

    public func run() async throws {
        try configuration.validate()
        let router = Router()
        if let token = configuration.token {
            router.add(middleware: TokenMiddleware(token: token.reveal()))
        }
        router.get("health") { _, _ in "ok\n" }
        router.get("ready") { [status] _, _ -> Response in
            let states = status.snapshot.values
            let ready = !states.contains(.starting)
            return Response(status: ready ? .ok : .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: ready ? "ready\n" : "starting\n")))
        }
        router.get("metrics") { [metrics, broker] _, _ -> Response in
            let text = await metrics.render(broker: broker)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.get("api/processes") { [status] _, _ -> Response in
            let processes = status.snapshot.sorted { $0.key < $1.key }.map { ProcessStatusBody(name: $0.key, $0.value) }
            return Self.json(.ok, processes)
        }
        // POST /api/processes/NAME/pause|resume|restart
        router.post("api/processes/:name/:action") { [supervisor] _, context -> Response in
            guard let name = context.parameters.get("name"), let action = context.parameters.get("action") else {
                return Self.json(.notFound, AdminErrorBody(error: "no such process"))
            }
            let result: ProcessSupervisor.ControlResult
            switch action {
            case "pause": result = await supervisor.pause(name)
            case "resume": result = await supervisor.resume(name)
            case "restart": result = await supervisor.restart(name)
            default: return Self.json(.notFound, AdminErrorBody(error: "unknown action \(action); expected pause, resume or restart"))
            }
            switch result {
            case .done(let state):
                return Self.json(.ok, ProcessStatusBody(name: name, state))
            case .unknownProcess:
                return Self.json(.notFound, AdminErrorBody(error: "no process named \(name)"))
            case .refused(let why):
                return Self.json(.conflict, AdminErrorBody(error: why))
            }
        }
        let app = Application(router: router, configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
                              onServerRunning: { [onBound] channel in onBound(channel.localAddress?.port ?? 0) }, logger: logger)
        // `run()`, not `runService()`: the latter starts a service group of its own that reacts to
        // SIGTERM by itself, so the admin server could end before the daemon's group asked it
        // to, and `junction run` then exited 1 ("a service has finished unexpectedly").
        try await app.run()
    }

    /// `body` as JSON (keys sorted) and a newline, with `Content-Type: application/json`.
    static func json(_ status: HTTPResponse.Status, _ body: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        guard var bytes = try? encoder.encode(body) else { return Response(status: .internalServerError) }
        bytes.append(0x0A)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

/// Requires `Authorization: Bearer <token>` on every admin request.
struct TokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: String

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard BearerToken.accepts(request.headers[.authorization], token: token) else { return Response(status: .unauthorized) }
        return try await next(request, context)
    }
}
