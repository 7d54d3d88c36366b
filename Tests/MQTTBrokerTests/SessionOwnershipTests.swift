import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// Who may use a client id: the broker's reserved in-process ids, and other users' sessions.
@Suite("session ownership: reserved client ids and takeovers", .timeLimit(.minutes(1)))
struct SessionOwnershipTests {
    /// Users from a password file (some tests log in as them, some anonymously).
    static let settings = BrokerSettings.test.with {
        $0.passwords = testPasswords
        $0.connectTimeout = .seconds(15)
    }

    /// A broker on a loopback listener (anonymous clients allowed) for the test's body.
    static func withLocalBroker(_ settings: BrokerSettings, _ body: (_ broker: MQTTBroker, _ port: Int) async throws -> Void) async throws {
        let broker = MQTTBroker(listeners: [BrokerListener(host: "127.0.0.1", port: 0)], settings: settings, logger: testLogger)
        do {
            guard let port = try await broker.start().first?.port else { throw RawClientError(description: "no port") }
            try await body(broker, port)
            try await broker.shutdown()
        } catch {
            try? await broker.shutdown()
            throw error
        }
    }

    static func persistent(_ version: MQTTProtocolVersion) -> (cleanStart: Bool, properties: MQTTProperties) {
        version == .v5 ? (false, [.sessionExpiryInterval(300)]) : (false, [])
    }

    static func login(_ port: Int, _ version: MQTTProtocolVersion, id: String, user: String?, password: String?,
                      cleanStart: Bool = true) async throws -> (RawMQTTClient, MQTTConnAckPacket) {
        let client = try await RawMQTTClient.open(port: port, version: version)
        let properties = cleanStart ? [] : persistent(version).properties
        try await client.send(.connect(MQTTConnectPacket(protocolVersion: version, clientIdentifier: id, cleanStart: cleanStart,
                                                         username: user, password: password.map { ByteBuffer(string: $0) },
                                                         properties: properties)))
        guard case .connack(let connack) = try await client.receive(timeout: .seconds(10), "CONNACK") else {
            throw RawClientError(description: "no CONNACK")
        }
        return (client, connack)
    }

    @Test("A network client may not use a reserved in-process client id (0x85 / 0x02), with or without a password; the engine's session stays",
          arguments: MQTTProtocolVersion.allCases)
    func reservedClientID(version: MQTTProtocolVersion) async throws {
        try await Self.withLocalBroker(Self.settings) { broker, port in
            let processID = MQTTBroker.inProcessClientID("process", "orders")
            #expect(processID == "junction.process.orders")
            let inProcess = try await broker.subscribe(clientID: processID, subscriptions: [MQTTSubscription(topicFilter: "orders/#", qos: .atLeastOnce)])
            for (user, password) in [(nil, nil), ("alice", "wonderland")] as [(String?, String?)] {
                for id in [processID, MQTTBroker.inProcessClientID("bridge", "cloud"), "junction.anything"] {
                    let (client, connack) = try await Self.login(port, version, id: id, user: user, password: password)
                    #expect(connack.reasonCode == .clientIdentifierNotValid, "\(id) as \(user ?? "anonymous")")
                    try await client.expectClosed()
                }
            }
            let session = try #require(try await broker.session(clientID: processID))
            #expect(session.connected)
            #expect(session.subscriptions == ["orders/#"])
            // Ids that only look alike are ordinary.
            let (other, connack) = try await Self.login(port, version, id: "junction-pub-1", user: nil, password: nil)
            #expect(connack.reasonCode == .success)
            try await other.disconnect()
            await inProcess.close()
        }
    }

    @Test("With a password file, another user (or an anonymous client) cannot take over or discard a session (0x87 / 0x05); its own user can",
          arguments: MQTTProtocolVersion.allCases)
    func takeoverByAnotherUser(version: MQTTProtocolVersion) async throws {
        try await Self.withLocalBroker(Self.settings) { broker, port in
            let id = unique("owned")
            let (alice, first) = try await Self.login(port, version, id: id, user: "alice", password: "wonderland", cleanStart: false)
            #expect(first.reasonCode == .success)
            try await alice.subscribe("owned/#", qos: .atLeastOnce)
            for (user, password) in [("bob", "builder"), (nil, nil)] as [(String?, String?)] {
                for cleanStart in [true, false] {
                    let (intruder, connack) = try await Self.login(port, version, id: id, user: user, password: password, cleanStart: cleanStart)
                    #expect(connack.reasonCode == .notAuthorized, "\(user ?? "anonymous") cleanStart \(cleanStart)")
                    try await intruder.expectClosed()
                }
            }
            // Alice's connection was not touched.
            try await alice.expectNothingPending()
            try await alice.disconnect()
            // Nor her stored session while she is away.
            let (bob, refused) = try await Self.login(port, version, id: id, user: "bob", password: "builder")
            #expect(refused.reasonCode == .notAuthorized)
            try await bob.expectClosed()
            let (back, resumed) = try await Self.login(port, version, id: id, user: "alice", password: "wonderland", cleanStart: false)
            #expect(resumed.reasonCode == .success)
            #expect(resumed.sessionPresent)
            // Her own second connection takes the first over, as usual.
            let (again, taken) = try await Self.login(port, version, id: id, user: "alice", password: "wonderland", cleanStart: false)
            #expect(taken.reasonCode == .success)
            #expect(taken.sessionPresent)
            let ended = try await back.expectServerDisconnect()
            #expect(ended == (version == .v5 ? .sessionTakenOver : nil))
            try await again.disconnect()
        }
    }

    @Test("Without authentication configured, any client takes a session over (Mosquitto's behaviour)", arguments: MQTTProtocolVersion.allCases)
    func anonymousTakeover(version: MQTTProtocolVersion) async throws {
        try await Self.withLocalBroker(.test) { _, port in
            let id = unique("shared")
            let (first, a) = try await Self.login(port, version, id: id, user: nil, password: nil)
            #expect(a.reasonCode == .success)
            // Without a password file a user name is not checked: it does not own the session.
            let (second, b) = try await Self.login(port, version, id: id, user: "mallory", password: nil)
            #expect(b.reasonCode == .success)
            _ = try await first.expectServerDisconnect()
            let (third, c) = try await Self.login(port, version, id: id, user: nil, password: nil)
            #expect(c.reasonCode == .success)
            _ = try await second.expectServerDisconnect()
            try await third.disconnect()
        }
    }
}
