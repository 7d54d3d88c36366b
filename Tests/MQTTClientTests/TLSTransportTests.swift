import Foundation
import MQTTBroker
import MQTTClient
import MQTTCore
import MQTTTransport
import NIOCore
import TestSupport
import Testing

/// Connects with `configuration`, subscribes, publishes at QoS 1 and receives it back: MQTT
/// travels both ways over the configured transport.
func roundTrip(_ configuration: MQTTClientConfiguration, payload: String = "over the transport") async throws {
    let topic = unique("transport")
    try await MQTTClient.withConnection(configuration) { client in
        let inbox = Inbox()
        let task = try await client.feed(inbox, [MQTTSubscription(topicFilter: topic, qos: .atLeastOnce)])
        try await client.publish(to: topic, string: payload, qos: .atLeastOnce)
        try await inbox.waitForDistinct(1)
        #expect(await inbox.payloads == [payload])
        task.cancel()
    }
}

/// The error `connect()` fails with, or nil when the connection was accepted.
func connectionError(_ configuration: MQTTClientConfiguration) async -> MQTTClientError? {
    let client = MQTTClient(configuration: configuration)
    do {
        try await client.connect()
        await client.disconnect()
        return nil
    } catch {
        await client.disconnect()
        return error
    }
}

/// TLS listeners of the broker and `mqtts://` in the client, with certificates made by the test
/// (Tests/Scripts/make-test-certs.sh): real handshakes on loopback.
@Suite("TLS transport", .timeLimit(.minutes(2)))
struct TLSTransportTests {
    @Test("mqtts: the client trusting the test CA talks to a TLS listener, by IP address and by host name, 3.1.1 and 5.0",
          arguments: ["127.0.0.1", "localhost"], MQTTProtocolVersion.allCases)
    func mqttsRoundTrip(host: String, version: MQTTProtocolVersion) async throws {
        try await withBroker(listeners: [.test(tls: try TestCertificates.listener())]) { ports in
            try await roundTrip(.test(port: ports[0], transport: .tls, host: host, tls: try TestCertificates.client(), version: version))
        }
    }

    @Test("one broker serves TCP and TLS listeners at once; a plain client on the TLS port gets no CONNACK")
    func severalListeners() async throws {
        try await withBroker(listeners: [.test(), .test(tls: try TestCertificates.listener())]) { ports in
            try await roundTrip(.test(port: ports[0], transport: .tcp))
            try await roundTrip(.test(port: ports[1], transport: .tls, tls: try TestCertificates.client()))
            var plain = MQTTClientConfiguration.test(port: ports[1], transport: .tcp)
            plain.connectTimeout = .seconds(1)
            #expect(await connectionError(plain) != nil)
        }
    }

    @Test("the client refuses an expired server certificate, one from another CA, and one for another host")
    func serverCertificateChecks() async throws {
        for (certificate, expected) in [("expired-server", "expired"), ("other-server", "verify"), ("wrong-host", "hostname")] {
            try await withBroker(listeners: [.test(tls: try TestCertificates.listener(certificate))]) { ports in
                let error = await connectionError(.test(port: ports[0], transport: .tls, tls: try TestCertificates.client()))
                guard case .connectionFailed(_, let description)? = error else {
                    Issue.record("\(certificate): expected the handshake to fail, got \(String(describing: error))")
                    return
                }
                #expect(description.lowercased().contains(expected) || description.contains("CERTIFICATE_VERIFY_FAILED"),
                        "\(certificate): \(description)")
            }
        }
    }

    @Test("verification can be relaxed on purpose: noHostname accepts the wrong host (not another CA); none accepts anything")
    func relaxedVerification() async throws {
        try await withBroker(listeners: [.test(tls: try TestCertificates.listener("wrong-host"))]) { ports in
            try await roundTrip(.test(port: ports[0], transport: .tls, tls: try TestCertificates.client(verification: .noHostname)))
        }
        try await withBroker(listeners: [.test(tls: try TestCertificates.listener("other-server"))]) { ports in
            #expect(await connectionError(.test(port: ports[0], transport: .tls, tls: try TestCertificates.client(verification: .noHostname))) != nil)
            try await roundTrip(.test(port: ports[0], transport: .tls, tls: MQTTClientTLS(verification: .none)))
        }
    }

    @Test("client certificates required: a valid one is accepted; none, an expired one, or one from another CA are refused")
    func requiredClientCertificates() async throws {
        try await withBroker(listeners: [.test(tls: try TestCertificates.listener(clientCertificates: .required))]) { ports in
            try await roundTrip(.test(port: ports[0], transport: .tls, tls: try TestCertificates.client("client")))
            for client in [nil, "expired-client", "other-client"] {
                let error = await connectionError(.test(port: ports[0], transport: .tls, tls: try TestCertificates.client(client)))
                #expect(error != nil, "client certificate \(client ?? "none") was accepted")
            }
        }
    }

    @Test("client certificates optional: none is fine, a valid one is fine, one from another CA is refused")
    func optionalClientCertificates() async throws {
        try await withBroker(listeners: [.test(tls: try TestCertificates.listener(clientCertificates: .optional))]) { ports in
            try await roundTrip(.test(port: ports[0], transport: .tls, tls: try TestCertificates.client()))
            try await roundTrip(.test(port: ports[0], transport: .tls, tls: try TestCertificates.client("client")))
            #expect(await connectionError(.test(port: ports[0], transport: .tls, tls: try TestCertificates.client("other-client"))) != nil)
        }
    }

    @Test("usernameFrom cn / san: the certificate names the user, whatever CONNECT says; ACL rules with %u see it",
          arguments: [(ListenerTLS.UsernameSource.cn, "sensor-7"), (.san, "device-42.example")])
    func certificateUsername(source: ListenerTLS.UsernameSource, user: String) async throws {
        var settings = BrokerSettings.transportTest
        settings.acl = [BrokerACLRule(.allow, .all, topic: "users/%u/#")]
        let tls = try TestCertificates.listener(clientCertificates: .required, usernameFrom: source)
        try await withBroker(listeners: [.test(tls: tls)], settings: settings) { ports in
            var configuration = MQTTClientConfiguration.test(port: ports[0], transport: .tls, tls: try TestCertificates.client("client"))
            configuration.username = "someone-else"
            try await MQTTClient.withConnection(configuration) { client in
                let inbox = Inbox()
                let task = try await client.feed(inbox, [MQTTSubscription(topicFilter: "users/\(user)/#", qos: .atLeastOnce)])
                try await client.publish(to: "users/\(user)/hello", string: "mine", qos: .atLeastOnce)
                try await inbox.waitForDistinct(1)
                task.cancel()
                await #expect(throws: MQTTClientError.self) {
                    try await client.subscribe(to: [MQTTSubscription(topicFilter: "users/someone-else/#", qos: .atLeastOnce)]) { _ in }
                }
            }
        }
    }

    @Test("a listener whose certificate and key do not match fails to start with a clear error")
    func mismatchedKey() async throws {
        let tls = ListenerTLS(certificateFile: try TestCertificates.pem("server"), keyFile: try TestCertificates.key("client"))
        let broker = MQTTBroker(listeners: [.test(tls: tls)], settings: .clientTest, logger: testLogger)
        await #expect(throws: TransportError.self) { try await broker.start() }
        try? await broker.shutdown()
        let missing = ListenerTLS(certificateFile: "/nonexistent/server.pem", keyFile: try TestCertificates.key("server"))
        let error = #expect(throws: TransportError.self) { try missing.makeServerContext() }
        #expect(error?.description.contains("/nonexistent/server.pem") == true)
    }
}

/// MQTTClient over TLS against a real Mosquitto TLS listener (`listener`, `cafile`, `certfile`,
/// `keyfile`, `require_certificate`).
@Suite("TLS transport against Mosquitto", .timeLimit(.minutes(2)))
struct MosquittoTLSTests {
    static func tlsConfiguration(port: Int, requireCertificate: Bool) throws -> [String] {
        [
            "listener \(port) 127.0.0.1",
            "cafile \(try TestCertificates.pem("ca"))",
            "certfile \(try TestCertificates.pem("server"))",
            "keyfile \(try TestCertificates.key("server"))",
            "tls_version tlsv1.2",
            "require_certificate \(requireCertificate)",
        ]
    }

    @Test("mqtts to Mosquitto: server-authenticated, then with a required client certificate (missing one refused)")
    func mosquittoTLS() async throws {
        let open = try LoopbackPort.pick()
        let strict = try LoopbackPort.pick()
        let lines = try Self.tlsConfiguration(port: open, requireCertificate: false) + Self.tlsConfiguration(port: strict, requireCertificate: true)
        try await withTestMosquitto(persistence: .on(autosaveInterval: 1), extraConfiguration: lines) { mosquitto in
            try await poll(timeout: .seconds(20), "mosquitto's TLS listeners") { mosquitto.listens(on: open) && mosquitto.listens(on: strict) ? true : nil }
            for version in MQTTProtocolVersion.allCases {
                try await roundTrip(.test(port: open, transport: .tls, tls: try TestCertificates.client(), version: version))
            }
            try await roundTrip(.test(port: strict, transport: .tls, host: "localhost", tls: try TestCertificates.client("client")))
            #expect(await connectionError(.test(port: strict, transport: .tls, tls: try TestCertificates.client())) != nil)
            #expect(await connectionError(.test(port: open, transport: .tls, tls: try TestCertificates.client(ca: "other-ca"))) != nil,
                    "a client trusting another CA must refuse mosquitto's certificate")
        }
    }
}
