import Logging
import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// Broker start/shutdown, connection limits, authentication refusals
/// (Mosquitto test/broker/01-connect-*, 09-auth-*).
@Suite("lifecycle and limits", .timeLimit(.minutes(1)))
struct LifecycleTests {
    @Test("shutdown ends every client connection: DISCONNECT 0x8B on 5.0, a close on 3.1.1, also before CONNECT")
    func shutdownClosesConnections() async throws {
        let settings = BrokerSettings.test.with { $0.connectTimeout = .seconds(30) }
        let broker = MQTTBroker(listeners: [BrokerListener(host: "127.0.0.1", port: 0)], settings: settings,
                                logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let port = try #require(try await broker.start().first?.port)
        do {
            let v5 = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("v5"))
            let v311 = try await RawMQTTClient.connected(port: port, version: .v311, clientID: unique("v311"))
            let silent = try await RawMQTTClient.open(port: port, version: .v311)
            try await v311.expectNothingPending()  // all three accepted by now
            try await broker.shutdown()

            #expect(try await v5.expectServerDisconnect() == .serverShuttingDown)
            #expect(try await v311.expectServerDisconnect() == nil)
            try await silent.expectClosed(timeout: .seconds(15))
            // The listener is gone: new connections are refused.
            await #expect(throws: (any Error).self) { _ = try await RawMQTTClient.open(port: port, version: .v311) }
        } catch {
            try? await broker.shutdown()
            throw error
        }
    }

    @Test("maxConnections: one connection too many is refused (0x89 Server busy / 3.1.1 code 0x03)",
          arguments: MQTTProtocolVersion.allCases)
    func maxConnections(version: MQTTProtocolVersion) async throws {
        try await withBroker(settings: .test.with { $0.maxConnections = 1 }) { port in
            let first = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("first"))
            let second = try await RawMQTTClient.open(port: port, version: version)
            let ack = try await second.connect(clientID: unique("second"))
            #expect(ack.reasonCode == (version == .v5 ? .serverBusy : .serverUnavailable))
            try await second.expectClosed()
            try await first.expectNothingPending()
        }
    }

    @Test("5.0: an Authentication Method nobody configured is refused with 0x8C")
    func unknownAuthenticationMethod() async throws {
        try await withBroker { port in
            let client = try await RawMQTTClient.open(port: port, version: .v5)
            let ack = try await client.connect(clientID: unique("auth"), properties: [.authenticationMethod("SCRAM-SHA-1")])
            #expect(ack.reasonCode == .badAuthenticationMethod)
            try await client.expectClosed()
        }
    }

    @Test("5.0: AUTH without enhanced authentication is a protocol error")
    func authWithoutMethod() async throws {
        try await withBroker { port in
            let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("auth"))
            try await client.send(.auth(MQTTAuthPacket(reasonCode: .reAuthenticate, properties: [.authenticationMethod("x")])))
            #expect(try await client.expectServerDisconnect() == .protocolError)
        }
    }

    @Test("a packet only servers send (CONNACK, SUBACK, PINGRESP) from a client is a protocol error",
          arguments: MQTTProtocolVersion.allCases)
    func serverOnlyPacket(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let client = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("confused"))
            try await client.send(.pingresp)
            #expect(try await client.expectServerDisconnect() == (version == .v5 ? .protocolError : nil))
        }
    }
}
