import Foundation

/// The topic filters, topic names and payloads operations choose from: the shapes that found
/// broker bugs before (wildcards in odd places, empty levels, `$SYS`, `$share`, deep filters).
enum FuzzVocabulary {
    static let filters = [
        "#", "+", "a", "a/b", "a/+", "a/#", "+/b", "+/+", "a/b/c", "a/+/c", "+/#", "/", "//", "/a", "a/", "a//b",
        "$SYS/#", "$SYS/broker/+", "$SYS/+/uptime", "$x/#", "$x/+", "$share/g/a/#", "$share/g/#", "$share/h/+/b",
        "$share/g/a/b", "$share/g//a", "$share//a", "$share/g", "$share/g/", "$share/+/a", "$share/g+/a", "$share/#/a",
        "#/a", "a/b#", "a+/b", "", "a/#/b", "++", "##", "a\u{0}b", "é/ü", "a b/c", "$share/g/$SYS/#", "c/d", "x",
        "$share/g/+", "+/+/+", "a/b/c/d/e/f/g/h",
    ]
    static let topics = [
        "a", "a/b", "a/b/c", "a/x/c", "b", "/", "//", "/a", "a/", "a//b", "$SYS/x", "$SYS/broker/uptime", "$x/y",
        "c/d", "x", "é/ü", "", "a/+", "#", "a\u{0}", "$share/g/a", "a/b/c/d/e/f/g/h", "x/b",
    ]
    static let levels = ["a", "b", "c", "+", "#", "", "$SYS", "$share", "g", "x"]

    /// Deep filters and topics above the broker's maxTopicLevels have this many levels at most:
    /// BROKER_FUZZ_MAX_DEPTH, else the most a 65,535-byte string holds (with `deepTopics` there
    /// is no cap: the broker accepts them all).
    static let refusedDepth: Int = {
        if let value = ProcessInfo.processInfo.environment["BROKER_FUZZ_MAX_DEPTH"], let depth = Int(value), depth >= 0 {
            return depth
        }
        return 65_535
    }()

    /// A filter: a table entry (byte < 0x80), a deep one (0xFF, then depth and shape), or up to
    /// eight levels composed from ``levels``.
    static func filter(_ input: inout FuzzInput, maxDepth: Int) -> String {
        let k = input.byte()
        if k < 0x80 { return filters[Int(k) % filters.count] }
        if k == 0xFF {
            let depth = min(Int(input.u16()), maxDepth)
            switch input.byte() % 4 {
            case 0: return String(repeating: "/", count: depth)
            case 1: return repeated("a/", depth, limit: 65_533) + "a"
            case 2: return repeated("+/", depth, limit: 65_533) + "#"
            default: return repeated("a/", depth, limit: 65_533) + "#"
            }
        }
        return composed(&input, count: 1 + Int(k & 7))
    }

    /// A topic name: a table entry (byte < 0x80), a deep one (0xFF), or composed levels.
    static func topic(_ input: inout FuzzInput, maxDepth: Int) -> String {
        let k = input.byte()
        if k < 0x80 { return topics[Int(k) % topics.count] }
        if k == 0xFF {
            let depth = min(Int(input.u16()), maxDepth)
            return input.byte() % 2 == 0 ? String(repeating: "/", count: depth) : repeated("a/", depth, limit: 65_533) + "a"
        }
        return composed(&input, count: 1 + Int(k & 7))
    }

    private static func composed(_ input: inout FuzzInput, count: Int) -> String {
        (0..<count).map { _ in input.pick(levels) }.joined(separator: "/")
    }

    private static func repeated(_ unit: String, _ count: Int, limit: Int) -> String {
        String(repeating: unit, count: min(count, limit / unit.utf8.count))
    }

    // MARK: Payloads

    private static let magic: [UInt8] = [0x4A, 0x46]

    /// The payload of message `seq`: a marker and the number, so each delivery says which message it is.
    static func payload(seq: UInt32) -> [UInt8] {
        magic + [UInt8(seq >> 24), UInt8(truncatingIfNeeded: seq >> 16), UInt8(truncatingIfNeeded: seq >> 8), UInt8(truncatingIfNeeded: seq)]
    }

    /// The message number of a payload made by ``payload(seq:)``, nil for any other.
    static func seq<C: Collection>(of payload: C) -> UInt32? where C.Element == UInt8 {
        guard payload.count == 6 else { return nil }
        let bytes = Array(payload)
        guard bytes[0] == magic[0], bytes[1] == magic[1] else { return nil }
        return UInt32(bytes[2]) << 24 | UInt32(bytes[3]) << 16 | UInt32(bytes[4]) << 8 | UInt32(bytes[5])
    }
}

/// Topic matching and filter validity as MQTT 5 §4.7 states them, written apart from the
/// broker's own so that a mistake there shows up as a difference.
enum FuzzTopics {
    /// Whether `filter` (a valid one, without `$share/`) matches topic name `topic`.
    static func matches(filter: String, topic: String) -> Bool {
        let f = filter.split(separator: "/", omittingEmptySubsequences: false)
        let t = topic.split(separator: "/", omittingEmptySubsequences: false)
        if topic.hasPrefix("$"), let first = f.first, first == "+" || first == "#" { return false }
        for (i, level) in f.enumerated() {
            if level == "#" { return true }
            guard i < t.count else { return false }
            if level != "+" && level != t[i] { return false }
        }
        return f.count == t.count
    }

    /// The share group and filter of a valid filter, nil when it is not one.
    static func parse(_ raw: String) -> (group: String?, filter: String)? {
        guard !raw.isEmpty, !raw.utf8.contains(0) else { return nil }
        var group: String?
        var filter = raw
        if raw.hasPrefix("$share/") {
            let rest = raw.dropFirst("$share/".count)
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            let name = String(rest[..<slash])
            guard !name.isEmpty, !name.contains("+"), !name.contains("#") else { return nil }
            group = name
            filter = String(rest[rest.index(after: slash)...])
            guard !filter.isEmpty else { return nil }
        }
        let levels = filter.split(separator: "/", omittingEmptySubsequences: false)
        for (i, level) in levels.enumerated() {
            if level.contains("#") && (level != "#" || i != levels.count - 1) { return nil }
            if level.contains("+") && level != "+" { return nil }
        }
        return (group, filter)
    }

    /// Whether `topic` is a valid topic name for PUBLISH (non-empty, no wildcard, no U+0000).
    static func isValidName(_ topic: String) -> Bool {
        !topic.isEmpty && !topic.utf8.contains { $0 == 0 || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }
    }

    static func isSys(_ topic: String) -> Bool { topic == "$SYS" || topic.hasPrefix("$SYS/") }
}
