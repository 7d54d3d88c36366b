import Foundation
import MQTTBroker
import MQTTClient
import MQTTCore
import NIOCore
import Synchronization
import TestSupport
import Testing

/// A broker on 127.0.0.1 whose listener refuses anonymous clients, with `passwords`.
func withPasswordBroker<T>(_ passwords: BrokerPasswordFile, _ body: (_ port: Int, _ broker: MQTTBroker) async throws -> T) async throws -> T {
    var listener = BrokerListener(host: "127.0.0.1", port: 0)
    listener.allowAnonymous = false
    var settings = BrokerSettings.clientTest
    settings.passwords = passwords
    settings.connectTimeout = .seconds(15)
    let broker = MQTTBroker(listeners: [listener], settings: settings, logger: testLogger)
    guard let port = try await broker.start().first?.port else { throw TestFailure("no port") }
    do {
        let result = try await body(port, broker)
        try await broker.shutdown()
        return result
    } catch {
        try? await broker.shutdown()
        throw error
    }
}

@Suite("authentication: our client and other tools", .timeLimit(.minutes(2)))
struct AuthenticationInteropTests {
    static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("junction-\(UUID().uuidString.prefix(8))-\(name)").path
    }

    static func passwords(_ users: [(String, String)]) throws -> BrokerPasswordFile {
        var file = BrokerPasswordFile()
        for (user, password) in users { try file.set(user: user, password: password, iterations: 4096) }
        return file
    }

    @Test("MQTTClient with MQTTSCRAMAuthentication connects (server signature verified); a wrong password is refused 0x86")
    func clientSCRAM() async throws {
        try await withPasswordBroker(try Self.passwords([("alice", "wonderland")])) { port, _ in
            var (configuration, _) = MQTTClientConfiguration.scramTest(port: port, username: "alice", password: "wonderland", reconnect: true)
            try await MQTTClient.withConnection(configuration) { client in
                let info = await client.connectionInfo()
                #expect(info?.connAck.properties.authenticationMethod == "SCRAM-SHA-256")
                try await client.publish(to: "scram/ok", string: "hi", qos: .atLeastOnce)
            }
            configuration.authentication = MQTTSCRAMAuthentication(username: "alice", password: "nope").authentication
            configuration.reconnect = .disabled
            await #expect(throws: MQTTClientError.connectionRefused(reasonCode: .badUserNameOrPassword, reasonString: "bad user name or password")) {
                try await MQTTClient.withConnection(configuration) { _ in }
            }
        }
    }

    @Test("MQTTClient re-authentication: against a changed password file the broker ends the connection with 0x87")
    func clientReauthentication() async throws {
        try await withPasswordBroker(try Self.passwords([("bob", "builder")])) { port, broker in
            let events = ClientEvents()
            let (configuration, scram) = MQTTClientConfiguration.scramTest(port: port, username: "bob", password: "builder", events: events)
            let client = MQTTClient(configuration: configuration, logger: MQTTClient.silentLogger)
            try await client.connect()
            var settings = try await broker.currentSettings()
            settings.passwords = try Self.passwords([("bob", "changed")])
            try await broker.update(settings: settings)
            await #expect(throws: MQTTClientError.serverDisconnected(reasonCode: .notAuthorized, reasonString: "re-authentication failed")) {
                try await client.reauthenticate(data: scram.restart())
            }
            try await poll("the broker to end the connection") { events.disconnections.first }
            #expect(events.disconnections.first == .serverDisconnected(reasonCode: .notAuthorized, reasonString: "re-authentication failed"))
            await client.disconnect()
        }
    }

    @Test("MQTTClient after a re-authentication still reconnects with SCRAM (taken over, it comes back)")
    func reconnectAfterReauthentication() async throws {
        try await withPasswordBroker(try Self.passwords([("bob", "builder")])) { port, _ in
            let events = ClientEvents()
            let id = unique("back")
            let (configuration, scram) = MQTTClientConfiguration.scramTest(port: port, username: "bob", password: "builder", clientID: id,
                                                                            reconnect: true, events: events)
            let client = MQTTClient(configuration: configuration, logger: MQTTClient.silentLogger)
            try await client.connect()
            try await client.reauthenticate(data: scram.restart())
            try await client.publish(to: "back/1", string: "after re-authentication", qos: .atLeastOnce)
            // Another connection with the same client id takes the session over; the client reconnects.
            var intruder = MQTTClientConfiguration.test(port: port, clientID: id)
            intruder.connectTimeout = .seconds(15)
            intruder.reconnect = .disabled
            intruder.username = "bob"
            intruder.password = ByteBuffer(string: "builder")
            try await MQTTClient.withConnection(intruder) { _ in }
            try await poll("the client to connect again") { events.connections >= 2 ? true : nil }
            let failures = events.disconnections.compactMap { if case .authenticationFailed(let detail) = $0 { detail } else { nil } }
            #expect(failures.isEmpty, "\(failures)")
            await client.disconnect()
        }
    }

    @Test("mosquitto_pub / mosquitto_sub with -u/-P against a file made by `junction passwd -b`: right password delivers, wrong is refused",
          arguments: MQTTProtocolVersion.allCases)
    func mosquittoToolsWithJunctionPasswd(version: MQTTProtocolVersion) async throws {
        let junction = try Tools.junction()
        let file = Self.temporaryPath("passwd")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let made = try await ChildProcess.run(junction, ["passwd", "-b", "-i", "4096", file, "sensor", "s3cret pass"])
        #expect(made.status == 0, "\(made.summary)")
        let mode = try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let second = try await ChildProcess.run(junction, ["passwd", "-b", "-i", "4096", file, "other", "x"])
        #expect(second.status == 0, "\(second.summary)")
        let deleted = try await ChildProcess.run(junction, ["passwd", "-D", file, "other"])
        #expect(deleted.status == 0, "\(deleted.summary)")
        let passwords = try BrokerPasswordFile.load(path: file)
        #expect(passwords.entries.keys.elements == ["sensor"])

        try await withPasswordBroker(passwords) { port, _ in
            let v = version == .v5 ? "mqttv5" : "mqttv311"
            let topic = unique("auth")
            let credentials = ["-u", "sensor", "-P", "s3cret pass"]
            let subscriber = try ChildProcess(try Tools.mosquittoSub(), ["-p", "\(port)", "-V", v, "-t", topic, "-C", "1", "-W", "20", "-q", "1"] + credentials)
            try await poll("the subscriber to be in place") { () -> Bool? in
                let probe = try await ChildProcess.run(try Tools.mosquittoPub(), ["-p", "\(port)", "-V", v, "-t", topic, "-m", "hello", "-q", "1"] + credentials)
                #expect(probe.status == 0, "\(probe.summary)")
                return await subscriber.waitForOutput(containing: "hello", timeout: .milliseconds(200)) ? true : nil
            }
            _ = await subscriber.finish(timeout: .seconds(15))
            let wrong = try await ChildProcess.run(try Tools.mosquittoPub(), ["-p", "\(port)", "-V", v, "-t", topic, "-m", "x", "-u", "sensor", "-P", "wrong"])
            #expect(wrong.status != 0)
            #expect(wrong.stderr.lowercased().contains("bad user name or password"), "\(wrong.summary)")
            let anonymous = try await ChildProcess.run(try Tools.mosquittoPub(), ["-p", "\(port)", "-V", v, "-t", topic, "-m", "x"])
            #expect(anonymous.status != 0, "\(anonymous.summary)")
        }
    }

    @Test("junction passwd without -b reads the password twice; a mismatch changes nothing and exits 1")
    func passwdPrompts() async throws {
        let junction = try Tools.junction()
        let file = Self.temporaryPath("passwd-prompt")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let made = try await ChildProcess.run(junction, ["passwd", "-i", "4096", file, "eve"], stdin: Data("p4ss\np4ss\n".utf8))
        #expect(made.status == 0, "\(made.summary)")
        #expect(try BrokerPasswordFile.load(path: file).verify(user: "eve", password: Array("p4ss".utf8)))
        let mismatch = try await ChildProcess.run(junction, ["passwd", "-i", "4096", file, "eve"], stdin: Data("one\ntwo\n".utf8))
        #expect(mismatch.status == 1 && mismatch.stderr.contains("passwords do not match"), "\(mismatch.summary)")
        #expect(try BrokerPasswordFile.load(path: file).verify(user: "eve", password: Array("p4ss".utf8)))
        let missing = try await ChildProcess.run(junction, ["passwd", "-D", file, "nobody"])
        #expect(missing.status == 1 && missing.stderr.contains("no user \"nobody\""), "\(missing.summary)")
    }

    @Test("A password file made by mosquitto_passwd ($7$ PBKDF2-SHA512) works for user name and password")
    func mosquittoPasswdFile() async throws {
        guard let tool = ChildProcess.find("mosquitto_passwd") else {
            throw TestFailure("mosquitto_passwd is not installed: install the Debian package mosquitto (make test-deps does)")
        }
        let file = Self.temporaryPath("mosquitto-passwd")
        defer { try? FileManager.default.removeItem(atPath: file) }
        let made = try await ChildProcess.run(tool, ["-c", "-b", file, "device", "m0squitto"])
        #expect(made.status == 0, "\(made.summary)")
        let passwords = try BrokerPasswordFile.load(path: file)
        guard case .mosquittoPBKDF2 = passwords.entries["device"] else { Issue.record("not read as $7$: \(passwords.entries)"); return }
        try await withPasswordBroker(passwords) { port, _ in
            var configuration = MQTTClientConfiguration.test(port: port, version: .v311)
            configuration.connectTimeout = .seconds(15)
            configuration.username = "device"
            configuration.password = ByteBuffer(string: "m0squitto")
            _ = try await MQTTClient.withConnection(configuration) { client in
                try await client.publish(to: "m/ok", string: "hi", qos: .atLeastOnce)
            }
            configuration.password = ByteBuffer(string: "mosquitto")
            configuration.reconnect = .disabled
            await #expect(throws: MQTTClientError.connectionRefused(reasonCode: .badUserNameOrPassword, reasonString: nil)) {
                try await MQTTClient.withConnection(configuration) { _ in }
            }
        }
    }
}
