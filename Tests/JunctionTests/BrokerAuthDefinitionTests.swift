import Foundation
import Junction
import Logging
import MQTTBroker
import MQTTClient
import MQTTCore
import NIOCore
import Testing

/// The access part of broker definitions: `auth` files, `allowAnonymous`, limits, warnings, reload.
@Suite("Broker definition: authentication and limits")
struct BrokerAuthDefinitionTests {
    /// A folder with `files` (name → content) and the definition `b.json`; removed afterwards.
    func withFolder<T>(_ files: [String: String], _ body: (URL) async throws -> T) async throws -> T {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("junction-auth-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for (name, content) in files { try Data(content.utf8).write(to: folder.appendingPathComponent(name)) }
        return try await body(folder)
    }

    static func passwordText(_ users: [(String, String)]) throws -> String {
        var file = BrokerPasswordFile()
        for (user, password) in users { try file.set(user: user, password: password, iterations: 4096) }
        return file.serialized()
    }

    func parse(_ json: String, in folder: URL) -> (BrokerDefinition, [DefinitionProblem]) {
        let reader = DefinitionReader(file: folder.appendingPathComponent("b.json").path)
        let definition = BrokerDefinition.parse(reader.parse(Data(json.utf8)), reader: reader)
        return (definition, reader.problems)
    }

    @Test("auth reads the password file and the ACL file (after the acl list), relative to the definition; limits and allowAnonymous are read")
    func authSectionAndLimits() async throws {
        let acl = #"[{"permission": "allow", "action": ["publish", "receive"], "topic": "clients/%c/#"}]"#
        try await withFolder(["passwords": try Self.passwordText([("alice", "pw")]), "acl.json": acl]) { folder in
            let (definition, problems) = parse("""
                {"type": "mqtt-broker", "listeners": [{"host": "0.0.0.0", "port": 1883, "allowAnonymous": false}],
                 "acl": [{"permission": "deny", "action": "all", "topic": "secret/#"}],
                 "auth": {"passwordFile": "passwords", "aclFile": "acl.json"},
                 "mqtt": {"maxSubscriptions": 10, "maxConnectionRate": 5, "maxMessageRate": "600/1m",
                          "maxAuthFailures": 3, "authFailureBlock": "30s"}}
                """, in: folder)
            #expect(problems.isEmpty, "\(problems)")
            #expect(definition.listeners.first?.allowAnonymous == false)
            #expect(definition.settings.passwords?.entries.keys.elements == ["alice"])
            #expect(definition.settings.passwords?.verify(user: "alice", password: Array("pw".utf8)) == true)
            #expect(definition.settings.acl == [
                BrokerACLRule(.deny, .all, topic: "secret/#"), BrokerACLRule(.allow, [.publish, .receive], topic: "clients/%c/#"),
            ])
            let s = definition.settings
            #expect(s.maxSubscriptions == 10 && s.maxAuthFailures == 3 && s.authFailureBlock == .seconds(30))
            #expect(s.maxConnectionRate == BrokerRate(count: 5, per: .seconds(1)))
            #expect(s.maxMessageRate == BrokerRate(count: 600, per: .seconds(60)))
        }
    }

    @Test("Bad auth files and bad limits are each reported with the key path and the file's own line or index")
    func problemsListed() async throws {
        let acl = #"[{"permission": "maybe", "action": "publish", "topic": "a"}, {"action": "all"}]"#
        try await withFolder(["passwords": "alice\nbob:$1$x\n", "acl.json": acl]) { folder in
            let (_, problems) = parse("""
                {"type": "mqtt-broker", "listeners": [{"allowAnonymous": "yes"}],
                 "auth": {"passwordFile": "passwords", "aclFile": "acl.json", "ldap": true},
                 "mqtt": {"maxConnectionRate": "fast", "maxMessageRate": 0, "maxSubscriptions": -1}}
                """, in: folder)
            let messages = problems.map { "\($0.path): \($0.message)" }
            #expect(messages.contains { $0.hasPrefix("auth.passwordFile: ") && $0.hasSuffix("passwords: line 1: expected user:hash") })
            #expect(messages.contains { $0.hasPrefix("auth.passwordFile: ") && $0.contains("line 2: the hash of \"bob\"") })
            #expect(messages.contains { $0.hasPrefix("auth.aclFile: ") && $0.contains("acl.json: [0].permission: expected \"allow\" or \"deny\"") })
            #expect(messages.contains { $0.hasPrefix("auth.aclFile: ") && $0.contains("[1].topic: is required") })
            #expect(messages.contains { $0.hasPrefix("auth.ldap: unknown key") })
            #expect(messages.contains("listeners[0].allowAnonymous: expected true or false, found a string"))
            #expect(messages.contains { $0.hasPrefix("mqtt.maxConnectionRate: expected a positive integer per second") })
            #expect(messages.contains { $0.hasPrefix("mqtt.maxMessageRate: expected") })
            #expect(messages.contains { $0.hasPrefix("mqtt.maxSubscriptions: expected an integer") })
        }
    }

    @Test("A missing password file is an error naming it")
    func missingPasswordFile() async throws {
        try await withFolder([:]) { folder in
            let (_, problems) = parse(#"{"type": "mqtt-broker", "auth": {"passwordFile": "nope"}}"#, in: folder)
            #expect(problems.map(\.path) == ["auth.passwordFile"])
            #expect(problems.first?.message.hasSuffix("nope: cannot be read") == true)
        }
    }

    @Test("Warnings: allowAnonymous on a non-loopback listener; a non-loopback listener without a password file")
    func warnings() async throws {
        try await withFolder([:]) { folder in
            let (open, _) = parse(#"{"type": "mqtt-broker", "listeners": [{"host": "0.0.0.0", "allowAnonymous": true}, {"host": "127.0.0.1", "port": 1884, "allowAnonymous": true}]}"#, in: folder)
            #expect(open.accessWarnings.count == 1)
            #expect(open.accessWarnings.first?.hasPrefix("listeners[0].allowAnonymous: anonymous clients may connect to 0.0.0.0:1883") == true)
            let (locked, _) = parse(#"{"type": "mqtt-broker", "listeners": [{"host": "0.0.0.0"}]}"#, in: folder)
            #expect(locked.accessWarnings.first?.contains("no auth.passwordFile is configured") == true)
            let (fine, _) = parse(#"{"type": "mqtt-broker", "listeners": [{"host": "127.0.0.1"}]}"#, in: folder)
            #expect(fine.accessWarnings.isEmpty)
        }
    }

    @Test("junction validate prints the warning and still succeeds")
    func validateWarns() async throws {
        try await withFolder([:]) { folder in
            let connectors = folder.appendingPathComponent("Connectors")
            let processes = folder.appendingPathComponent("Processes")
            for directory in [connectors, processes] { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
            try Data(#"{"type": "mqtt-broker", "listeners": [{"host": "0.0.0.0", "allowAnonymous": true}]}"#.utf8)
                .write(to: connectors.appendingPathComponent("broker.json"))
            let definitions = DefinitionLoader.load(processes: processes.path, connectors: connectors.path)
            #expect(definitions.problems.isEmpty)
            #expect(definitions.accessWarnings.count == 1 && definitions.accessWarnings[0].contains("broker.json: listeners[0].allowAnonymous"))
        }
    }

    @Test("Reloading the definition re-reads the password file: a new password applies to the running broker")
    func reloadRereadsPasswords() async throws {
        try await withFolder(["passwords": try Self.passwordText([("alice", "old")])]) { folder in
            let file = folder.appendingPathComponent("b.json").path
            let json = #"{"type": "mqtt-broker", "auth": {"passwordFile": "passwords"}, "mqtt": {"sysInterval": "off"}}"#
            try Data(json.utf8).write(to: URL(fileURLWithPath: file))
            let definition = try BrokerDefinition.load(file: file)
            let broker = MQTTBroker(listeners: [], settings: definition.settings, logger: Logger(label: "test"))
            let reloader = BrokerReloader(file: file, definition: definition, broker: broker, logger: Logger(label: "test"))
            try Data(try Self.passwordText([("alice", "new"), ("bob", "b")]).utf8).write(to: folder.appendingPathComponent("passwords"))
            let changed = await reloader.reload(Data(json.utf8))
            #expect(changed.count == 1 && changed[0].hasPrefix("passwords: Optional(1 users"))
            #expect(!changed[0].contains("SCRAM"))
            let now = try await broker.currentSettings()
            #expect(now.passwords?.verify(user: "alice", password: Array("new".utf8)) == true)
            #expect(now.passwords?.entries.count == 2)
        }
    }

    @Test("Saving the password file alone reloads it into the running broker (the watcher watches auth files too)")
    func passwordFileWatched() async throws {
        try await withFolder(["passwords": try Self.passwordText([("alice", "old")])]) { folder in
            let file = folder.appendingPathComponent("b.json").path
            try Data(#"{"type": "mqtt-broker", "auth": {"passwordFile": "passwords"}, "mqtt": {"sysInterval": "off"}}"#.utf8)
                .write(to: URL(fileURLWithPath: file))
            let definition = try BrokerDefinition.load(file: file)
            let broker = MQTTBroker(listeners: [], settings: definition.settings, logger: Logger(label: "test"))
            let watcher = BrokerReloader(file: file, definition: definition, broker: broker, logger: Logger(label: "test"))
                .watcher(interval: .milliseconds(20))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await watcher.run() }
                try Data(try Self.passwordText([("alice", "new"), ("carol", "c")]).utf8).write(to: folder.appendingPathComponent("passwords"))
                var seen = false
                let deadline = ContinuousClock.now + .seconds(30)
                while !seen && ContinuousClock.now < deadline {
                    seen = try await broker.currentSettings().passwords?.entries.count == 2
                    if !seen { try await Task.sleep(for: .milliseconds(20)) }
                }
                #expect(seen)
                #expect(try await broker.currentSettings().passwords?.verify(user: "alice", password: Array("new".utf8)) == true)
                group.cancelAll()
            }
        }
    }

    @Test("End to end: a broker started from a definition with a password file and an ACL file enforces both", arguments: MQTTProtocolVersion.allCases)
    func definitionEndToEnd(version: MQTTProtocolVersion) async throws {
        let acl = #"[{"permission": "allow", "action": "all", "topic": "users/%u/#"}, {"permission": "allow", "action": "publish", "topic": "clients/%c/status"}]"#
        try await withFolder(["passwords": try Self.passwordText([("dora", "explorer")]), "acl.json": acl]) { folder in
            let file = folder.appendingPathComponent("b.json").path
            try Data(#"{"type": "mqtt-broker", "listeners": [{"host": "0.0.0.0", "port": 0}], "auth": {"passwordFile": "passwords", "aclFile": "acl.json"}, "mqtt": {"sysInterval": "off"}}"#.utf8)
                .write(to: URL(fileURLWithPath: file))
            let definition = try BrokerDefinition.load(file: file)
            let broker = MQTTBroker(listeners: definition.listeners, settings: definition.settings, logger: Logger(label: "test"))
            guard let port = try await broker.start().first?.port else { throw DefinitionError(problems: []) }
            do {
                var configuration = MQTTClientConfiguration(host: "127.0.0.1", port: port, version: version, clientID: "dora-1")
                configuration.reconnect = .disabled
                configuration.connectTimeout = .seconds(15)
                configuration.username = "dora"
                configuration.password = ByteBuffer(string: "explorer")
                try await MQTTClient.withConnection(configuration) { client in
                    try await client.subscribe(to: [MQTTSubscription(topicFilter: "users/dora/#", qos: .atLeastOnce)]) { messages in
                        try await client.publish(to: "users/dora/in", string: "mine", qos: .atLeastOnce)
                        var iterator = messages.makeAsyncIterator()
                        let message = try await iterator.next()
                        #expect(message?.topic == "users/dora/in")
                        try await message?.ack()
                    }
                    try await client.publish(to: "clients/dora-1/status", string: "up", qos: .atLeastOnce)
                    do {
                        try await client.subscribe(to: [MQTTSubscription(topicFilter: "users/other/#")]) { _ in }
                        Issue.record("a subscription outside the ACL was granted")
                    } catch let error as MQTTClientError {
                        guard case .subscribeFailed(_, let code, _) = error else { throw error }
                        #expect(code == (version == .v5 ? .notAuthorized : .unspecifiedError))
                    }
                }
                configuration.password = ByteBuffer(string: "wrong")
                await #expect(throws: MQTTClientError.self) { try await MQTTClient.withConnection(configuration) { _ in } }
                try await broker.shutdown()
            } catch {
                try? await broker.shutdown()
                throw error
            }
        }
    }
}
