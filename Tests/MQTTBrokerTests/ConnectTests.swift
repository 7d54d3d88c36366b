import MQTTCore
import NIOCore
import Testing

/// CONNECT / CONNACK, client identifiers, protocol levels, session takeover
/// (Mosquitto test/broker/01-connect-*).
@Suite("connect", .timeLimit(.minutes(1)))
struct ConnectTests {
    /// Properties that make a session outlive its connection on 5.0 (3.1.1 uses clean session 0).
    static func persistent(_ version: MQTTProtocolVersion, expiry: UInt32 = 60) -> MQTTProperties {
        version == .v5 ? [.sessionExpiryInterval(expiry)] : []
    }

    @Test("CONNACK success; session present only when a session is resumed", arguments: MQTTProtocolVersion.allCases)
    func sessionPresent(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let id = unique("present")
            let first = try await RawMQTTClient.open(port: port, version: version)
            let ack1 = try await first.connect(clientID: id, cleanStart: false, properties: Self.persistent(version))
            #expect(ack1.reasonCode == .success)
            #expect(!ack1.sessionPresent)
            try await first.disconnect()

            let second = try await RawMQTTClient.open(port: port, version: version)
            let ack2 = try await second.connect(clientID: id, cleanStart: false, properties: Self.persistent(version))
            #expect(ack2.reasonCode == .success)
            #expect(ack2.sessionPresent)
            try await second.disconnect()

            let third = try await RawMQTTClient.open(port: port, version: version)
            let ack3 = try await third.connect(clientID: id, cleanStart: true, properties: Self.persistent(version))
            #expect(ack3.reasonCode == .success)
            #expect(!ack3.sessionPresent, "clean start discards the stored session")
            try await third.disconnect()
        }
    }

    @Test("a clean session (3.1.1) / expiry 0 (5.0) ends with its connection", arguments: MQTTProtocolVersion.allCases)
    func cleanSessionEndsWithConnection(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let id = unique("clean")
            let first = try await RawMQTTClient.connected(port: port, version: version, clientID: id, cleanStart: true)
            try await first.subscribe("clean/t", qos: .atLeastOnce)
            try await first.disconnect()

            let second = try await RawMQTTClient.open(port: port, version: version)
            let ack = try await second.connect(clientID: id, cleanStart: false)
            #expect(ack.reasonCode == .success)
            #expect(!ack.sessionPresent, "the session of a clean connection must not survive DISCONNECT")
        }
    }

    @Test("3.1.1: zero-length client id is accepted with clean session")
    func emptyClientIDCleanSession() async throws {
        try await withBroker { port in
            let client = try await RawMQTTClient.open(port: port, version: .v311)
            let ack = try await client.connect(clientID: "", cleanStart: true)
            #expect(ack.reasonCode == .success)
            #expect(!ack.sessionPresent)
            try await client.subscribe("empty/id")
            try await client.publish("empty/id", "hello")
            #expect(try await client.receivePublish().payloadString == "hello")
        }
    }

    @Test("3.1.1: zero-length client id without clean session is refused with return code 0x02")
    func emptyClientIDPersistentSession() async throws {
        try await withBroker { port in
            let client = try await RawMQTTClient.open(port: port, version: .v311)
            let ack = try await client.connect(clientID: "", cleanStart: false)
            #expect(ack.reasonCode == .clientIdentifierNotValid)  // return code 0x02
            #expect(!ack.sessionPresent)
            try await client.expectClosed()
        }
    }

    @Test("5.0: zero-length client id gets an Assigned Client Identifier")
    func assignedClientID() async throws {
        try await withBroker { port in
            let a = try await RawMQTTClient.open(port: port, version: .v5)
            let ackA = try await a.connect(clientID: "")
            let b = try await RawMQTTClient.open(port: port, version: .v5)
            let ackB = try await b.connect(clientID: "")
            #expect(ackA.reasonCode == .success)
            let idA = try #require(ackA.properties.assignedClientIdentifier)
            let idB = try #require(ackB.properties.assignedClientIdentifier)
            #expect(!idA.isEmpty)
            #expect(idA != idB)
            // Both connections stay usable side by side.
            try await a.subscribe("assigned/t")
            try await b.publish("assigned/t", "x")
            #expect(try await a.receivePublish().payloadString == "x")
        }
    }

    @Test("5.0: a client id that is given is not assigned again")
    func noAssignedClientIDWhenGiven() async throws {
        try await withBroker { port in
            let client = try await RawMQTTClient.open(port: port, version: .v5)
            let ack = try await client.connect(clientID: unique("given"))
            #expect(ack.properties.assignedClientIdentifier == nil)
        }
    }

    @Test("an unsupported protocol level is answered with CONNACK return code 0x01, then closed",
          arguments: [("MQTT", UInt8(6)), ("MQTT", 3), ("MQIsdp", 3)])
    func unsupportedProtocolLevel(name: String, level: UInt8) async throws {
        try await withBroker { port in
            let client = try await RawMQTTClient.open(port: port, version: .v311)
            // CONNECT with that protocol name and level, clean start, keepalive 60, client id "x".
            let variable: [UInt8] = [0x00, UInt8(name.utf8.count)] + Array(name.utf8) + [level, 0x02, 0x00, 0x3C, 0x00, 0x01, 0x78]
            try await client.sendRaw([0x10, UInt8(variable.count)] + variable)
            let packet = try await client.receive()
            guard case .connack(let connack) = packet else {
                Issue.record("expected CONNACK, got \(packet.brief)")
                return
            }
            #expect(connack.reasonCode == .unsupportedProtocolVersion)  // decoded from 3.1.1 return code 0x01
            #expect(!connack.sessionPresent)
            try await client.expectClosed()
        }
    }

    @Test("a second CONNECT is a protocol error", arguments: MQTTProtocolVersion.allCases)
    func secondConnect(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let id = unique("twice")
            let client = try await RawMQTTClient.connected(port: port, version: version, clientID: id)
            try await client.send(.connect(MQTTConnectPacket(protocolVersion: version, clientIdentifier: id)))
            let reason = try await client.expectServerDisconnect()
            #expect(reason == (version == .v5 ? .protocolError : nil))
        }
    }

    @Test("the first packet must be CONNECT", arguments: MQTTProtocolVersion.allCases)
    func firstPacketNotConnect(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let client = try await RawMQTTClient.open(port: port, version: version)
            try await client.send(.pingreq)
            let packets = try await client.expectClosed()
            #expect(packets.isEmpty, "nothing is answered before CONNECT: \(packets.map(\.brief))")
        }
    }

    @Test("a socket that sends no CONNECT is closed after connectTimeout")
    func connectTimeout() async throws {
        try await withBroker(settings: .test.with { $0.connectTimeout = .milliseconds(500) }) { port in
            // Measured from before the connection is opened: the broker's timer starts when it
            // accepts, which may be well before open() returns on a loaded machine.
            let start = ContinuousClock.now
            let client = try await RawMQTTClient.open(port: port, version: .v311)
            try await client.expectClosed(timeout: .seconds(15))
            #expect(ContinuousClock.now - start >= .milliseconds(400))
        }
    }

    @Test("session takeover: the old connection ends (DISCONNECT 0x8E on 5.0), the new one works",
          arguments: MQTTProtocolVersion.allCases)
    func sessionTakeover(version: MQTTProtocolVersion) async throws {
        try await withBroker { port in
            let id = unique("takeover")
            let old = try await RawMQTTClient.connected(port: port, version: version, clientID: id, cleanStart: false,
                                                        properties: Self.persistent(version))
            try await old.subscribe("takeover/t", qos: .atLeastOnce)

            let new = try await RawMQTTClient.open(port: port, version: version)
            let ack = try await new.connect(clientID: id, cleanStart: false, properties: Self.persistent(version))
            #expect(ack.reasonCode == .success)
            #expect(ack.sessionPresent, "the session was resumed, not restarted")

            let reason = try await old.expectServerDisconnect()
            #expect(reason == (version == .v5 ? .sessionTakenOver : nil))

            // The resumed subscription now delivers to the new connection.
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            try await publisher.publish("takeover/t", "after", qos: .atLeastOnce)
            let message = try await new.receivePublish()
            #expect(message.payloadString == "after")
            try await new.acknowledge(message)
            try await new.expectNothingPending()
        }
    }
}
