import Foundation
import MQTTCore

/// The `bridge` section of an `mqtt-broker` connector: topics forwarded between the embedded
/// broker and an external one (an `mqtt` connector), like Mosquitto's
/// `topic pattern out|in|both qos local-prefix remote-prefix`.
///
/// ```json
/// "bridge": {"connector": "upstream", "topics": [
///   {"pattern": "sensors/#", "direction": "out", "qos": 1, "localPrefix": "plant/", "remotePrefix": "site-7/"},
///   {"pattern": "commands/#", "direction": "in"}]}
/// ```
/// Locally the topics are `localPrefix + pattern`, remotely `remotePrefix + pattern`; a message
/// changes prefix as it crosses. Outward messages wait in the connector's durable outbox while
/// the link is down.
public struct BridgeDefinition: Sendable, Hashable {
    public enum Direction: String, Sendable, Hashable, CaseIterable {
        case out, `in`, both

        var outward: Bool { self != .in }
        var inward: Bool { self != .out }
    }

    public struct Topic: Sendable, Hashable {
        public var pattern: String
        public var direction: Direction = .out
        public var qos: MQTTQoS = .atLeastOnce
        public var localPrefix: String = ""
        public var remotePrefix: String = ""

        /// The filter on the embedded broker.
        public var localFilter: String { localPrefix + pattern }
        /// The filter on the external broker.
        public var remoteFilter: String { remotePrefix + pattern }
    }

    /// The `mqtt` connector of the external broker.
    public var connector: String
    /// The client id of the bridge's session on the external broker (and of its in-process
    /// session on the embedded one); default `junction-bridge-<broker connector>`.
    public var clientID: String?
    public var topics: [Topic]

    /// Parses the `bridge` section; nil (with problems recorded) when unusable.
    static func parse(_ value: JSONValue?, _ path: String, _ reader: DefinitionReader) -> BridgeDefinition? {
        guard let object = reader.object(value, path, BrokerKeys.bridge) else { return nil }
        let connector = reader.string(object["connector"], "\(path).connector")
        if object["connector"] == nil { reader.problem("\(path).connector", "is required: the name of an mqtt connector") }
        let clientID = reader.string(object["clientId"], "\(path).clientId")
        if let clientID, clientID.isEmpty { reader.problem("\(path).clientId", "expected a client id, found an empty string") }
        var topics: [Topic] = []
        if let items = reader.array(object["topics"], "\(path).topics") {
            if items.isEmpty { reader.problem("\(path).topics", "expected at least one topic") }
            topics = items.enumerated().compactMap { index, item in parseTopic(item, "\(path).topics[\(index)]", reader) }
        } else if object["topics"] == nil {
            reader.problem("\(path).topics", "is required: a list of {\"pattern\", \"direction\", \"qos\", \"localPrefix\", \"remotePrefix\"}")
        }
        guard let connector, !topics.isEmpty else { return nil }
        return BridgeDefinition(connector: connector, clientID: clientID, topics: topics)
    }

    private static func parseTopic(_ value: JSONValue, _ path: String, _ reader: DefinitionReader) -> Topic? {
        guard let object = reader.object(value, path, BrokerKeys.bridgeTopic) else { return nil }
        guard let pattern = reader.string(object["pattern"], "\(path).pattern") else {
            if object["pattern"] == nil { reader.problem("\(path).pattern", "is required: a topic filter such as \"sensors/#\"") }
            return nil
        }
        var topic = Topic(pattern: pattern)
        var valid = true
        if !MQTTTopic.isValidFilter(pattern) || pattern.hasPrefix("$share/") {
            reader.problem("\(path).pattern", "expected a topic filter (+ and # as whole levels, no $share), found \"\(pattern)\"")
            valid = false
        }
        if let direction = reader.string(object["direction"], "\(path).direction") {
            if let parsed = Direction(rawValue: direction) { topic.direction = parsed } else {
                reader.problem("\(path).direction", "expected \"out\", \"in\" or \"both\", found \"\(direction)\"")
                valid = false
            }
        }
        if let qos = reader.integer(object["qos"], "\(path).qos", in: 0...2), let parsed = MQTTQoS(rawValue: UInt8(qos)) { topic.qos = parsed }
        for (key, keyPath) in [("localPrefix", \Topic.localPrefix), ("remotePrefix", \Topic.remotePrefix)] {
            guard let prefix = reader.string(object[key], "\(path).\(key)") else { continue }
            if prefix.contains("+") || prefix.contains("#") || prefix.contains("\u{0}") {
                reader.problem("\(path).\(key)", "expected topic levels without wildcards, found \"\(prefix)\"")
                valid = false
            } else if !prefix.isEmpty && !prefix.hasSuffix("/") {
                reader.problem("\(path).\(key)", "expected a prefix ending in \"/\", found \"\(prefix)\"")
                valid = false
            }
            topic[keyPath: keyPath] = prefix
        }
        return valid ? topic : nil
    }

    /// Checks the bridge against the other connectors: the connector must be an `mqtt` one, and
    /// on MQTT 3.1.1 (no No Local) an inward filter may not overlap an outward one on the
    /// external broker, or the bridge's own messages would come back.
    static func problems(_ bridge: BridgeDefinition, connectors: [String: ConnectorDefinition]) -> [(String, String)] {
        guard let target = connectors[bridge.connector] else {
            return [("bridge.connector", "unknown connector \"\(bridge.connector)\"; expected the name of an mqtt connector")]
        }
        guard case .mqtt(let remote) = target.kind else {
            return [("bridge.connector", "connector \"\(bridge.connector)\" is \(target.typeName); expected an mqtt connector")]
        }
        guard remote.protocolVersion == .v311 else { return [] }
        var problems: [(String, String)] = []
        for (index, topic) in bridge.topics.enumerated() where topic.direction.inward {
            for other in bridge.topics where other.direction.outward && filtersOverlap(topic.remoteFilter, other.remoteFilter) {
                problems.append(("bridge.topics[\(index)]", "\"\(topic.remoteFilter)\" comes back in what goes out as \"\(other.remoteFilter)\"; "
                                 + "connector \(bridge.connector) speaks MQTT 3.1.1, which cannot tell the bridge's own messages apart (use protocolVersion \"5\")"))
                break
            }
        }
        return problems
    }

    /// Whether some topic name matches both filters.
    static func filtersOverlap(_ a: String, _ b: String) -> Bool {
        let x = a.split(separator: "/", omittingEmptySubsequences: false)
        let y = b.split(separator: "/", omittingEmptySubsequences: false)
        var index = 0
        while index < x.count && index < y.count {
            if x[index] == "#" || y[index] == "#" { return true }
            if x[index] != "+" && y[index] != "+" && x[index] != y[index] { return false }
            index += 1
        }
        if x.count == y.count { return true }
        // "a/#" also matches "a": the longer one may end in "#" right after the shorter one.
        let longer = x.count > y.count ? x : y
        return longer.count == index + 1 && longer[index] == "#"
    }

    /// Adds the problems of the broker connector's bridge, if any, and leaves that connector out
    /// when it has some (as for any other invalid definition).
    static func check(_ definitions: inout Definitions) {
        guard let broker = definitions.broker, case .mqttBroker(let definition) = broker.kind, let bridge = definition.bridge else { return }
        let found = problems(bridge, connectors: definitions.connectors)
        guard !found.isEmpty else { return }
        definitions.problems += found.map { DefinitionProblem(file: broker.file, path: $0.0, message: $0.1) }
        definitions.connectors[broker.name] = nil
    }
}
