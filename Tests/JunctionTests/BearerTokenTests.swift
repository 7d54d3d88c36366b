import Foundation
@testable import Junction
import Logging
import ServiceLifecycle
import Testing

@Suite("Bearer tokens: one constant-time check for the admin API and http-listener connectors", .timeLimit(.minutes(1)))
struct BearerTokenTests {
    /// Wrong `Authorization` values that reach the server as they are (HTTP drops a trailing space).
    static let wrongHeaders: [String?] = [
        nil, "", "Bearer", "Bearer s3cre", "Bearer s3cres", "bearer s3cret", "Bearer S3cret", "Basic s3cret", "Bearer s3crets3cret",
    ]

    @Test("Only exactly `Bearer <token>` passes: shorter, longer, other case or scheme, one byte off are refused")
    func comparison() {
        #expect(BearerToken.accepts("Bearer s3cret", token: "s3cret"))
        for header in Self.wrongHeaders + ["Bearer ", "Bearer s3cret "] {
            #expect(!BearerToken.accepts(header, token: "s3cret"), "\(header ?? "no header")")
        }
        #expect(BearerToken.constantTimeEqual([], []))
        #expect(!BearerToken.constantTimeEqual([1, 2], [1, 2, 0]))
        #expect(!BearerToken.constantTimeEqual([1, 2, 0], [1, 2]))
    }

    @Test("Over loopback, the admin API and an http-listener both refuse every wrong Authorization with 401 and serve the right one")
    func loopback() async throws {
        let (root, definitions) = try definitionFolder(
            connectors: ["local": #"{"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}}"#,
                         "web": #"{"type": "http-listener", "host": "127.0.0.1", "port": 0, "token": "s3cret"}"#],
            processes: ["hook": #"{"listen": {"connector": "web", "path": "/hook"}, "steps": [{"reply": {"status": 202, "body": "hooked"}}]}"#])
        defer { try? FileManager.default.removeItem(at: root) }
        let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let (adminPorts, adminPortSink) = AsyncStream.makeStream(of: Int.self)
        let engine = Engine(definitions: definitions, dataDirectory: root.appendingPathComponent(".junction"), baseDirectory: root,
                            logger: quiet, listeners: [], admin: AdminConfiguration(port: 0, token: Secret("s3cret")),
                            onAdminBound: { adminPortSink.yield($0) })
        let group = ServiceGroup(configuration: .init(services: engine.services, logger: quiet))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            defer { Task { await group.triggerGracefulShutdown() } }
            let adminPort = try #require(await withTimeout(.seconds(20)) { await adminPorts.first { _ in true } })
            try await waitUntil("route served") { engine.resources.http.routes(of: "web").contains("POST /hook") }
            let listenerPort = try await engine.resources.http.boundPort(of: "web")
            let client = CurlClient()
            for (url, method, served) in [("http://127.0.0.1:\(adminPort)/health", "GET", 200),
                                          ("http://127.0.0.1:\(listenerPort)/hook", "POST", 202)] {
                for header in Self.wrongHeaders {
                    let headers = header.map { [("Authorization", $0)] } ?? []
                    let refused = try await client.perform(CurlRequest(url: url, method: method, headers: headers, timeoutMilliseconds: 5000))
                    #expect(refused.status == 401, "\(url) with \(header ?? "no header")")
                }
                let accepted = try await client.perform(CurlRequest(url: url, method: method, headers: [("Authorization", "Bearer s3cret")],
                                                                    timeoutMilliseconds: 5000))
                #expect(accepted.status == served, "\(url)")
            }
        }
    }
}
