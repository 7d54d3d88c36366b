import Foundation
import MQTTBroker
import MQTTCore
import NIOCore

/// An `mqtt-broker` connector: the embedded broker's listeners and settings (keys in ``BrokerKeys``).
///
/// ```json
/// {"type": "mqtt-broker", "listeners": [{"port": 1883}], "mqtt": {"maxPacketSize": "1MB", "maxMqueueLen": 2048}}
/// ```
public struct BrokerDefinition: Sendable, Hashable {
    public var description: String?
    public var listeners: [BrokerListener]
    public var settings: BrokerSettings
    /// Topics forwarded to and from an external broker (see ``BridgeDefinition``).
    public var bridge: BridgeDefinition?
    /// The `auth` section's files, resolved (BrokerDefinition+Auth.swift).
    public var passwordFile: String?
    public var aclFile: String?

    public init(description: String? = nil, listeners: [BrokerListener] = [BrokerListener()], settings: BrokerSettings = BrokerSettings()) {
        self.description = description
        self.listeners = listeners
        self.settings = settings
    }

    /// Reads and validates a broker definition file; throws ``DefinitionError`` listing every problem.
    public static func load(file: String) throws -> BrokerDefinition {
        let reader = DefinitionReader(file: file)
        guard let data = FileManager.default.contents(atPath: file) else {
            reader.problem("", "cannot be read")
            try reader.check()
            preconditionFailure("unreachable")
        }
        let definition = parse(reader.parse(data), reader: reader)
        try reader.check()
        return definition
    }

    /// Parses a definition's JSON, recording problems in `reader`.
    public static func parse(_ json: JSONValue?, reader: DefinitionReader) -> BrokerDefinition {
        var definition = BrokerDefinition(listeners: [BrokerListener()], settings: BrokerSettings())
        guard let root = reader.object(json, "", BrokerKeys.broker) else { return definition }
        let type = reader.string(root["type"], "type")
        if type == nil && root["type"] == nil { reader.problem("type", "is required: expected \"mqtt-broker\"") }
        if let type, type != "mqtt-broker" { reader.problem("type", "expected \"mqtt-broker\", found \"\(type)\"") }
        definition.description = reader.string(root["description"], "description")

        if let listeners = reader.array(root["listeners"], "listeners") {
            if listeners.isEmpty { reader.problem("listeners", "expected at least one listener") }
            definition.listeners = listeners.enumerated().compactMap { index, value in
                let path = "listeners[\(index)]"
                guard let object = reader.object(value, path, BrokerKeys.listener) else { return nil }
                var listener = BrokerListener(host: "127.0.0.1", port: 1883)
                if let host = reader.string(object["host"], "\(path).host") { listener.host = host }
                if let port = reader.integer(object["port"], "\(path).port", in: BrokerKeys.listener.range("port")) { listener.port = port }
                parseListenerTransport(object, path, reader, into: &listener)  // tls, websocket: BrokerDefinition+Listeners.swift
                listener.allowAnonymous = reader.bool(object["allowAnonymous"], "\(path).allowAnonymous")
                return listener
            }
        }

        if let rules = reader.array(root["acl"], "acl") {
            definition.settings.acl = rules.enumerated().compactMap { index, value in parseRule(value, "acl[\(index)]", reader) }
        }
        parseAuth(root["auth"], into: &definition, reader: reader)

        definition.bridge = BridgeDefinition.parse(root["bridge"], "bridge", reader)
        guard let mqtt = reader.object(root["mqtt"], "mqtt", BrokerKeys.mqtt) else { return definition }
        var s = definition.settings
        func path(_ key: String) -> String { "mqtt.\(key)" }
        if let v = reader.size(mqtt["maxPacketSize"], path("maxPacketSize"), in: BrokerKeys.mqtt.range("maxPacketSize")) { s.maxPacketSize = v }
        if let v = reader.integer(mqtt["maxMqueueLen"], path("maxMqueueLen"), in: BrokerKeys.mqtt.range("maxMqueueLen")) { s.maxMqueueLen = v }
        if let v = reader.duration(mqtt["retryInterval"], path("retryInterval")) { s.retryInterval = .milliseconds(max(1, v)) }
        if let v = reader.number(mqtt["keepaliveMultiplier"], path("keepaliveMultiplier"), where: { $0 > 0.5 && $0 <= 100 },
                                 expected: "a number greater than 0.5") { s.keepaliveMultiplier = v }
        if let v = reader.size(mqtt["propertySize"], path("propertySize"), in: BrokerKeys.mqtt.range("propertySize")) { s.propertySize = v }
        if let v = reader.integer(mqtt["maxInflight"], path("maxInflight"), in: BrokerKeys.mqtt.range("maxInflight")) { s.maxInflight = v }
        if let v = reader.integer(mqtt["maxAwaitingRel"], path("maxAwaitingRel"), in: BrokerKeys.mqtt.range("maxAwaitingRel")) { s.maxAwaitingRel = v }
        if let v = reader.duration(mqtt["awaitRelTimeout"], path("awaitRelTimeout")) { s.awaitRelTimeout = .milliseconds(v) }
        if let v = reader.bool(mqtt["mqueueStoreQos0"], path("mqueueStoreQos0")) { s.mqueueStoreQos0 = v }
        if let v = reader.integer(mqtt["maxConnections"], path("maxConnections"), in: BrokerKeys.mqtt.range("maxConnections")) { s.maxConnections = v }
        if let v = reader.integer(mqtt["maxKeepalive"], path("maxKeepalive"), in: BrokerKeys.mqtt.range("maxKeepalive")) { s.maxKeepalive = UInt16(v) }
        if let v = reader.integer(mqtt["topicAliasMaximum"], path("topicAliasMaximum"), in: BrokerKeys.mqtt.range("topicAliasMaximum")) { s.topicAliasMaximum = UInt16(v) }
        // A topic of 65,535 bytes (the longest) has at most 65,536 levels: that many is no limit.
        if let v = reader.integer(mqtt["maxTopicLevels"], path("maxTopicLevels"), in: BrokerKeys.mqtt.range("maxTopicLevels")) { s.maxTopicLevels = v }
        if let v = reader.duration(mqtt["connectTimeout"], path("connectTimeout")) { s.connectTimeout = .milliseconds(max(1, v)) }
        if case .string("off") = mqtt["sysInterval"] {
            s.sysInterval = nil
        } else if let v = reader.duration(mqtt["sysInterval"], path("sysInterval")) {
            s.sysInterval = .milliseconds(max(100, v))
        }
        parseLimits(mqtt, into: &s, reader: reader)
        if let v = reader.string(mqtt["durability"], path("durability")) {
            if let mode = BrokerDurability(rawValue: v) {
                s.durability = mode
            } else {
                reader.problem(path("durability"), "expected \"sync\", \"batch\" or \"off\", found \"\(v)\"")
            }
        }
        if let v = reader.duration(mqtt["durabilityMaxWait"], path("durabilityMaxWait")) { s.durabilityMaxWait = .milliseconds(max(1, v)) }
        definition.settings = s
        return definition
    }

    /// `{"permission": "deny", "action": "subscribe", "topic": "secret/#", "username": "bob", "clientId": "c1"}`;
    /// `action` is one of publish, subscribe, receive, all, or a list of them; `topic` may use %u and %c.
    static func parseRule(_ value: JSONValue, _ path: String, _ reader: DefinitionReader) -> BrokerACLRule? {
        guard let object = reader.object(value, path, BrokerKeys.aclRule) else { return nil }
        let permission = reader.string(object["permission"], "\(path).permission")
        let parsedPermission = permission.flatMap(BrokerACLRule.Permission.init(rawValue:))
        if parsedPermission == nil {
            reader.problem("\(path).permission", "expected \"allow\" or \"deny\"" + (permission.map { ", found \"\($0)\"" } ?? ""))
        }
        var names: [String] = []
        switch object["action"] {
        case .string(let name): names = [name]
        case .array(let items): names = items.enumerated().compactMap { reader.string($1, "\(path).action[\($0)]") }
        default: reader.problem("\(path).action", "expected publish, subscribe, receive, all, or a list of them")
        }
        var actions: BrokerACLRule.Actions = []
        for name in names {
            switch name {
            case "publish": actions.insert(.publish)
            case "subscribe": actions.insert(.subscribe)
            case "receive": actions.insert(.receive)
            case "all": actions.formUnion(.all)
            default: reader.problem("\(path).action", "expected publish, subscribe, receive or all, found \"\(name)\"")
            }
        }
        let topic = reader.string(object["topic"], "\(path).topic")
        if object["topic"] == nil { reader.problem("\(path).topic", "is required: a topic filter, %u and %c allowed") }
        if let topic, !MQTTTopic.isValidFilter(topic) {
            reader.problem("\(path).topic", "expected a topic filter (+ and # as whole levels), found \"\(topic)\"")
        }
        let username = reader.string(object["username"], "\(path).username")
        let clientID = reader.string(object["clientId"], "\(path).clientId")
        guard let parsedPermission, !actions.isEmpty, let topic else { return nil }
        return BrokerACLRule(parsedPermission, actions, topic: topic, username: username, clientID: clientID)
    }
}
