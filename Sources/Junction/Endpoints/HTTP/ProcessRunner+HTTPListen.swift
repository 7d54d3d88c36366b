import Foundation
import NIOCore
import ServiceLifecycle
import Synchronization

extension ProcessRunner {
    /// HTTP Listen on an `http-listener` connector: the process adds its route (method and
    /// path) to the connector's server; each request becomes a document (payload = body;
    /// properties `http.method`, `http.path`, `http.query`, `http.query.<name>`,
    /// `http.header.<name>` lowercased (never `authorization`), `contentType`) and the answer is
    /// sent when the process finished with it:
    /// - completed: the `reply` step's status and body (`http.reply.status`/`http.reply.body`),
    ///   else 200 with the payload of the last document out of the steps;
    /// - every document filtered: 422;
    /// - failed or dead-lettered: 500 (503 when the failure can pass, so the client may retry);
    /// - more than `maxInFlight` requests at once: 503 with `Retry-After`.
    func runHTTPListen(_ listen: ListenDefinition.HTTPListen) async throws {
        guard let server = context.resources.http.server(for: listen.connector) else {
            throw ProcessError(message: "connector \(listen.connector): no http listener is running", permanent: true)
        }
        let route = HTTPListenerServer.Route(method: listen.method, path: listen.path)
        let inFlight = Atomic<Int>(0)
        let maxInFlight = context.definition.maxInFlight
        try server.add(route) { request in
            guard inFlight.add(1, ordering: .relaxed).newValue <= maxInFlight else {
                inFlight.subtract(1, ordering: .relaxed)
                return .text(503, "busy: \(maxInFlight) requests in flight")
            }
            defer { inFlight.subtract(1, ordering: .relaxed) }
            var document = Self.document(from: request)
            let outcome = await process(&document, connector: listen.connector, options: listen.options, qos: nil)
            return Self.reply(for: outcome)
        }
        started(["process.name": "\(context.name)", "http.route": "\(listen.method) \(listen.path)"])
        try? await gracefulShutdown()
        server.remove(route)
        context.logger.info("process stopped", metadata: ["process.name": "\(context.name)"])
    }

    static func document(from request: HTTPListenRequest) -> Document {
        var properties = ["http.method": request.method, "http.path": request.path]
        if let query = request.query { properties["http.query"] = query }
        for (name, value) in request.queryParameters { properties["http.query.\(name)"] = value }
        for (name, value) in request.headers {
            let key = "http.header.\(name.lowercased())"
            properties[key] = properties[key].map { "\($0), \(value)" } ?? value
            if name.lowercased() == "content-type" { properties["contentType"] = value }
        }
        return Document(payload: request.body, properties: properties)
    }

    static func reply(for outcome: Outcome) -> HTTPListenReply {
        switch outcome {
        case .completed(let documents):
            guard let last = documents.last else { return .text(422, "the document was filtered") }
            let status = last.properties["http.reply.status"].flatMap { Int($0) } ?? 200
            let body = last.properties["http.reply.body"].map { ByteBuffer(string: $0) } ?? last.payload
            return HTTPListenReply(status: status, body: body, contentType: last.properties["contentType"])
        case .deadLettered(let error):
            return .text(500, "failed and dead-lettered: \(error.message)")
        case .failed(let error):
            return .text(error.permanent ? 500 : 503, "failed: \(error.message)")
        }
    }
}

extension ProcessContext {
    /// The `reply` step: records the HTTP answer on the document; the HTTP Listen sends it when
    /// the process finished.
    func recordReply(status: Int, body: Template?, _ document: inout Document) {
        document.properties["http.reply.status"] = "\(status)"
        if let body { document.properties["http.reply.body"] = body.render(document) }
    }
}
