import Foundation
import MQTTBroker
import MQTTClient
import MQTTCore
import NIOCore
import Testing

/// MQTT 5 enhanced authentication with SCRAM-SHA-256 over a real socket, step by step.
@Suite("enhanced authentication: SCRAM-SHA-256", .timeLimit(.minutes(1)))
struct EnhancedAuthenticationTests {
    static let settings = AuthenticationTests.settings
    static let method = "SCRAM-SHA-256"

    static func bytes(_ buffer: ByteBuffer?) -> [UInt8] { buffer.map { Array($0.readableBytesView) } ?? [] }

    /// CONNECT with client-first, AUTH with client-final; returns the final packet (CONNACK) and the exchange.
    static func scramConnect(_ client: RawMQTTClient, user: String, password: String,
                             id: String = unique("scram")) async throws -> (MQTTConnAckPacket, SCRAMClientExchange) {
        var exchange = SCRAMClientExchange(username: user, password: password)
        try await client.send(.connect(MQTTConnectPacket(protocolVersion: .v5, clientIdentifier: id, properties: [
            .authenticationMethod(method), .authenticationData(ByteBuffer(bytes: exchange.clientFirst)),
        ])))
        let first = try await client.receive(timeout: .seconds(10), "AUTH")
        guard case .auth(let challenge) = first else {
            if case .connack(let connack) = first { return (connack, exchange) }
            throw RawClientError.unexpected(first, expected: "AUTH")
        }
        #expect(challenge.reasonCode == .continueAuthentication && challenge.properties.authenticationMethod == method)
        let final = try exchange.respond(toServerFirst: bytes(challenge.properties.authenticationData))
        try await client.send(.auth(MQTTAuthPacket(reasonCode: .continueAuthentication, properties: [
            .authenticationMethod(method), .authenticationData(ByteBuffer(bytes: final)),
        ])))
        guard case .connack(let connack) = try await client.receive(timeout: .seconds(10), "CONNACK") else {
            throw RawClientError(description: "no CONNACK after client-final")
        }
        return (connack, exchange)
    }

    @Test("Right password: CONNACK 0x00 carries the server signature, which verifies; the user name counts for the ACL")
    func success() async throws {
        let settings = Self.settings.with { $0.acl = [BrokerACLRule(.allow, .all, topic: "users/%u/#")] }
        try await withBroker(listeners: [BrokerListener(host: "0.0.0.0", port: 0)], settings: settings) { (ports: [Int]) async throws in
            let client = try await RawMQTTClient.open(port: ports[0], version: .v5)
            let (connack, exchange) = try await Self.scramConnect(client, user: "alice", password: "wonderland")
            #expect(connack.reasonCode == .success)
            #expect(connack.properties.authenticationMethod == Self.method)
            try exchange.verify(serverFinal: Self.bytes(connack.properties.authenticationData))
            #expect(try await client.subscribe("users/alice/#") == [.grantedQoS0])
            #expect(try await client.subscribe("users/bob/#") == [.notAuthorized])
        }
    }

    @Test("Wrong password and unknown user: CONNACK 0x86 after the proof")
    func wrongPassword() async throws {
        try await withBroker(listeners: [BrokerListener(host: "0.0.0.0", port: 0)], settings: Self.settings) { (ports: [Int]) async throws in
            for (user, password) in [("alice", "builder"), ("mallory", "wonderland")] {
                let client = try await RawMQTTClient.open(port: ports[0], version: .v5)
                let (connack, _) = try await Self.scramConnect(client, user: user, password: password)
                #expect(connack.reasonCode == .badUserNameOrPassword, "\(user)")
                try await client.expectClosed()
            }
        }
    }

    @Test("An unknown authentication method: CONNACK 0x8C Bad authentication method")
    func unknownMethod() async throws {
        try await withBroker(listeners: [BrokerListener(host: "127.0.0.1", port: 0)], settings: Self.settings) { (ports: [Int]) async throws in
            let client = try await RawMQTTClient.open(port: ports[0], version: .v5)
            let connack = try await client.connect(unique("m"), username: nil, password: nil,
                                                   properties: [.authenticationMethod("KERBEROS")])
            #expect(connack.reasonCode == .badAuthenticationMethod)
        }
    }

    @Test("A packet other than AUTH during the exchange is a protocol error (CONNACK 0x82)")
    func packetDuringExchange() async throws {
        try await withBroker(listeners: [BrokerListener(host: "0.0.0.0", port: 0)], settings: Self.settings) { (ports: [Int]) async throws in
            let client = try await RawMQTTClient.open(port: ports[0], version: .v5)
            let exchange = SCRAMClientExchange(username: "bob", password: "builder")
            try await client.send(.connect(MQTTConnectPacket(protocolVersion: .v5, clientIdentifier: "x", properties: [
                .authenticationMethod(Self.method), .authenticationData(ByteBuffer(bytes: exchange.clientFirst)),
            ])))
            guard case .auth = try await client.receive() else { Issue.record("no AUTH"); return }
            try await client.send(.pingreq)
            guard case .connack(let connack) = try await client.receive() else { Issue.record("no CONNACK"); return }
            #expect(connack.reasonCode == .protocolError)
        }
    }

    @Test("A client that stops answering during the exchange is closed at the CONNECT timeout")
    func silentDuringExchange() async throws {
        // 5 s: the challenge must come out before the timeout even on a loaded machine.
        let settings = Self.settings.with { $0.connectTimeout = .seconds(5) }
        try await withBroker(listeners: [BrokerListener(host: "0.0.0.0", port: 0)], settings: settings) { (ports: [Int]) async throws in
            let client = try await RawMQTTClient.open(port: ports[0], version: .v5)
            let exchange = SCRAMClientExchange(username: "bob", password: "builder")
            try await client.send(.connect(MQTTConnectPacket(protocolVersion: .v5, clientIdentifier: "quiet", properties: [
                .authenticationMethod(Self.method), .authenticationData(ByteBuffer(bytes: exchange.clientFirst)),
            ])))
            guard case .auth = try await client.receive() else { Issue.record("no AUTH"); return }
            #expect(try await client.expectClosed(timeout: .seconds(20)).isEmpty)
        }
    }

    /// AUTH 0x19 with a fresh client-first, then the 0x18 round; returns the broker's last packet.
    static func reauthenticate(_ client: RawMQTTClient, user: String, password: String) async throws -> MQTTPacket {
        var exchange = SCRAMClientExchange(username: user, password: password)
        try await client.send(.auth(MQTTAuthPacket(reasonCode: .reAuthenticate, properties: [
            .authenticationMethod(method), .authenticationData(ByteBuffer(bytes: exchange.clientFirst)),
        ])))
        let reply = try await client.receive(timeout: .seconds(10), "AUTH 0x18")
        guard case .auth(let challenge) = reply, challenge.reasonCode == .continueAuthentication else { return reply }
        let final = try exchange.respond(toServerFirst: bytes(challenge.properties.authenticationData))
        try await client.send(.auth(MQTTAuthPacket(reasonCode: .continueAuthentication, properties: [
            .authenticationMethod(method), .authenticationData(ByteBuffer(bytes: final)),
        ])))
        let last = try await client.receive(timeout: .seconds(10), "AUTH 0x00")
        if case .auth(let done) = last, done.reasonCode == .success {
            try exchange.verify(serverFinal: bytes(done.properties.authenticationData))
        }
        return last
    }

    @Test("Re-authentication: succeeds with AUTH 0x00 and the connection goes on; a wrong password or another user ends it with 0x87")
    func reauthentication() async throws {
        try await withBroker(listeners: [BrokerListener(host: "0.0.0.0", port: 0)], settings: Self.settings) { (ports: [Int]) async throws in
            let client = try await RawMQTTClient.open(port: ports[0], version: .v5)
            #expect(try await Self.scramConnect(client, user: "bob", password: "builder").0.reasonCode == .success)
            let again = try await Self.reauthenticate(client, user: "bob", password: "builder")
            guard case .auth(let done) = again else { Issue.record("got \(again.brief)"); return }
            #expect(done.reasonCode == .success)
            try await client.expectNothingPending()

            let wrong = try await Self.reauthenticate(client, user: "bob", password: "guess")
            guard case .disconnect(let disconnect) = wrong else { Issue.record("got \(wrong.brief)"); return }
            #expect(disconnect.reasonCode == .notAuthorized)

            let other = try await RawMQTTClient.open(port: ports[0], version: .v5)
            #expect(try await Self.scramConnect(other, user: "bob", password: "builder").0.reasonCode == .success)
            let switched = try await Self.reauthenticate(other, user: "alice", password: "wonderland")
            guard case .disconnect(let refused) = switched else { Issue.record("got \(switched.brief)"); return }
            #expect(refused.reasonCode == .notAuthorized)
        }
    }

    @Test("AUTH on a connection that did not use enhanced authentication is a protocol error")
    func authWithoutMethod() async throws {
        try await withBroker(listeners: [BrokerListener(host: "127.0.0.1", port: 0)], settings: Self.settings) { (ports: [Int]) async throws in
            let client = try await RawMQTTClient.connected(port: ports[0], version: .v5, clientID: unique("plain"))
            try await client.send(.auth(MQTTAuthPacket(reasonCode: .reAuthenticate, properties: [.authenticationMethod(Self.method)])))
            #expect(try await client.expectServerDisconnect() == .protocolError)
        }
    }
}
