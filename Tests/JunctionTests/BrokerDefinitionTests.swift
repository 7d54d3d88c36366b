import Foundation
import Junction
import Logging
import MQTTBroker
import ServiceLifecycle
import Testing

@Suite("Broker definition files")
struct BrokerDefinitionTests {
    func parse(_ json: String, file: String = "Connectors/b.json") -> (BrokerDefinition, [DefinitionProblem]) {
        let reader = DefinitionReader(file: file)
        let definition = BrokerDefinition.parse(reader.parse(Data(json.utf8)), reader: reader)
        return (definition, reader.problems)
    }

    @Test("The shipped local-broker.json is valid")
    func shippedDefinition() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let definition = try BrokerDefinition.load(file: root.appendingPathComponent("Connectors/local-broker.json").path)
        #expect(definition.listeners == [BrokerListener(host: "127.0.0.1", port: 1883)])
        #expect(definition.settings.maxPacketSize == 1 << 20)
        #expect(definition.settings.maxMqueueLen == 2048)
    }

    @Test("Settings are read with their units")
    func settingsWithUnits() {
        let (definition, problems) = parse("""
            {"type": "mqtt-broker", "listeners": [{"host": "0.0.0.0", "port": 0}],
             "mqtt": {"maxPacketSize": "256KB", "retryInterval": "1.5s", "awaitRelTimeout": "5m", "keepaliveMultiplier": 2,
                      "maxInflight": 5, "mqueueStoreQos0": false, "sysInterval": "off", "maxKeepalive": 60}}
            """)
        #expect(problems.isEmpty)
        #expect(definition.listeners == [BrokerListener(host: "0.0.0.0", port: 0)])
        let s = definition.settings
        #expect(s.maxPacketSize == 256 * 1024)
        #expect(s.retryInterval == .milliseconds(1500))
        #expect(s.awaitRelTimeout == .seconds(300))
        #expect(s.keepaliveMultiplier == 2)
        #expect(s.maxInflight == 5 && !s.mqueueStoreQos0 && s.sysInterval == nil && s.maxKeepalive == 60)
    }

    @Test("Every problem is reported at once, with file and key path")
    func allProblemsListed() {
        let (_, problems) = parse("""
            {"type": "mqtt-brokr", "listeners": [{"port": 70000, "tls": true}],
             "mqtt": {"maxPacketSize": "300MB", "keepaliveMultiplier": 0.5, "maxInflight": "10", "colour": 1,
                      "retryInterval": "soon", "mqueueStoreQos0": 1}}
            """)
        let byPath = Dictionary(grouping: problems, by: \.path)
        #expect(Set(byPath.keys) == [
            "type", "listeners[0].port", "listeners[0].tls", "mqtt.maxPacketSize", "mqtt.keepaliveMultiplier",
            "mqtt.maxInflight", "mqtt.colour", "mqtt.retryInterval", "mqtt.mqueueStoreQos0",
        ])
        #expect(problems.allSatisfy { $0.file == "Connectors/b.json" })
        #expect(byPath["mqtt.maxInflight"]?.first?.message == "expected an integer from 1 to 65535, found a string")
        #expect(byPath["mqtt.colour"]?.first?.message.hasPrefix("unknown key; expected one of: authFailureBlock, awaitRelTimeout") == true)
        #expect(byPath["mqtt.mqueueStoreQos0"]?.first?.message == "expected true or false, found an integer")
    }

    @Test("ACL rules are read in order; bad rules are reported with their index")
    func aclRules() {
        let (definition, problems) = parse("""
            {"type": "mqtt-broker", "acl": [
              {"permission": "deny", "action": "subscribe", "topic": "test/nosubscribe"},
              {"permission": "allow", "action": ["publish", "receive"], "topic": "users/%u/#", "username": "alice", "clientId": "c1"}]}
            """)
        #expect(problems.isEmpty)
        #expect(definition.settings.acl == [
            BrokerACLRule(.deny, .subscribe, topic: "test/nosubscribe"),
            BrokerACLRule(.allow, [.publish, .receive], topic: "users/%u/#", username: "alice", clientID: "c1"),
        ])
        let (_, bad) = parse("""
            {"type": "mqtt-broker", "acl": [{"permission": "maybe", "action": ["publish", "fly"], "topic": "a/#/b"}, {"permission": "allow"}]}
            """)
        #expect(bad.map(\.path) == ["acl[0].permission", "acl[0].action", "acl[0].topic", "acl[1].action", "acl[1].topic"])
    }

    @Test("Broken JSON and a missing type are errors, not crashes")
    func brokenJSON() {
        #expect(parse("{\"type\": ").1.map(\.path) == [""])
        #expect(parse("{}").1.map(\.path) == ["type"])
        #expect(parse("[]").1.first?.message == "expected an object, found an array")
    }

    @Test("Sizes and durations", arguments: [
        ("1MB", 1_048_576), ("512KB", 524_288), ("100B", 100), ("42", 42), ("1.5KB", 1536), ("x", -1), ("-1", -1),
    ])
    func sizes(text: String, bytes: Int) {
        #expect(Units.bytes(text) ?? -1 == bytes)
    }

    @Test("Durations", arguments: [("250ms", 250), ("10s", 10_000), ("5m", 300_000), ("1h", 3_600_000), ("30d", 2_592_000_000), ("10", -1), ("s", -1)] as [(String, Int64)])
    func durations(text: String, millis: Int64) {
        #expect(Units.milliseconds(text) ?? -1 == millis)
    }
}

@Suite("Hot reload of the broker definition")
struct BrokerReloadTests {
    @Test("A valid edit is applied to the running broker; an invalid one is refused")
    func reloadAppliesOrRefuses() async throws {
        var settings = BrokerSettings()
        settings.sysInterval = nil
        let broker = MQTTBroker(listeners: [], settings: settings, logger: Logger(label: "test"))
        let reloader = BrokerReloader(file: "b.json", definition: BrokerDefinition(settings: settings), broker: broker,
                                      logger: Logger(label: "test"))
        let changed = await reloader.reload(Data("""
            {"type": "mqtt-broker", "mqtt": {"maxInflight": 7, "maxPacketSize": "2KB", "sysInterval": "off"}}
            """.utf8))
        #expect(changed.count == 2)
        #expect(changed.contains("maxInflight: 32 → 7"))
        var now = try await broker.currentSettings()
        #expect(now.maxInflight == 7 && now.maxPacketSize == 2048)

        let refused = await reloader.reload(Data(#"{"type": "mqtt-broker", "mqtt": {"maxInflight": 0}}"#.utf8))
        #expect(refused.isEmpty)
        now = try await broker.currentSettings()
        #expect(now.maxInflight == 7)
    }

    @Test("The file watcher reports a saved file")
    func watcherSeesSave() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("watch-\(UUID()).json").path
        try Data("one".utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (changes, continuation) = AsyncStream<String>.makeStream()
        let watcher = FileWatcher(path: path, interval: .milliseconds(20)) { data in
            continuation.yield(String(decoding: data, as: UTF8.self))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await watcher.run() }
            try Data("second version".utf8).write(to: URL(fileURLWithPath: path))
            let seen = await withTimeout(.seconds(30)) { await changes.first { _ in true } }
            #expect(seen == "second version")
            group.cancelAll()
        }
    }
}

@Suite("Broker definition: durability")
struct BrokerDurabilityDefinitionTests {
    func parse(_ json: String) -> (BrokerDefinition, [DefinitionProblem]) {
        let reader = DefinitionReader(file: "Connectors/b.json")
        let definition = BrokerDefinition.parse(reader.parse(Data(json.utf8)), reader: reader)
        return (definition, reader.problems)
    }

    @Test("durability and durabilityMaxWait are read; batch with 5 ms is the default")
    func durabilityRead() {
        let (plain, none) = parse(#"{"type": "mqtt-broker"}"#)
        #expect(none.isEmpty)
        #expect(plain.settings.durability == .batch && plain.settings.durabilityMaxWait == .milliseconds(5))
        let (definition, problems) = parse(#"{"type": "mqtt-broker", "mqtt": {"durability": "sync", "durabilityMaxWait": "20ms"}}"#)
        #expect(problems.isEmpty)
        #expect(definition.settings.durability == .sync && definition.settings.durabilityMaxWait == .milliseconds(20))
        #expect(parse(#"{"type": "mqtt-broker", "mqtt": {"durability": "off"}}"#).0.settings.durability == .off)
    }

    @Test("A wrong durability is an error naming the key and the choices")
    func durabilityRefused() {
        let (_, problems) = parse(#"{"type": "mqtt-broker", "mqtt": {"durability": "fast", "durabilityMaxWait": 5}}"#)
        #expect(problems.map(\.path) == ["mqtt.durability", "mqtt.durabilityMaxWait"])
        #expect(problems.first?.message == #"expected "sync", "batch" or "off", found "fast""#)
        #expect(problems.allSatisfy { $0.file == "Connectors/b.json" })
    }
}
