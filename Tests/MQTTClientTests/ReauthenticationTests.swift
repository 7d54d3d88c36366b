import Foundation
import MQTTBroker
import MQTTClient
import MQTTCore
import NIOCore
import Synchronization
import TestSupport
import Testing

/// MQTT 5 re-authentication in the client: the broker's AUTH 0x00 goes to the mechanism, which
/// verifies the SCRAM server signature.
@Suite("client re-authentication: the server signature is verified", .timeLimit(.minutes(1)))
struct ReauthenticationTests {
    static let method = MQTTSCRAMAuthentication.method

    static func passwords() throws -> BrokerPasswordFile {
        var file = BrokerPasswordFile()
        try file.set(user: "carol", password: "secret", iterations: 4096)
        return file
    }

    @Test("Against our broker: re-authentication returns once the signature is verified, twice in a row, and the connection goes on")
    func againstBroker() async throws {
        try await withPasswordBroker(try Self.passwords()) { port, _ in
            let events = ClientEvents()
            let (configuration, scram) = MQTTClientConfiguration.scramTest(port: port, username: "carol", password: "secret", events: events)
            let client = MQTTClient(configuration: configuration, logger: MQTTClient.silentLogger)
            try await client.connect()
            try await client.reauthenticate(data: scram.restart())
            try await client.reauthenticate(data: scram.restart())
            try await client.publish(to: "reauth/ok", string: "still connected", qos: .atLeastOnce)
            #expect(events.disconnections.isEmpty, "\(events.disconnections)")
            await client.disconnect()
        }
    }

    enum Forgery: String, CaseIterable, CustomTestStringConvertible {
        /// AUTH 0x00 after the full exchange, with a signature made with the wrong key.
        case wrongSignature
        /// AUTH 0x00 right after AUTH 0x19, replaying the CONNACK's (valid) server-final.
        case replayedConnectSignature
        var testDescription: String { rawValue }
    }

    @Test("Against a scripted server: a correct AUTH 0x00 passes; a wrong or replayed signature fails the call and the client sends DISCONNECT 0x87",
          arguments: Forgery.allCases)
    func forgedServerSignature(forgery: Forgery) async throws {
        let passwords = try Self.passwords()
        let carol = try #require(passwords.scramCredentials(of: "carol"))
        let server = try await ScriptedServer.start()
        defer { Task { await server.close() } }
        let (configuration, scram) = MQTTClientConfiguration.scramTest(port: server.port, username: "carol", password: "secret")
        let client = MQTTClient(configuration: configuration, logger: MQTTClient.silentLogger)

        /// Plays the server's side of one SCRAM exchange whose client-first is `clientFirst`;
        /// returns the server-final.
        func serverExchange(clientFirst: ByteBuffer?) async throws -> [UInt8] {
            var scramServer = SCRAMServer()
            guard case .challenge(let serverFirst) = scramServer.start(clientFirst: Array((clientFirst ?? ByteBuffer()).readableBytesView),
                                                                       serverNonce: SCRAMServer.makeNonce(), decoy: carol,
                                                                       lookup: passwords.scramCredentials(of:)) else {
                throw TestFailure("the client-first was refused")
            }
            try await server.send(.auth(MQTTAuthPacket(reasonCode: .continueAuthentication, properties: [
                .authenticationMethod(Self.method), .authenticationData(ByteBuffer(bytes: serverFirst)),
            ])))
            guard case .auth(let final) = try await server.receive(), final.reasonCode == .continueAuthentication else {
                throw TestFailure("expected AUTH 0x18 with client-final")
            }
            let clientFinal = Array((final.properties.authenticationData ?? ByteBuffer()).readableBytesView)
            guard case .success(_, let serverFinal) = scramServer.finish(clientFinal: clientFinal) else {
                throw TestFailure("the client's proof was refused")
            }
            return serverFinal
        }
        func reauthenticationStarted() async throws -> ByteBuffer? {
            guard case .auth(let start) = try await server.receive(), start.reasonCode == .reAuthenticate else {
                throw TestFailure("expected AUTH 0x19")
            }
            #expect(start.properties.authenticationMethod == Self.method)
            return start.properties.authenticationData
        }
        func finish(_ serverFinal: [UInt8]) async throws {
            try await server.send(.auth(MQTTAuthPacket(reasonCode: .success, properties: [
                .authenticationMethod(Self.method), .authenticationData(ByteBuffer(bytes: serverFinal)),
            ])))
        }

        async let connected: Void = client.connect()
        guard case .connect(let connect) = try await server.receive() else { throw TestFailure("expected CONNECT") }
        let connectFinal = try await serverExchange(clientFirst: connect.properties.authenticationData)
        try await server.send(.connack(MQTTConnAckPacket(properties: [
            .authenticationMethod(Self.method), .authenticationData(ByteBuffer(bytes: connectFinal)),
        ])))
        try await connected

        // A genuine re-authentication passes.
        async let genuine: Void = client.reauthenticate(data: scram.restart())
        try await finish(try await serverExchange(clientFirst: try await reauthenticationStarted()))
        try await genuine

        // A forged one fails: the call throws and the client ends the connection with 0x87.
        async let forged: Void = client.reauthenticate(data: scram.restart())
        let clientFirst = try await reauthenticationStarted()
        switch forgery {
        case .wrongSignature:
            _ = try await serverExchange(clientFirst: clientFirst)
            try await finish(Array("v=\(Data(repeating: 7, count: 32).base64EncodedString())".utf8))
        case .replayedConnectSignature:
            try await finish(connectFinal)
        }
        var failure: (any Error)?
        do { try await forged } catch { failure = error }
        guard case .authenticationFailed(let description)? = failure as? MQTTClientError else {
            Issue.record("the forged re-authentication did not fail the call: \(String(describing: failure))")
            return
        }
        #expect(description.contains(forgery == .wrongSignature ? "signature is wrong" : "server-final before server-first"), "\(description)")
        guard case .disconnect(let disconnect) = try await server.receive() else { throw TestFailure("expected DISCONNECT") }
        #expect(disconnect.reasonCode == .notAuthorized)
        await client.disconnect()
    }
}
