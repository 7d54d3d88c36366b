import Foundation
import Hummingbird
import Junction
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

/// One request as the recording server saw it.
struct RecordedRequest: Sendable {
    var method: String
    var path: String
    var headers: [String: String]
    var body: String
}

/// A door a request handler waits at until the test opens it.
actor Gate {
    private var open = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func wait() async {
        if open { return }
        await withCheckedContinuation { waiters.append($0) }
    }

    func release() {
        open = true
        for waiter in waiters { waiter.resume() }
        waiters = []
    }
}

/// A real HTTP server on 127.0.0.1 (Hummingbird, port 0) that records every request and answers
/// the statuses of `script` in order, then 200; with a gate, each answer waits until it opens.
final class RecordingServer: Sendable {
    let arrivals: AsyncStream<RecordedRequest>
    private let arrived: AsyncStream<RecordedRequest>.Continuation
    private let script: Mutex<[Int]>
    let gate: Gate?

    init(script: [Int] = [], gate: Gate? = nil) {
        (arrivals, arrived) = AsyncStream.makeStream(of: RecordedRequest.self)
        self.script = Mutex(script)
        self.gate = gate
    }

    /// Runs the server around `body`, which gets its port.
    func run(_ body: @Sendable (Int) async throws -> Void) async throws {
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        let responder = CallbackResponder<BasicRequestContext> { [self] request, _ in
            var request = request
            let data = try await request.collectBody(upTo: 1 << 20)
            var headers: [String: String] = [:]
            for field in request.headers { headers[field.name.canonicalName.lowercased()] = field.value }
            arrived.yield(RecordedRequest(method: request.method.rawValue, path: request.uri.path, headers: headers,
                                          body: String(buffer: data)))
            if let gate { await gate.wait() }
            let status = script.withLock { $0.isEmpty ? 200 : $0.removeFirst() }
            return Response(status: .init(code: status), body: ResponseBody(byteBuffer: ByteBuffer(string: "answer \(status)")))
        }
        let app = Application(responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { portSink.yield($0.localAddress?.port ?? 0) },
                              logger: Logger(label: "recorder", factory: { _ in SwiftLogNoOpLogHandler() }))
        let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "recorder", factory: { _ in SwiftLogNoOpLogHandler() })))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                let port = try #require(await withTimeout(.seconds(15)) { await ports.first { _ in true } }, "recorder did not start")
                try await body(port)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// The next recorded request, failing after 15 s.
    func next() async throws -> RecordedRequest {
        let arrivals = self.arrivals
        let request = await withTimeout(.seconds(15)) { await arrivals.first { _ in true } }
        return try #require(request, "no HTTP request within 15 s")
    }
}
