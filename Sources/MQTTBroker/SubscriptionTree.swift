import Collections
import MQTTCore

/// Every subscription of every session, as a tree of topic levels (like Mosquitto's
/// subs.c): routing a PUBLISH walks one path per matching level instead of testing every filter.
///
/// `+` and `#` children are kept apart from the literal children so a level costs at most one
/// dictionary lookup. Topics starting with `$` skip wildcard children at the first level.
/// Loop-bound: only the broker's event loop touches it.
final class SubscriptionTree {
    final class Node {
        var children: [Substring: Node] = [:]
        var plus: Node?
        var hash: Node?
        /// Plain subscriptions at this filter: client id → options.
        var subscribers: [String: SubscriptionOptions] = [:]
        /// Shared subscriptions at this filter: group name → members.
        var shared: [String: SharedGroup] = [:]

        var isEmpty: Bool {
            children.isEmpty && plus == nil && hash == nil && subscribers.isEmpty && shared.isEmpty
        }
    }

    /// The sessions of one `$share/group/filter`; one of them receives each message, in turn.
    final class SharedGroup {
        var members: OrderedDictionary<String, SubscriptionOptions> = [:]
        var next = 0
    }

    private let root = Node()
    /// Number of (session, filter) subscriptions.
    private(set) var count = 0

    /// Adds or replaces the subscription of `clientID` to `filter`; returns true when it replaced one.
    @discardableResult
    func insert(clientID: String, filter: MQTTTopicFilter, options: SubscriptionOptions) -> Bool {
        var node = root
        for level in filter.filter.split(separator: "/", omittingEmptySubsequences: false) {
            switch level {
            case "+": node = node.plus ?? { let n = Node(); node.plus = n; return n }()
            case "#": node = node.hash ?? { let n = Node(); node.hash = n; return n }()
            default:
                if let child = node.children[level] {
                    node = child
                } else {
                    let child = Node()
                    node.children[level] = child
                    node = child
                }
            }
        }
        let replaced: Bool
        if let group = filter.shareGroup {
            let members = node.shared[group] ?? { let g = SharedGroup(); node.shared[group] = g; return g }()
            replaced = members.members.updateValue(options, forKey: clientID) != nil
        } else {
            replaced = node.subscribers.updateValue(options, forKey: clientID) != nil
        }
        if !replaced { count += 1 }
        return replaced
    }

    /// Removes the subscription; returns false when there was none. Empty branches are pruned.
    @discardableResult
    func remove(clientID: String, filter: MQTTTopicFilter) -> Bool {
        let levels = filter.filter.split(separator: "/", omittingEmptySubsequences: false)
        let removed = remove(clientID: clientID, group: filter.shareGroup, levels: levels[...], from: root)
        if removed { count -= 1 }
        return removed
    }

    private func remove(clientID: String, group: String?, levels: ArraySlice<Substring>, from node: Node) -> Bool {
        guard let level = levels.first else {
            if let group {
                guard let members = node.shared[group], members.members.removeValue(forKey: clientID) != nil else { return false }
                if members.members.isEmpty { node.shared[group] = nil }
                return true
            }
            return node.subscribers.removeValue(forKey: clientID) != nil
        }
        let rest = levels.dropFirst()
        switch level {
        case "+":
            guard let child = node.plus, remove(clientID: clientID, group: group, levels: rest, from: child) else { return false }
            if child.isEmpty { node.plus = nil }
        case "#":
            guard let child = node.hash, remove(clientID: clientID, group: group, levels: rest, from: child) else { return false }
            if child.isEmpty { node.hash = nil }
        default:
            guard let child = node.children[level], remove(clientID: clientID, group: group, levels: rest, from: child) else { return false }
            if child.isEmpty { node.children[level] = nil }
        }
        return true
    }

    /// Calls `visit` with every node whose filter matches `topic` (a valid topic name).
    func forEachMatch(of topic: String, _ visit: (Node) -> Void) {
        walk(root, topic: topic, from: topic.startIndex, first: true, visit)
    }

    private func walk(_ node: Node, topic: String, from start: String.Index, first: Bool, _ visit: (Node) -> Void) {
        let end = topic.utf8[start...].firstIndex(of: UInt8(ascii: "/")) ?? topic.endIndex
        let level = topic[start..<end]
        let isLast = end == topic.endIndex
        let wildcardsApply = !(first && level.utf8.first == UInt8(ascii: "$"))
        if wildcardsApply, let hash = node.hash { visit(hash) }
        if wildcardsApply, let plus = node.plus { descend(plus, topic: topic, end: end, isLast: isLast, visit) }
        if let child = node.children[level] { descend(child, topic: topic, end: end, isLast: isLast, visit) }
    }

    private func descend(_ node: Node, topic: String, end: String.Index, isLast: Bool, _ visit: (Node) -> Void) {
        if isLast {
            visit(node)
            if let hash = node.hash { visit(hash) }  // "a/#" matches "a"
        } else {
            walk(node, topic: topic, from: topic.utf8.index(after: end), first: false, visit)
        }
    }
}
