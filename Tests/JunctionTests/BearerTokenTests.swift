import Foundation
@testable import Junction
import Testing

@Suite("Bearer tokens: one constant-time check for the admin API and http-listener connectors", .timeLimit(.minutes(1)))
struct BearerTokenTests {
    @Test("Only exactly `Bearer <token>` passes: shorter, longer, other case or scheme, one byte off are refused")
    func comparison() {
        #expect(BearerToken.accepts("Bearer s3cret", token: "s3cret"))
        let wrong: [String?] = [nil, "", "Bearer", "Bearer ", "Bearer s3cre", "Bearer s3cret ", "Bearer s3cres", "bearer s3cret",
                                "Bearer S3cret", "Basic s3cret", "Bearer s3crets3cret"]
        for header in wrong {
            #expect(!BearerToken.accepts(header, token: "s3cret"), "\(header ?? "no header")")
        }
        #expect(BearerToken.constantTimeEqual([], []))
        #expect(!BearerToken.constantTimeEqual([1, 2], [1, 2, 0]))
        #expect(!BearerToken.constantTimeEqual([1, 2, 0], [1, 2]))
    }

    @Test("Over loopback, the admin API and an http-listener both refuse every wrong Authorization with 401 and serve the right one")
    func loopback() async throws {
        let web = #"{"type": "http-listener", "host": "127.0.0.1", "port": 0, "token": "s3"}"#
        let hook = #"{"listen": {"connector": "web", "path": "/hook"}, "steps": [{"reply": {"status": 202, "body": "hooked"}}]}"#
        // The admin API's token is `s3` too (see ``AdminTests/withAdmin(connectors:processes:_:)``).
        try await AdminTests().withAdmin(connectors: ["local": AdminTests.broker, "web": web], processes: ["hook": hook]) { engine, adminPort in
            try await waitUntil("route served") { engine.resources.http.routes(of: "web").contains("POST /hook") }
            let listenerPort = try await engine.resources.http.boundPort(of: "web")
            let client = CurlClient()
            let wrong: [String?] = [nil, "", "Bearer", "Bearer s", "Bearer s4", "bearer s3", "Bearer S3", "Basic s3", "Bearer s3s3"]
            for (url, method, served) in [("http://127.0.0.1:\(adminPort)/health", "GET", 200),
                                          ("http://127.0.0.1:\(listenerPort)/hook", "POST", 202)] {
                for header in wrong {
                    let headers = header.map { [("Authorization", $0)] } ?? []
                    let refused = try await client.perform(CurlRequest(url: url, method: method, headers: headers, timeoutMilliseconds: 5000))
                    #expect(refused.status == 401, "\(url) with \(header ?? "no header")")
                }
                let accepted = try await client.perform(CurlRequest(url: url, method: method, headers: [("Authorization", "Bearer s3")],
                                                                    timeoutMilliseconds: 5000))
                #expect(accepted.status == served, "\(url)")
            }
        }
    }
}
