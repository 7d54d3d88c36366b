import MQTTCore
import Testing

/// Topic names, topic filters and matching (MQTT 5 §4.7, §4.8.2; MQTT 3.1.1 §4.7).
@Suite("Topic names, filters and matching")
struct TopicTests {
    @Test("MQTTTopic.isValidName", arguments: [
        ("a", true), ("a/b", true), ("/", true), ("//", true), ("a//b", true), ("/a", true), ("a/", true),
        ("$SYS/broker", true), (" ", true), ("日本/語", true), ("a$b", true),
        ("", false), ("+", false), ("#", false), ("a/+/b", false), ("a/#", false), ("a#", false), ("b+", false),
        ("a\u{0}b", false),
        (String(repeating: "a", count: 65_535), true), (String(repeating: "a", count: 65_536), false),
    ])
    func validName(_ topic: String, _ valid: Bool) {
        #expect(MQTTTopic.isValidName(topic) == valid)
    }

    @Test("MQTTTopic.isValidFilter", arguments: [
        ("#", true), ("+", true), ("a", true), ("a/#", true), ("a/+/b", true), ("+/+", true), ("/+", true), ("+/", true),
        ("/#", true), ("/", true), ("//", true), ("+/#", true), ("$SYS/#", true), ("sport/tennis/+", true),
        ("", false), ("a#", false), ("#/a", false), ("a/#/b", false), ("a/b#", false), ("##", false), ("#/", false),
        ("a+", false), ("+a", false), ("a/+b", false), ("a/b+/c", false), ("++", false), ("sport/tennis#", false),
        ("sport+", false), ("a\u{0}", false), (String(repeating: "a", count: 65_536), false),
    ])
    func validFilter(_ filter: String, _ valid: Bool) {
        #expect(MQTTTopic.isValidFilter(filter) == valid)
    }

    @Test("MQTTTopic.matches", arguments: [
        // Multi-level wildcard
        ("#", "a", true), ("#", "a/b/c", true), ("#", "/", true), ("/#", "/", true),
        ("a/#", "a", true), ("a/#", "a/", true), ("a/#", "a/b", true), ("a/#", "a/b/c", true),
        ("a/#", "ab", false), ("a/#", "b/a", false), ("a/b/#", "a/bc", false),
        ("sport/tennis/player1/#", "sport/tennis/player1/ranking/wimbledon", true),
        // Single-level wildcard
        ("+", "a", true), ("+", "a/b", false), ("+", "/a", false), ("a/+", "a/b", true), ("a/+", "a", false),
        ("a/+", "a/b/c", false), ("a/+", "a/", true), ("+/+", "/a", true), ("/+", "/a", true),
        ("+/+/+", "a/b", false), ("sport/+/player1", "sport/tennis/player1", true),
        ("a/+/#", "a/b", true), ("a/+/#", "a", false),
        // Empty levels
        ("a//b", "a//b", true), ("a/+/b", "a//b", true), ("a//b", "a/b", false), ("+/a", "/a", true),
        ("/a", "/a", true), ("/a", "a", false), ("a", "/a", false), ("a/b/+", "a/b/", true), ("a/b", "a/b/", false),
        // Exact and case-sensitive
        ("a/b", "a/b", true), ("a/b", "A/b", false), ("a/b/c", "a/b", false),
        // Topics starting with '$'
        ("#", "$SYS/x", false), ("+/x", "$SYS/x", false), ("+/#", "$SYS", false), ("+", "$SYS", false),
        ("+/monitor/Clients", "$SYS/monitor/Clients", false), ("$SYS/#", "$SYS/x", true), ("$SYS/#", "$SYS", true),
        ("$SYS/+", "$SYS/x", true), ("$SYS/monitor/+", "$SYS/monitor/Clients", true), ("a/+", "a/$b", true),
    ])
    func matches(_ filter: String, _ topic: String, _ expected: Bool) throws {
        #expect(MQTTTopic.isValidFilter(filter), "the table's filter must be valid")
        #expect(MQTTTopic.isValidName(topic), "the table's topic must be valid")
        #expect(MQTTTopic.matches(filter: filter, topic: topic) == expected)
        let parsed = try #require(MQTTTopicFilter(filter))
        #expect(parsed.matches(topic) == expected)
    }

    @Test("MQTTTopicFilter parses plain and shared filters", arguments: [
        ("$share/group/filter", "group", "filter"),
        ("$share/g/#", "g", "#"),
        ("$share/consumers/a/+/b", "consumers", "a/+/b"),
        ("$share/g//", "g", "/"),
        ("a/+", nil, "a/+"),
        ("$SYS/#", nil, "$SYS/#"),
        ("$sharex/a", nil, "$sharex/a"),
        ("$share", nil, "$share"),
    ] as [(String, String?, String)])
    func parsesFilter(_ raw: String, _ group: String?, _ filter: String) throws {
        let parsed = try #require(MQTTTopicFilter(raw))
        #expect(parsed.rawValue == raw)
        #expect(parsed.description == raw)
        #expect(parsed.shareGroup == group)
        #expect(parsed.filter == filter)
    }

    @Test("MQTTTopicFilter refuses malformed filters", arguments: [
        "$share/group", "$share//a", "$share/g+/a", "$share/g#/a", "$share/+/a", "$share/g/a/#/b", "$share/g/", "$share/",
        "$share/g/a+", "", "a/#/b", "a+", "#a",
    ])
    func refusesFilter(_ raw: String) {
        #expect(MQTTTopicFilter(raw) == nil)
    }

    @Test("shared filters match on the filter after the group")
    func sharedMatching() throws {
        let all = try #require(MQTTTopicFilter("$share/g/#"))
        #expect(all.matches("a/b"))
        #expect(!all.matches("$SYS/x"))
        #expect(all.hasWildcards)
        let exact = try #require(MQTTTopicFilter("$share/g/a/b"))
        #expect(exact.matches("a/b"))
        #expect(!exact.matches("$share/g/a/b"))
        #expect(!exact.hasWildcards)
        #expect(try #require(MQTTTopicFilter("a/+")).hasWildcards)
    }

    @Test("levels keep empty levels", arguments: [
        ("a/b", ["a", "b"]), ("a//b", ["a", "", "b"]), ("/a", ["", "a"]), ("a/", ["a", ""]), ("/", ["", ""]), ("a", ["a"]),
    ])
    func levels(_ topic: String, _ expected: [String]) {
        #expect(MQTTTopic.levels(topic).map(String.init) == expected)
    }
}
