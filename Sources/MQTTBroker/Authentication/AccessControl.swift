import Foundation
import MQTTCore

/// One access rule of the broker definition's `acl` list (Mosquitto's acl_file in JSON).
///
/// `topic` is a topic filter in which `%u` stands for the client's user name and `%c` for its
/// client id, and whose wildcards also cover `$` topics (`#` is everything); `username` and `clientId`, when given, must equal the client's. Rules are tried in
/// order and the first that matches decides; when rules exist and none matches, access is denied.
public struct BrokerACLRule: Sendable, Hashable {
    public enum Permission: String, Sendable, Hashable { case allow, deny }

    /// What a rule governs: publishing to a topic, subscribing to a filter, receiving a message.
    public struct Actions: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let publish = Actions(rawValue: 1)
        public static let subscribe = Actions(rawValue: 2)
        public static let receive = Actions(rawValue: 4)
        public static let all: Actions = [.publish, .subscribe, .receive]
    }

    public var permission: Permission
    public var actions: Actions
    public var topic: String
    public var username: String?
    public var clientID: String?

    public init(_ permission: Permission, _ actions: Actions, topic: String, username: String? = nil, clientID: String? = nil) {
        self.permission = permission
        self.actions = actions
        self.topic = topic
        self.username = username
        self.clientID = clientID
    }

    /// Whether this rule speaks about `action` on `topic` for this client.
    func applies(to action: Actions, topic: String, clientID: String, username: String?) -> Bool {
        guard actions.contains(action) else { return false }
        if let required = self.username, required != username { return false }
        if let required = self.clientID, required != clientID { return false }
        var pattern = self.topic
        if pattern.contains("%u") {
            guard let username else { return false }
            pattern = pattern.replacingOccurrences(of: "%u", with: username)
        }
        if pattern.contains("%c") { pattern = pattern.replacingOccurrences(of: "%c", with: clientID) }
        // A subscription filter is matched level by level like a topic: "a/+" is covered by "a/+" and "a/#".
        // In a rule a wildcard covers `$` topics too: "#" means everything.
        return pattern == topic || MQTTTopic.matches(filter: pattern, topic: topic, dollarRule: false)
    }
}

extension [BrokerACLRule] {
    /// First matching rule decides; no rules at all allows everything; rules but no match denies.
    func permits(_ action: BrokerACLRule.Actions, topic: String, clientID: String, username: String?) -> Bool {
        guard !isEmpty else { return true }
        for rule in self where rule.applies(to: action, topic: topic, clientID: clientID, username: username) {
            return rule.permission == .allow
        }
        return false
    }

}
