import Foundation
import Logging
import MQTTBroker
import MQTTClient
import MQTTCore
import NIOCore
import Testing
import TestSupport

/// A broker with `listeners` (port 0 each) for the duration of `body`, given the bound ports.
func withBroker<T>(listeners: [BrokerListener], settings: BrokerSettings, _ body: (_ ports: [Int]) async throws -> T) async throws -> T {
    try await withStartedBroker(listeners: listeners, settings: settings, logger: testLogger, body)
}

/// A password file of test users, hashed with few iterations so tests stay fast.
let testPasswords: BrokerPasswordFile = {
    var file = BrokerPasswordFile()
    for (user, password) in [("alice", "wonderland"), ("bob", "builder")] {
        do { try file.set(user: user, password: password, iterations: 4096) } catch { fatalError("\(error)") }
    }
    return file
}()

extension RawMQTTClient {
    /// CONNECT with user name and password; the CONNACK whatever it says.
    func connect(_ id: String, username: String?, password: String?, properties: MQTTProperties = []) async throws -> MQTTConnAckPacket {
        try await send(.connect(MQTTConnectPacket(protocolVersion: version, clientIdentifier: id, username: username,
                                                  password: password.map { ByteBuffer(string: $0) }, properties: properties)))
        guard case .connack(let connack) = try await receive(timeout: .seconds(10), "CONNACK") else {
            throw RawClientError(description: "no CONNACK")
        }
        return connack
    }

    static func login(_ port: Int, _ version: MQTTProtocolVersion, _ user: String?, _ password: String?,
                      id: String = unique("c"), source: String? = nil) async throws -> (RawMQTTClient, MQTTReasonCode) {
        let client = try await open(port: port, version: version, source: source)
        return (client, try await client.connect(id, username: user, password: password).reasonCode)
    }

    /// The CONNACK reason code of a login (the connection is dropped).
    static func loginCode(_ port: Int, _ version: MQTTProtocolVersion, _ user: String?, _ password: String?,
                          id: String = unique("c"), source: String? = nil) async throws -> MQTTReasonCode {
        try await login(port, version, user, password, id: id, source: source).1
    }
}

@Suite("authentication: who may connect", .timeLimit(.minutes(1)))
struct AuthenticationTests {
    /// Password checks queue on a busy machine: a CONNECT timeout that allows for it.
    static let settings = BrokerSettings.test.with {
        $0.passwords = testPasswords
        $0.connectTimeout = .seconds(15)
    }

    @Test("Anonymous clients: accepted on a loopback listener, refused 0x87/0x05 where allowAnonymous is false or the host is 0.0.0.0",
          arguments: MQTTProtocolVersion.allCases)
    func anonymousPerListener(version: MQTTProtocolVersion) async throws {
        var closed = BrokerListener(host: "127.0.0.1", port: 0)
        closed.allowAnonymous = false
        var openWide = BrokerListener(host: "0.0.0.0", port: 0)
        openWide.allowAnonymous = true
        let listeners = [BrokerListener(host: "127.0.0.1", port: 0), closed, BrokerListener(host: "0.0.0.0", port: 0), openWide]
        try await withBroker(listeners: listeners, settings: Self.settings) { (ports: [Int]) async throws in
            #expect(try await RawMQTTClient.loginCode(ports[0], version, nil, nil) == .success)
            #expect(try await RawMQTTClient.loginCode(ports[1], version, nil, nil) == .notAuthorized)
            #expect(try await RawMQTTClient.loginCode(ports[2], version, nil, nil) == .notAuthorized)
            #expect(try await RawMQTTClient.loginCode(ports[3], version, nil, nil) == .success)
            // Users with the right password get in everywhere.
            for port in ports { #expect(try await RawMQTTClient.loginCode(port, version, "alice", "wonderland") == .success) }
        }
    }

    @Test("Right password accepted; wrong password, unknown user or missing password refused 0x86 (0x04 on 3.1.1)",
          arguments: MQTTProtocolVersion.allCases)
    func passwords(version: MQTTProtocolVersion) async throws {
        try await withBroker(listeners: [BrokerListener(host: "0.0.0.0", port: 0)], settings: Self.settings) { (ports: [Int]) async throws in
            let (alice, code) = try await RawMQTTClient.login(ports[0], version, "alice", "wonderland")
            #expect(code == .success)
            #expect(try await alice.subscribe("a/b") == [.grantedQoS0])
            for (user, password) in [("alice", "builder"), ("carol", "wonderland"), ("bob", nil as String?)] {
                let (client, code) = try await RawMQTTClient.login(ports[0], version, user, password)
                #expect(code == .badUserNameOrPassword, "\(user)")
                try await client.expectClosed()
            }
        }
    }

    @Test("A CONNACK refusal reads as such in 3.1.1 bytes: return code 4 for a bad password")
    func v311ReturnCode() async throws {
        try await withBroker(listeners: [BrokerListener(host: "0.0.0.0", port: 0)], settings: Self.settings) { (ports: [Int]) async throws in
            let client = try await RawMQTTClient.open(port: ports[0], version: .v311)
            try await client.send(.connect(MQTTConnectPacket(protocolVersion: .v311, clientIdentifier: "x", username: "bob",
                                                             password: ByteBuffer(string: "nope"))))
            // The decoder maps 0x04 back to 0x86: the round trip is the wire value.
            guard case .connack(let connack) = try await client.receive() else { Issue.record("no CONNACK"); return }
            #expect(connack.reasonCode == .badUserNameOrPassword)
        }
    }

    @Test("After maxAuthFailures failures an address is refused 0x9F (0x03) even with the right password; other addresses are not",
          arguments: MQTTProtocolVersion.allCases)
    func failedAttemptsRateLimited(version: MQTTProtocolVersion) async throws {
        let settings = Self.settings.with {
            $0.maxAuthFailures = 2
            $0.authFailureBlock = .seconds(60)
        }
        try await withBroker(listeners: [BrokerListener(host: "0.0.0.0", port: 0)], settings: settings) { (ports: [Int]) async throws in
            for _ in 0..<2 { #expect(try await RawMQTTClient.loginCode(ports[0], version, "alice", "guess") == .badUserNameOrPassword) }
            let (_, blocked) = try await RawMQTTClient.login(ports[0], version, "alice", "wonderland")
            #expect(blocked == (version == .v5 ? .connectionRateExceeded : .serverUnavailable))
            #expect(try await RawMQTTClient.loginCode(ports[0], version, "alice", "wonderland", source: "127.0.0.2") == .success)
        }
    }

    @Test("The refusal window ends by itself, and a success starts the count over")
    func refusalWindowEnds() async throws {
        let settings = Self.settings.with {
            $0.maxAuthFailures = 1
            $0.authFailureBlock = .milliseconds(300)
        }
        try await withBroker(listeners: [BrokerListener(host: "0.0.0.0", port: 0)], settings: settings) { (ports: [Int]) async throws in
            #expect(try await RawMQTTClient.loginCode(ports[0], .v5, "bob", "x") == .badUserNameOrPassword)
            try await poll(timeout: .seconds(15), interval: .milliseconds(100), "the refusal window to pass") { () -> Bool? in
                try await RawMQTTClient.loginCode(ports[0], .v5, "bob", "builder") == .success ? true : nil
            }
        }
    }

    @Test("A slow password check runs off the event loop: other clients are answered meanwhile")
    func slowHashDoesNotStall() async throws {
        // Two million PBKDF2 rounds (about a second): far longer than round trips of another client.
        let line = "slow:SCRAM-SHA-256$2000000:c2FsdHNhbHQ=$\(Data(count: 32).base64EncodedString()):\(Data(count: 32).base64EncodedString())\n"
        let passwords = try BrokerPasswordFile.parse(line)
        let settings = Self.settings.with {
            $0.passwords = passwords
            $0.connectTimeout = .seconds(120)
        }
        try await withBroker(listeners: [BrokerListener(host: "127.0.0.1", port: 0)], settings: settings) { (ports: [Int]) async throws in
            let other = try await RawMQTTClient.connected(port: ports[0], version: .v5, clientID: unique("other"))
            let slow = try await RawMQTTClient.open(port: ports[0], version: .v5)
            try await slow.send(.connect(MQTTConnectPacket(protocolVersion: .v5, clientIdentifier: "slow", username: "slow",
                                                           password: ByteBuffer(string: "x"))))
            try await other.expectNothingPending()
            try await other.publish("t", "still served", qos: .atLeastOnce)
            // The slow check is still running: nothing came back to it yet.
            await #expect(throws: RawClientError.self) { try await slow.receive(timeout: .milliseconds(1)) }
            guard case .connack(let connack) = try await slow.receive(timeout: .seconds(100), "CONNACK") else { Issue.record("no CONNACK"); return }
            #expect(connack.reasonCode == .badUserNameOrPassword)
        }
    }

    @Test("Packets sent right behind CONNECT wait for the password check and are then handled in order")
    func pipelinedPackets() async throws {
        try await withBroker(listeners: [BrokerListener(host: "0.0.0.0", port: 0)], settings: Self.settings) { (ports: [Int]) async throws in
            let client = try await RawMQTTClient.open(port: ports[0], version: .v311)
            try await client.sendBatch([
                .connect(MQTTConnectPacket(protocolVersion: .v311, clientIdentifier: unique("p"), username: "bob", password: ByteBuffer(string: "builder"))),
                .subscribe(MQTTSubscribePacket(packetIdentifier: 1, subscriptions: [MQTTSubscription(topicFilter: "pipe/#", qos: .atLeastOnce)])),
                .publish(MQTTPublishPacket(topic: "pipe/1", payload: ByteBuffer(string: "one"), qos: .atLeastOnce, packetIdentifier: 2)),
            ])
            guard case .connack(let connack) = try await client.receive() else { Issue.record("no CONNACK"); return }
            #expect(connack.reasonCode == .success)
            let rest = [try await client.receive(), try await client.receive(), try await client.receive()].map(\.brief)
            #expect(rest.contains("SUBACK(1, [0x01 Granted QoS 1])"))
            #expect(rest.contains("PUBACK(2, 0x00 Success)"))
            #expect(rest.contains { $0.hasPrefix("PUBLISH(pipe/1") })
        }
    }
}
