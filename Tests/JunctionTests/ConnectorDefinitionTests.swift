import Foundation
import Junction
import MQTTCore
import Testing

@Suite("Connector definitions")
struct ConnectorDefinitionTests {
    func parse(_ json: String, name: String = "c", file: String = "/tmp/Connectors/c.json") -> (ConnectorDefinition?, [DefinitionProblem]) {
        let reader = DefinitionReader(file: file)
        let connector = ConnectorDefinition.parse(name: name, reader.parse(Data(json.utf8)), reader: reader)
        return (connector, reader.problems)
    }

    @Test("Each kind is read with its fields")
    func kinds() throws {
        let (mqtt, p1) = parse(#"{"type": "mqtt", "urls": ["mqtt://a.example:1883", "mqtt://b.example"], "clientId": "j1", "protocolVersion": "3.1.1", "keepAlive": "30s", "sessionExpiry": "1h"}"#)
        #expect(p1.isEmpty)
        guard case .mqtt(let m) = try #require(mqtt).kind else { Issue.record("not mqtt"); return }
        #expect(m.urls.map(\.absoluteString) == ["mqtt://a.example:1883", "mqtt://b.example"])
        #expect(m.protocolVersion == .v311 && m.keepAliveSeconds == 30 && m.sessionExpirySeconds == 3600 && m.clientID == "j1")

        let (http, p2) = parse(#"{"type": "http", "baseUrl": "https://ops.example/api", "method": "PUT", "timeout": "5s", "retries": 2, "headers": {"X-Team": "ops"}}"#)
        #expect(p2.isEmpty)
        guard case .http(let h) = try #require(http).kind else { Issue.record("not http"); return }
        #expect(h.baseURL.absoluteString == "https://ops.example/api" && h.method == "PUT" && h.timeoutMilliseconds == 5000 && h.retries == 2)
        #expect(h.headers["X-Team"]?.reveal() == "ops")
        #expect(try #require(http).canSend && !(try #require(http)).canListen)

        let (listener, p3) = parse(#"{"type": "http-listener", "port": 8080}"#)
        #expect(p3.isEmpty && listener?.canListen == true && listener?.canSend == false)
        let (file, p4) = parse(#"{"type": "file", "directory": "drop"}"#)
        #expect(p4.isEmpty && file?.typeName == "file")
    }

    @Test("Secrets come from the environment or a file and never print")
    func secrets() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("conn-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Data("s3cr3t-from-file\n".utf8).write(to: directory.appendingPathComponent("password.txt"))
        // A variable the test process already has: setenv here would race with other tests
        // spawning children at the same time (setenv is not thread-safe against getenv/exec).
        let environment = ProcessInfo.processInfo.environment
        let name = try #require(["PATH", "HOME", "USER"].first { (environment[$0]?.count ?? 0) > 3 })
        let value = try #require(environment[name])
        let (connector, problems) = parse(#"{"type": "mqtt", "url": "mqtt://x", "username": "${env:"# + name + #"}", "password": "${file:password.txt}"}"#,
                                          file: directory.appendingPathComponent("c.json").path)
        #expect(problems.isEmpty)
        guard case .mqtt(let m) = try #require(connector).kind else { Issue.record("not mqtt"); return }
        #expect(m.username?.reveal() == value && m.password?.reveal() == "s3cr3t-from-file")
        let printed = "\(m) \(String(describing: m.password)) \(String(reflecting: m))"
        #expect(!printed.contains("s3cr3t") && !printed.contains(value))

        let (_, missing) = parse(#"{"type": "http", "baseUrl": "http://x", "headers": {"Authorization": "Bearer ${env:JUNCTION_UNSET_VAR_42}"}}"#)
        #expect(missing.map(\.description) == ["/tmp/Connectors/c.json: headers.Authorization: environment variable JUNCTION_UNSET_VAR_42 is not set"])
    }

    @Test("Problems name the key path and what was expected")
    func problems() {
        #expect(parse(#"{"type": "ftp"}"#).1.map(\.path) == ["type"])
        #expect(parse(#"{"type": "mqtt", "url": "http://x", "qos": 1}"#).1.map(\.path).sorted() == ["qos", "url"])
        #expect(parse(#"{"type": "http", "baseUrl": "ftp://x", "method": "FETCH"}"#).1.map(\.path).sorted() == ["baseUrl", "method"])
        #expect(parse(#"{"type": "http-listener"}"#).1.first?.message == "is required: the TCP port to listen on")
        #expect(parse(#"{"type": "mqtt", "url": "mqtts://x", "tls": {"caFile": "/nonexistent/ca.pem", "certFile": "/nonexistent/c.pem"}}"#).1.map(\.path)
                == ["tls.caFile", "tls.certFile", "tls"])
        #expect(parse(#"{"type": "file", "directory": ""}"#).1.first?.message == "expected a folder path, found an empty string")
    }
}
