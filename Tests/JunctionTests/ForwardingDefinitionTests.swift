import Foundation
import Junction
import MQTTCore
import Testing

/// Strict parsing of `storeAndForward` on mqtt connectors and `bridge` on the broker.
@Suite("Definitions: store-and-forward and bridge")
struct ForwardingDefinitionTests {
    func parse(_ json: String, name: String = "c") -> (ConnectorDefinition?, [DefinitionProblem]) {
        let reader = DefinitionReader(file: "Connectors/\(name).json")
        let connector = ConnectorDefinition.parse(name: name, reader.parse(Data(json.utf8)), reader: reader)
        return (connector, reader.problems)
    }

    func storeAndForward(_ json: String) throws -> StoreAndForwardDefinition {
        let (connector, problems) = parse(json)
        #expect(problems.isEmpty, "\(problems)")
        guard case .mqtt(let definition)? = connector?.kind else { throw DefinitionError(problems: problems) }
        return definition.storeAndForward
    }

    @Test("storeAndForward: on by default (100,000 messages, 100MB, block); an object, true or false")
    func storeAndForwardValues() throws {
        #expect(try storeAndForward(#"{"type": "mqtt", "url": "mqtt://h"}"#) == StoreAndForwardDefinition())
        #expect(try storeAndForward(#"{"type": "mqtt", "url": "mqtt://h"}"#)
            == StoreAndForwardDefinition(enabled: true, maxMessages: 100_000, maxBytes: 100 << 20, whenFull: .block))
        #expect(try storeAndForward(#"{"type": "mqtt", "url": "mqtt://h", "storeAndForward": false}"#).enabled == false)
        #expect(try storeAndForward(#"{"type": "mqtt", "url": "mqtt://h", "storeAndForward": true}"#) == StoreAndForwardDefinition())
        let custom = try storeAndForward(#"{"type": "mqtt", "url": "mqtt://h", "storeAndForward": {"maxMessages": 50, "maxBytes": "2MB", "whenFull": "deadLetter"}}"#)
        #expect(custom == StoreAndForwardDefinition(enabled: true, maxMessages: 50, maxBytes: 2 << 20, whenFull: .deadLetter))
    }

    @Test("storeAndForward problems name the key path and what was expected, all at once")
    func storeAndForwardProblems() {
        let (_, problems) = parse(#"{"type": "mqtt", "url": "mqtt://h", "storeAndForward": {"maxMessages": 0, "maxBytes": "lots", "whenFull": "drop", "limit": 1}}"#)
        let byPath = Dictionary(problems.map { ($0.path, $0.message) }, uniquingKeysWith: { $1 })
        #expect(Set(byPath.keys) == ["storeAndForward.maxMessages", "storeAndForward.maxBytes", "storeAndForward.whenFull", "storeAndForward.limit"])
        #expect(byPath["storeAndForward.whenFull"] == #"expected "block" or "deadLetter", found "drop""#)
        #expect(byPath["storeAndForward.maxMessages"]?.contains("from 1 to") == true)
        #expect(byPath["storeAndForward.limit"]?.hasPrefix("unknown key") == true)
        #expect(problems.allSatisfy { $0.file == "Connectors/c.json" })
        let (_, wrongType) = parse(#"{"type": "mqtt", "url": "mqtt://h", "storeAndForward": 5}"#)
        #expect(wrongType.map(\.path) == ["storeAndForward"])
        let (_, onHTTP) = parse(#"{"type": "http", "baseUrl": "http://h", "storeAndForward": true}"#)
        #expect(onHTTP.map(\.path) == ["storeAndForward"])
    }

    static let bridge = #"""
        {"type": "mqtt-broker", "bridge": {"connector": "up", "clientId": "edge-1", "topics": [
          {"pattern": "sensors/#", "direction": "out", "qos": 2, "localPrefix": "plant/", "remotePrefix": "site-7/"},
          {"pattern": "cmd/+", "direction": "in"}]}}
        """#

    @Test("bridge: topics with direction, QoS and prefixes; defaults out and QoS 1")
    func bridgeValues() throws {
        let (connector, problems) = parse(Self.bridge, name: "local")
        #expect(problems.isEmpty, "\(problems)")
        guard case .mqttBroker(let broker)? = connector?.kind, let bridge = broker.bridge else { Issue.record("no bridge"); return }
        #expect(bridge.connector == "up" && bridge.clientID == "edge-1")
        #expect(bridge.topics.map(\.direction) == [.out, .in])
        #expect(bridge.topics.map(\.qos) == [.exactlyOnce, .atLeastOnce])
        #expect(bridge.topics[0].localFilter == "plant/sensors/#" && bridge.topics[0].remoteFilter == "site-7/sensors/#")
        #expect(bridge.topics[1].localFilter == "cmd/+" && bridge.topics[1].remoteFilter == "cmd/+")
    }

    @Test("bridge problems: every bad key with its path")
    func bridgeProblems() {
        let (_, problems) = parse(#"""
            {"type": "mqtt-broker", "bridge": {"connector": 7, "extra": true, "topics": [
              {"pattern": "a/#/b", "direction": "sideways", "qos": 3, "localPrefix": "x/+/", "remotePrefix": "nodash"},
              {"direction": "in"}]}}
            """#, name: "local")
        let paths = Set(problems.map(\.path))
        #expect(paths == ["bridge.connector", "bridge.extra", "bridge.topics[0].pattern", "bridge.topics[0].direction", "bridge.topics[0].qos",
                          "bridge.topics[0].localPrefix", "bridge.topics[0].remotePrefix", "bridge.topics[1].pattern"], "\(problems)")
        let (_, missing) = parse(#"{"type": "mqtt-broker", "bridge": {}}"#, name: "local")
        #expect(Set(missing.map(\.path)) == ["bridge.connector", "bridge.topics"])
        let (_, empty) = parse(#"{"type": "mqtt-broker", "bridge": {"connector": "up", "topics": []}}"#, name: "local")
        #expect(empty.map(\.path) == ["bridge.topics"])
    }

    func load(_ connectors: [String: String]) throws -> Definitions {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bridge-defs-\(UUID())")
        defer { try? FileManager.default.removeItem(at: root) }
        for folder in ["Connectors", "Processes"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        for (name, json) in connectors { try Data(json.utf8).write(to: root.appendingPathComponent("Connectors/\(name).json")) }
        return DefinitionLoader.load(processes: root.appendingPathComponent("Processes").path, connectors: root.appendingPathComponent("Connectors").path)
    }

    @Test("bridge.connector must name an mqtt connector; on MQTT 3.1.1 in and out may not overlap upstream")
    func bridgeAgainstConnectors() throws {
        let unknown = try load(["local": Self.bridge])
        #expect(unknown.problems.map(\.path) == ["bridge.connector"])
        #expect(unknown.problems.first?.message.contains("unknown connector \"up\"") == true)
        #expect(unknown.broker == nil, "a broker with problems is left out")

        let notMQTT = try load(["local": Self.bridge, "up": #"{"type": "file", "directory": "x"}"#])
        #expect(notMQTT.problems.map(\.message) == ["connector \"up\" is file; expected an mqtt connector"])

        let fine = try load(["local": Self.bridge, "up": #"{"type": "mqtt", "url": "mqtt://h"}"#])
        #expect(fine.problems.isEmpty && fine.broker != nil)

        let both = #"{"type": "mqtt-broker", "bridge": {"connector": "up", "topics": [{"pattern": "s/#", "direction": "both"}]}}"#
        let v311 = try load(["local": both, "up": #"{"type": "mqtt", "url": "mqtt://h", "protocolVersion": "3.1.1"}"#])
        #expect(v311.problems.map(\.path) == ["bridge.topics[0]"])
        #expect(try load(["local": both, "up": #"{"type": "mqtt", "url": "mqtt://h"}"#]).problems.isEmpty)
        let v311Connector = #"{"type": "mqtt", "url": "mqtt://h", "protocolVersion": "3.1.1"}"#
        func topics(_ list: String) -> String { #"{"type": "mqtt-broker", "bridge": {"connector": "up", "topics": \#(list)}}"# }
        // Upstream filters: in "site/+/cmd" meets out "site/a/#" (site/a/cmd); in "site/cmd/#" meets out "site/cmd".
        let overlapping = try load(["local": topics(#"[{"pattern": "+/cmd", "direction": "in", "remotePrefix": "site/"}, {"pattern": "a/#", "remotePrefix": "site/"}]"#), "up": v311Connector])
        #expect(overlapping.problems.map(\.path) == ["bridge.topics[0]"])
        let parent = try load(["local": topics(#"[{"pattern": "cmd/#", "direction": "in", "remotePrefix": "site/"}, {"pattern": "cmd", "remotePrefix": "site/"}]"#), "up": v311Connector])
        #expect(parent.problems.map(\.path) == ["bridge.topics[0]"])
        let apart = try load(["local": topics(#"[{"pattern": "cmd/#", "direction": "in", "remotePrefix": "site/"}, {"pattern": "data/#", "remotePrefix": "site/"}]"#), "up": v311Connector])
        #expect(apart.problems.isEmpty, "\(apart.problems)")
    }
}
