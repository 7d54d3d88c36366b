import Foundation
import Junction
import Logging
import MQTTBroker
import MQTTCore
import MQTTTransport
import NIOCore
import TestSupport
import Testing

@Suite("Transport definitions: listener TLS and WebSocket, warnings, HTTPS listener", .timeLimit(.minutes(1)))
struct TransportDefinitionTests {
    func parse(_ json: String, file: String) -> (BrokerDefinition, [DefinitionProblem]) {
        let reader = DefinitionReader(file: file)
        let definition = BrokerDefinition.parse(reader.parse(Data(json.utf8)), reader: reader)
        return (definition, reader.problems)
    }

    /// A Connectors/ folder holding the test certificates under certs/.
    func connectorsFolder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("junction-defs-\(UUID().uuidString.prefix(8))/Connectors")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("certs"), withIntermediateDirectories: true)
        for name in ["ca.pem", "server.pem", "server.key", "client.pem", "client.key"] {
            try FileManager.default.copyItem(atPath: try TestCertificateFolder.path(name), toPath: folder.appendingPathComponent("certs/\(name)").path)
        }
        return folder
    }

    @Test("Listeners take tls (files relative to the definition) and websocket; both together are WSS")
    func listenersParsed() throws {
        let folder = try connectorsFolder()
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        let (definition, problems) = parse("""
            {"type": "mqtt-broker", "listeners": [
              {"port": 1883},
              {"host": "0.0.0.0", "port": 8883, "tls": {"certificate": "certs/server.pem", "key": "certs/server.key", "ca": "certs/ca.pem",
                                                      "clientCertificates": "required", "usernameFrom": "cn"}},
              {"port": 8083, "websocket": {"path": "/mqtt"}},
              {"port": 8084, "websocket": true, "tls": {"certificate": "certs/server.pem", "key": "certs/server.key"}}]}
            """, file: folder.appendingPathComponent("broker.json").path)
        #expect(problems.isEmpty, "\(problems)")
        #expect(definition.listeners.count == 4)
        #expect(definition.listeners[0].tls == nil && definition.listeners[0].webSocket == nil)
        let tls = try #require(definition.listeners[1].tls)
        #expect(tls.certificateFile == folder.appendingPathComponent("certs/server.pem").path)
        #expect(tls.caFile == folder.appendingPathComponent("certs/ca.pem").path)
        #expect(tls.clientCertificates == .required && tls.usernameFrom == .cn)
        #expect(definition.listeners[2].webSocket == WebSocketListenerOptions(path: "/mqtt") && definition.listeners[2].tls == nil)
        #expect(definition.listeners[3].webSocket?.path == "/mqtt" && definition.listeners[3].tls?.clientCertificates == ListenerTLS.ClientCertificates.none)
    }

    @Test("Transport problems name the key path and what was expected, all at once")
    func transportProblems() throws {
        let folder = try connectorsFolder()
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        let (_, problems) = parse("""
            {"type": "mqtt-broker", "listeners": [
              {"port": 1, "tls": {"certificate": "certs/missing.pem", "clientCertificates": "sometimes", "usernameFrom": "email", "colour": 1}},
              {"port": 2, "tls": {"certificate": "certs/server.pem", "key": "certs/server.key", "usernameFrom": "cn"}},
              {"port": 3, "websocket": {"path": "mqtt", "compress": true}},
              {"port": 4, "websocket": "yes"},
              {"port": 5, "tls": {"certificate": "certs/server.pem", "key": "certs/client.key"}}]}
            """, file: folder.appendingPathComponent("broker.json").path)
        let byPath = Dictionary(grouping: problems, by: \.path).mapValues { $0.map(\.message) }
        #expect(Set(byPath.keys) == [
            "listeners[0].tls.certificate", "listeners[0].tls.key", "listeners[0].tls.clientCertificates", "listeners[0].tls.usernameFrom",
            "listeners[0].tls.colour", "listeners[1].tls.usernameFrom", "listeners[2].websocket.path", "listeners[2].websocket.compress",
            "listeners[3].websocket", "listeners[4].tls",
        ], "\(problems)")
        #expect(byPath["listeners[0].tls.certificate"]?.first?.hasPrefix("cannot read ") == true)
        #expect(byPath["listeners[0].tls.key"] == ["is required: a PEM file"])
        #expect(byPath["listeners[0].tls.clientCertificates"] == [#"expected "none", "optional" or "required", found "sometimes""#])
        #expect(byPath["listeners[1].tls.usernameFrom"] == [#"needs "clientCertificates": "optional" or "required""#])
        #expect(byPath["listeners[2].websocket.path"]?.first?.hasPrefix(#"expected a request path starting with "/""#) == true)
        #expect(byPath["listeners[4].tls"]?.first?.hasPrefix("cannot be used: ") == true, "a key that does not match its certificate")
    }

    func load(_ connectors: [String: String], in folder: URL) throws -> Definitions {
        for (name, json) in connectors { try Data(json.utf8).write(to: folder.appendingPathComponent("\(name).json")) }
        let processes = folder.deletingLastPathComponent().appendingPathComponent("Processes")
        try FileManager.default.createDirectory(at: processes, withIntermediateDirectories: true)
        return DefinitionLoader.load(processes: processes.path, connectors: folder.path)
    }

    @Test("Warnings, not errors: client certificates without a CA, verify false on outbound TLS, tls without a TLS url")
    func warnings() throws {
        let folder = try connectorsFolder()
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        let definitions = try load([
            "broker": #"{"type": "mqtt-broker", "listeners": [{"port": 1883}, {"port": 8883, "tls": {"certificate": "certs/server.pem", "key": "certs/server.key", "clientCertificates": "required"}}]}"#,
            "web": #"{"type": "http-listener", "port": 8443, "tls": {"certificate": "certs/server.pem", "key": "certs/server.key", "clientCertificates": "optional"}}"#,
            "remote": #"{"type": "mqtt", "url": "mqtts://broker.example", "tls": {"caFile": "certs/ca.pem", "verify": false}}"#,
            "api": #"{"type": "http", "baseUrl": "https://api.example", "tls": {"verify": false}}"#,
            "fine": #"{"type": "mqtt", "url": "wss://broker.example/mqtt", "tls": {"caFile": "certs/ca.pem"}}"#,
            "plain": #"{"type": "mqtt", "url": "mqtt://broker.example", "tls": {"caFile": "certs/ca.pem"}}"#,
        ], in: folder)
        #expect(definitions.problems.isEmpty, "\(definitions.problems)")
        #expect(definitions.connectors.count == 6)
        let warnings = definitions.warnings.map { "\(URL(fileURLWithPath: $0.file).lastPathComponent): \($0.path)" }
        #expect(warnings == ["api.json: tls.verify", "broker.json: listeners[1].tls.ca", "plain.json: tls", "remote.json: tls.verify", "web.json: tls.ca"])
        #expect(definitions.warnings.first { $0.path == "listeners[1].tls.ca" }?.message.contains("required") == true)
    }

    @Test("The mqtt connector accepts mqtts://, ws:// and wss:// urls with its TLS files")
    func mqttConnectorURLs() throws {
        let folder = try connectorsFolder()
        defer { try? FileManager.default.removeItem(at: folder.deletingLastPathComponent()) }
        let definitions = try load([
            "remote": #"{"type": "mqtt", "urls": ["mqtts://a.example", "wss://b.example:8084/mqtt", "ws://c.example"], "tls": {"caFile": "certs/ca.pem", "certFile": "certs/client.pem", "keyFile": "certs/client.key"}}"#,
        ], in: folder)
        #expect(definitions.problems.isEmpty, "\(definitions.problems)")
        guard case .mqtt(let mqtt)? = definitions.connectors["remote"]?.kind else {
            Issue.record("no mqtt connector")
            return
        }
        #expect(mqtt.urls.map(\.scheme) == ["mqtts", "wss", "ws"])
        #expect(mqtt.tls?.certFile == folder.appendingPathComponent("certs/client.pem").path)
    }

    @Test("An http-listener with tls serves HTTPS; with required client certificates a request without one is refused")
    func httpsListener() async throws {
        let ca = try TestCertificateFolder.path("ca.pem")
        let (cert, key) = (try TestCertificateFolder.path("server.pem"), try TestCertificateFolder.path("server.key"))
        let harness = try EngineHarness(
            connectors: ["local": #"{"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}}"#,
                         "web": #"{"type": "http-listener", "host": "127.0.0.1", "port": 0, "tls": {"certificate": "\#(cert)", "key": "\#(key)", "ca": "\#(ca)", "clientCertificates": "required"}}"#],
            processes: ["echo": #"{"listen": {"connector": "web", "path": "/echo", "method": "POST"}, "steps": [{"reply": {"status": 200, "body": "secure {{payload}}"}}]}"#])
        try await harness.runHTTP(connector: "web", routes: ["POST /echo"]) { _, port in
            let client = CurlClient()
            let client1 = TLSDefinition.files(ca: ca, certificate: try TestCertificateFolder.path("client.pem"), key: try TestCertificateFolder.path("client.key"))
            let ok = try await client.perform(CurlRequest(url: "https://localhost:\(port)/echo", method: "POST", body: Array("hi".utf8), tls: client1))
            #expect(ok.status == 200 && String(buffer: ok.body) == "secure hi")
            await #expect(throws: (any Error).self, "no client certificate") {
                _ = try await client.perform(CurlRequest(url: "https://localhost:\(port)/echo", method: "POST", tls: TLSDefinition.files(ca: ca)))
            }
            do {  // plain HTTP on the TLS port must not be served
                let answer = try await client.perform(CurlRequest(url: "http://localhost:\(port)/echo", method: "POST", timeoutMilliseconds: 3_000))
                #expect(answer.status != 200)
            } catch {
                // refused: the handshake could not start
            }
        }
    }

    @Test("A process listens on an external broker over mqtts:// (CA and client certificate from the connector) and sends over wss://")
    func externalBrokerOverTLS() async throws {
        let ca = try TestCertificateFolder.path("ca.pem")
        let (cert, key) = (try TestCertificateFolder.path("server.pem"), try TestCertificateFolder.path("server.key"))
        let (clientCert, clientKey) = (try TestCertificateFolder.path("client.pem"), try TestCertificateFolder.path("client.key"))
        var strict = BrokerListener(host: "127.0.0.1", port: 0)
        strict.tls = ListenerTLS(certificateFile: cert, keyFile: key, caFile: ca, clientCertificates: .required)
        var wss = BrokerListener(host: "127.0.0.1", port: 0)
        wss.tls = ListenerTLS(certificateFile: cert, keyFile: key)
        wss.webSocket = WebSocketListenerOptions()
        let external = MQTTBroker(listeners: [strict, wss], logger: Logger(label: "external", factory: { _ in SwiftLogNoOpLogHandler() }))
        let ports = try await external.start().compactMap(\.port)
        do {
            let harness = try EngineHarness(
                connectors: ["local": #"{"type": "mqtt-broker", "mqtt": {"sysInterval": "off"}}"#,
                             "ext": #"{"type": "mqtt", "url": "mqtts://localhost:\#(ports[0])", "tls": {"caFile": "\#(ca)", "certFile": "\#(clientCert)", "keyFile": "\#(clientKey)"}}"#,
                             "extws": #"{"type": "mqtt", "url": "wss://localhost:\#(ports[1])/mqtt", "tls": {"caFile": "\#(ca)"}}"#],
                processes: ["bridge": #"{"listen": {"connector": "ext", "topic": "in/+", "qos": 1}, "steps": [{"send": {"connector": "extws", "topic": "out/{{topic[1]}}", "qos": 1}}]}"#])
            try await harness.run(until: {
                let listening = try await external.session(clientID: "junction-ext-bridge")?.subscriptions == ["in/+"]
                let sending = try await external.session(clientID: "junction-extws")?.connected == true
                return listening && sending
            }) { _ in
                let out = try await external.subscribe(clientID: "checker", subscriptions: [MQTTSubscription(topicFilter: "out/#", qos: .atLeastOnce)], cleanStart: true)
                try await external.publish(topic: "in/7", payload: ByteBuffer(string: "over TLS"), qos: .atLeastOnce)
                let delivery = try #require(await withTimeout(.seconds(15)) { await out.first { _ in true } })
                #expect(delivery.topic == "out/7" && String(buffer: delivery.payload) == "over TLS")
                await delivery.ack()
            }
            try await external.shutdown()
        } catch {
            try? await external.shutdown()
            throw error
        }
    }
}
