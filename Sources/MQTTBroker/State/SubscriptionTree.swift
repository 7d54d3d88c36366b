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
    /// The stack of the last match walk, kept for its capacity.
    private var spareStack: [(node: Node, start: String.Index)] = []
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
    ///
    /// Iterative, like every walk here: a filter's depth is the client's to choose (up to
    /// 65,536 levels), so it costs heap for the path, never stack.
    @discardableResult
    func remove(clientID: String, filter: MQTTTopicFilter) -> Bool {
        var path: [(parent: Node, level: Substring)] = []
        var node = root
        for level in filter.filter.split(separator: "/", omittingEmptySubsequences: false) {
            let child: Node? = switch level {
            case "+": node.plus
            case "#": node.hash
            default: node.children[level]
            }
            guard let child else { return false }
            path.append((node, level))
            node = child
        }
        if let group = filter.shareGroup {
            guard let members = node.shared[group], members.members.removeValue(forKey: clientID) != nil else { return false }
            if members.members.isEmpty { node.shared[group] = nil }
        } else {
            guard node.subscribers.removeValue(forKey: clientID) != nil else { return false }
        }
        count -= 1
        // Pruned from the leaf up: each node let go has no children left, so its release frees one node.
        while let (parent, level) = path.popLast(), node.isEmpty {
            switch level {
            case "+": parent.plus = nil
            case "#": parent.hash = nil
            default: parent.children[level] = nil
            }
            node = parent
        }
        return true
    }

    /// Calls `visit` with every node whose filter matches `topic` (a valid topic name).
    ///
    /// Depth first with an explicit stack: `#` at a level, then the `+` branch, then the literal one.
    func forEachMatch(of topic: String, _ visit: (Node) -> Void) {
        let utf8 = topic.utf8
        // Nodes to look into, each with where its level starts in `topic`. The spare stack is
        // taken, not shared, so a walk started from inside `visit` gets a fresh one.
        var stack = spareStack
        spareStack = []
        defer {
            stack.removeAll(keepingCapacity: true)
            spareStack = stack
        }
        stack.append((root, topic.startIndex))
        while let (node, start) = stack.popLast() {
            let end = utf8[start...].firstIndex(of: UInt8(ascii: "/")) ?? topic.endIndex
            let level = topic[start..<end]
            let isLast = end == topic.endIndex
            let wildcardsApply = !(start == topic.startIndex && level.utf8.first == UInt8(ascii: "$"))
            if wildcardsApply, let hash = node.hash { visit(hash) }
            let plus = wildcardsApply ? node.plus : nil
            let literal = node.children[level]
            if isLast {
                // "a/#" also matches "a".
                if let plus {
                    visit(plus)
                    if let hash = plus.hash { visit(hash) }
                }
                if let literal {
                    visit(literal)
                    if let hash = literal.hash { visit(hash) }
                }
            } else {
                let next = utf8.index(after: end)
                if let literal { stack.append((literal, next)) }
                if let plus { stack.append((plus, next)) }
            }
        }
    }

    /// Lets go of the tree one node at a time: a chain of nodes released by its root would free
    /// itself recursively, one stack frame per level.
    deinit {
        var stack = [root]
        while let node = stack.popLast() {
            stack.append(contentsOf: node.children.values)
            if let plus = node.plus { stack.append(plus) }
            if let hash = node.hash { stack.append(hash) }
            node.children.removeAll()
            node.plus = nil
            node.hash = nil
        }
    }
}
