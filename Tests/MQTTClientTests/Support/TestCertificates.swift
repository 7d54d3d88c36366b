import Foundation
import MQTTBroker
import MQTTClient
import MQTTCore
import MQTTTransport
import TestSupport

/// The TLS test certificates (see ``TestCertificateFolder``, which makes them once per test
/// process) as the listener and client TLS set-ups of the client tests.
enum TestCertificates {
    /// The folder holding `<name>.pem` and `<name>.key`.
    static func folder() throws -> URL { try TestCertificateFolder.url() }

    /// The path of `<name>.pem`.
    static func pem(_ name: String) throws -> String { try folder().appendingPathComponent("\(name).pem").path }
    /// The path of `<name>.key`.
    static func key(_ name: String) throws -> String { try folder().appendingPathComponent("\(name).key").path }

    /// A listener TLS set-up with the certificate `name` (default `server`), the test CA for clients.
    static func listener(_ name: String = "server", clientCertificates: ListenerTLS.ClientCertificates = .none,
                         usernameFrom: ListenerTLS.UsernameSource? = nil) throws -> ListenerTLS {
        ListenerTLS(certificateFile: try pem(name), keyFile: try key(name), caFile: try pem("ca"),
                    clientCertificates: clientCertificates, usernameFrom: usernameFrom)
    }

    /// Client TLS trusting the test CA, with the client certificate `client` when given.
    static func client(_ client: String? = nil, ca: String = "ca", verification: MQTTClientTLS.Verification = .full) throws -> MQTTClientTLS {
        MQTTClientTLS(caFile: try pem(ca), certificateFile: try client.map { try pem($0) }, keyFile: try client.map { try key($0) },
                      verification: verification)
    }
}

/// A Junction broker with `listeners` (ports 0) for the duration of `body`, which gets the bound
/// ports in listener order; always shut down.
func withBroker<T>(listeners: [BrokerListener], settings: BrokerSettings = .transportTest,
                   _ body: (_ ports: [Int]) async throws -> T) async throws -> T {
    try await withStartedBroker(listeners: listeners, settings: settings, logger: testLogger, body)
}

extension BrokerListener {
    /// A loopback listener on a free port with `tls` and/or WebSocket on `webSocketPath`.
    static func test(tls: ListenerTLS? = nil, webSocketPath: String? = nil) -> BrokerListener {
        var listener = BrokerListener(host: "127.0.0.1", port: 0)
        listener.tls = tls
        listener.webSocket = webSocketPath.map { WebSocketListenerOptions(path: $0) }
        return listener
    }
}

extension MQTTClientConfiguration {
    /// ``test(port:version:clientID:)`` over `transport` to `host`, no reconnects (a refused
    /// handshake fails `connect()` at once), with `tls`.
    static func test(port: Int, transport: MQTTServer.Transport, host: String = "127.0.0.1", path: String = "/mqtt",
                     tls: MQTTClientTLS = MQTTClientTLS(), version: MQTTProtocolVersion = .v5) -> MQTTClientConfiguration {
        var configuration = MQTTClientConfiguration.test(port: port, version: version)
        var server = MQTTServer(host: host, port: port, transport: transport)
        server.path = path
        configuration.servers = [server]
        configuration.tls = tls
        configuration.reconnect = .disabled
        // Handshakes on a loaded 2-core machine can take seconds; refusals fail fast anyway.
        configuration.connectTimeout = .seconds(10)
        return configuration
    }
}

extension BrokerSettings {
    /// ``clientTest`` with a connect timeout (which also bounds a WebSocket upgrade) that leaves
    /// room for slow handshakes on a loaded machine.
    static var transportTest: BrokerSettings {
        var settings = BrokerSettings.clientTest
        settings.connectTimeout = .seconds(15)
        return settings
    }
}
