/// Topic names and topic filters (MQTT 5 §4.7): validation and matching, in one place.
///
/// Levels are separated by `/`; empty levels are allowed (`a//b`, `/a`). `+` matches exactly one
/// level, `#` (last, whole level) matches the parent level and everything below it. Topics
/// starting with `$` are not matched by a filter whose first level is a wildcard.
public enum MQTTTopic {
    /// Whether `topic` is a valid topic name: non-empty, no wildcard, no U+0000, at most 65,535 bytes.
    public static func isValidName(_ topic: String) -> Bool {
        let utf8 = topic.utf8
        return !utf8.isEmpty && utf8.count <= 65_535
            && !utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") || $0 == 0 })
    }

    /// Whether `filter` is a valid topic filter (shared filters are checked by ``MQTTTopicFilter``).
    public static func isValidFilter(_ filter: String) -> Bool {
        let bytes = Array(filter.utf8)
        guard !bytes.isEmpty, bytes.count <= 65_535 else { return false }
        var levelStart = 0
        for (index, byte) in bytes.enumerated() {
            switch byte {
            case 0: return false
            case UInt8(ascii: "/"): levelStart = index + 1
            case UInt8(ascii: "+"):
                if index != levelStart { return false }
                if index + 1 < bytes.count && bytes[index + 1] != UInt8(ascii: "/") { return false }
            case UInt8(ascii: "#"):
                if index != levelStart || index != bytes.count - 1 { return false }
            default: break
            }
        }
        return true
    }

    /// Whether the topic name `topic` matches the (plain, valid) filter `filter`.
    /// `dollarRule: false` lets a leading wildcard match `$` topics too (access rules, where
    /// `#` means everything); subscriptions always keep the rule.
    public static func matches(filter: String, topic: String, dollarRule: Bool = true) -> Bool {
        var f = filter.utf8[...]
        var t = topic.utf8[...]
        if dollarRule, let first = f.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "#"),
           t.first == UInt8(ascii: "$") {
            return false
        }
        while true {
            let fLevel = f.prefix { $0 != UInt8(ascii: "/") }
            f = f[fLevel.endIndex...]
            if fLevel.elementsEqual("#".utf8) { return true }
            let tLevel = t.prefix { $0 != UInt8(ascii: "/") }
            t = t[tLevel.endIndex...]
            if !fLevel.elementsEqual("+".utf8) && !fLevel.elementsEqual(tLevel) { return false }
            let fMore = !f.isEmpty
            let tMore = !t.isEmpty
            if !fMore && !tMore { return true }
            if fMore && !tMore {
                // "a/#" also matches "a": only a final "/#" may remain.
                return f.elementsEqual("/#".utf8)
            }
            if !fMore { return false }
            f = f.dropFirst()
            t = t.dropFirst()
        }
    }

    /// Whether `topic` (a topic name or filter) has more than `maximum` levels. A string of n
    /// bytes has at most n + 1 levels, so one shorter than `maximum` is not even scanned.
    public static func hasMoreLevels(_ topic: String, than maximum: Int) -> Bool {
        let utf8 = topic.utf8
        guard utf8.count >= maximum else { return false }
        var levels = 1
        for byte in utf8 where byte == UInt8(ascii: "/") {
            levels += 1
            if levels > maximum { return true }
        }
        return false
    }

    /// Splits a topic or filter into its levels, empty levels kept.
    public static func levels(_ topic: String) -> [Substring] {
        topic.split(separator: "/", omittingEmptySubsequences: false)
    }
}

/// A validated topic filter of a SUBSCRIBE, possibly shared (`$share/group/filter`).
public struct MQTTTopicFilter: Sendable, Hashable, CustomStringConvertible {
    /// The filter as the subscriber wrote it.
    public let rawValue: String
    /// The filter topics are matched against (without `$share/group/`).
    public let filter: String
    /// The share group name for a shared subscription.
    public let shareGroup: String?

    /// Validates `rawValue`; nil when it breaks the wildcard rules or is a malformed shared filter.
    public init?(_ rawValue: String) {
        self.rawValue = rawValue
        if rawValue.hasPrefix("$share/") {
            let rest = rawValue.utf8.dropFirst(7)
            guard let slash = rest.firstIndex(of: UInt8(ascii: "/")) else { return nil }
            let group = String(Substring(rest[..<slash]))
            let filter = String(Substring(rest[rest.index(after: slash)...]))
            guard !group.isEmpty, !group.contains(where: { $0 == "+" || $0 == "#" || $0 == "\u{0}" }),
                  MQTTTopic.isValidFilter(filter)
            else { return nil }
            self.shareGroup = group
            self.filter = filter
        } else {
            guard MQTTTopic.isValidFilter(rawValue) else { return nil }
            self.shareGroup = nil
            self.filter = rawValue
        }
    }

    /// Whether the filter contains `+` or `#`.
    public var hasWildcards: Bool { filter.utf8.contains { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") } }

    /// Whether `topic` matches this filter.
    public func matches(_ topic: String) -> Bool { MQTTTopic.matches(filter: filter, topic: topic) }

    public var description: String { rawValue }
}
