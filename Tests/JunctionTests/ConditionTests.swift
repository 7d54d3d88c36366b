import Foundation
import Junction
import Testing

@Suite("Conditions")
struct ConditionTests {
    static let document = Document(
        id: "doc-1", topic: "plant/7/temperature",
        payload: #"{"celsius":81.5,"count":3,"status":"ok","reading":"81.5","label":"007","tags":["hot","north",7],"nested":{"a":[1,2]},"flag":true,"nothing":null,"word":"alpha","ünï":"çødé ✓"}"#,
        properties: ["site": "north-1", "qos": "1"])

    /// Parses `json` at `steps[0].filter`.
    static func parse(_ json: String) -> (Condition?, [DefinitionProblem]) {
        let reader = DefinitionReader(file: "Processes/p.json")
        guard let value = reader.parse(Data(json.utf8)) else { return (nil, reader.problems) }
        return (Condition.parse(value, path: "steps[0].filter", reader: reader), reader.problems)
    }

    @Test("Every operator, numeric strings, missing fields", arguments: [
        // eq
        (#"{"field": "payload.celsius", "eq": 81.5}"#, true),
        (#"{"field": "payload.celsius", "eq": 81}"#, false),
        (#"{"field": "payload.count", "eq": 3}"#, true),
        (#"{"field": "payload.count", "eq": 3.0}"#, true),
        (#"{"field": "payload.count", "eq": "3"}"#, true),
        (#"{"field": "payload.status", "eq": "ok"}"#, true),
        (#"{"field": "payload.status", "eq": "OK"}"#, false),
        (#"{"field": "payload.reading", "eq": 81.5}"#, true),
        (#"{"field": "payload.reading", "eq": "81.50"}"#, false),
        (#"{"field": "payload.label", "eq": 7}"#, false), // "007" is not a JSON number
        (#"{"field": "payload.label", "eq": "7"}"#, false),
        (#"{"field": "payload.label", "eq": "007"}"#, true),
        (#"{"field": "topic[1]", "eq": 7}"#, true),
        (#"{"field": "topic[1]", "eq": "7"}"#, true),
        (#"{"field": "topic", "eq": "plant/7/temperature"}"#, true),
        (#"{"field": "payload.flag", "eq": true}"#, true),
        (#"{"field": "payload.flag", "eq": 1}"#, false),
        (#"{"field": "payload.flag", "eq": "true"}"#, false),
        (#"{"field": "payload.nothing", "eq": null}"#, true),
        (#"{"field": "payload.missing", "eq": null}"#, false),
        (#"{"field": "payload.nested", "eq": {"a": [1, 2.0]}}"#, true),
        (#"{"field": "payload.nested", "eq": {"a": [1]}}"#, false),
        (#"{"field": "payload.nested", "eq": {"a": ["1", 2]}}"#, false),
        (#"{"field": "payload.tags", "eq": ["hot", "north", 7]}"#, true),
        (#"{"field": "payload.ünï", "eq": "çødé ✓"}"#, true),
        (#"{"field": "id", "eq": "doc-1"}"#, true),
        (#"{"field": "properties.qos", "eq": 1}"#, true),
        // ne
        (#"{"field": "payload.status", "ne": "bad"}"#, true),
        (#"{"field": "payload.status", "ne": "ok"}"#, false),
        (#"{"field": "payload.missing", "ne": 1}"#, true),
        (#"{"field": "payload.nothing", "ne": null}"#, false),
        (#"{"field": "topic[9]", "ne": "x"}"#, true),
        // gt, gte, lt, lte
        (#"{"field": "payload.celsius", "gt": 80}"#, true),
        (#"{"field": "payload.celsius", "gt": 81.5}"#, false),
        (#"{"field": "payload.celsius", "gte": 81.5}"#, true),
        (#"{"field": "payload.celsius", "lt": 100}"#, true),
        (#"{"field": "payload.count", "lt": 3}"#, false),
        (#"{"field": "payload.count", "lte": 3}"#, true),
        (#"{"field": "payload.count", "gt": -1e300}"#, true),
        (#"{"field": "payload.reading", "gt": 80}"#, true),
        (#"{"field": "payload.reading", "lt": 80}"#, false),
        (#"{"field": "payload.reading", "gt": "100"}"#, false),
        (#"{"field": "payload.reading", "lt": "100"}"#, true),
        (#"{"field": "payload.celsius", "gt": "80"}"#, true),
        (#"{"field": "payload.word", "gt": "aardvark"}"#, true),
        (#"{"field": "payload.word", "lt": "beta"}"#, true),
        (#"{"field": "payload.word", "gte": "alpha"}"#, true),
        (#"{"field": "payload.word", "lte": "alp"}"#, false),
        (#"{"field": "payload.status", "gt": 1}"#, false),
        (#"{"field": "payload.status", "lt": 1}"#, false),
        (#"{"field": "payload.flag", "gt": 0}"#, false),
        (#"{"field": "payload.nested", "gt": 0}"#, false),
        (#"{"field": "payload.missing", "gt": 0}"#, false),
        (#"{"field": "payload.missing", "lte": 0}"#, false),
        (#"{"field": "topic[1]", "gte": 7}"#, true),
        (#"{"field": "topic[1]", "gt": 10}"#, false),
        // contains
        (#"{"field": "payload.status", "contains": "k"}"#, true),
        (#"{"field": "payload.word", "contains": "ph"}"#, true),
        (#"{"field": "payload.word", "contains": "x"}"#, false),
        (#"{"field": "payload.word", "contains": ""}"#, true),
        (#"{"field": "payload.tags", "contains": "north"}"#, true),
        (#"{"field": "payload.tags", "contains": 7}"#, true),
        (#"{"field": "payload.tags", "contains": "cold"}"#, false),
        (#"{"field": "payload.celsius", "contains": 8}"#, false),
        (#"{"field": "payload.nested", "contains": "a"}"#, false),
        (#"{"field": "payload.missing", "contains": "a"}"#, false),
        (#"{"field": "topic", "contains": "/7/"}"#, true),
        // in
        (#"{"field": "payload.status", "in": ["ok", "warn"]}"#, true),
        (#"{"field": "payload.status", "in": ["warn"]}"#, false),
        (#"{"field": "payload.count", "in": [1, 2]}"#, false),
        (#"{"field": "payload.count", "in": [1, 3]}"#, true),
        (#"{"field": "topic[1]", "in": [7, 8]}"#, true),
        (#"{"field": "payload.missing", "in": [null]}"#, false),
        (#"{"field": "payload.nothing", "in": [null]}"#, true),
        // exists
        (#"{"field": "payload.celsius", "exists": true}"#, true),
        (#"{"field": "payload.celsius", "exists": false}"#, false),
        (#"{"field": "payload.missing", "exists": false}"#, true),
        (#"{"field": "payload.missing", "exists": true}"#, false),
        (#"{"field": "payload.nothing", "exists": true}"#, true),
        (#"{"field": "properties.site", "exists": true}"#, true),
        (#"{"field": "properties.other", "exists": true}"#, false),
        (#"{"field": "topic[5]", "exists": false}"#, true),
        // matches
        (#"{"field": "payload.word", "matches": "^al"}"#, true),
        (#"{"field": "payload.word", "matches": "^ph"}"#, false),
        (#"{"field": "payload.word", "matches": "ph"}"#, true),
        (#"{"field": "payload.celsius", "matches": "^81\\.5$"}"#, true),
        (#"{"field": "payload.flag", "matches": "^true$"}"#, true),
        (#"{"field": "payload.nested", "matches": "."}"#, false),
        (#"{"field": "payload.missing", "matches": ".*"}"#, false),
        (#"{"field": "properties.site", "matches": "-[0-9]+$"}"#, true),
        (#"{"field": "payload.ünï", "matches": "✓$"}"#, true),
        // several operators on one field
        (#"{"field": "payload.celsius", "gte": 80, "lt": 90}"#, true),
        (#"{"field": "payload.celsius", "gte": 82, "lt": 90}"#, false),
        // all, any, not
        (#"{"all": [{"field": "payload.count", "eq": 3}, {"field": "topic[0]", "eq": "plant"}]}"#, true),
        (#"{"all": [{"field": "payload.count", "eq": 3}, {"field": "topic[0]", "eq": "yard"}]}"#, false),
        (#"{"any": [{"field": "payload.count", "eq": 4}, {"field": "topic[0]", "eq": "plant"}]}"#, true),
        (#"{"any": [{"field": "payload.count", "eq": 4}, {"field": "topic[0]", "eq": "yard"}]}"#, false),
        (#"{"not": {"field": "payload.count", "eq": 3}}"#, false),
        (#"{"not": {"field": "payload.missing", "gt": 0}}"#, true),
        (#"{"not": {"not": {"field": "payload.flag", "eq": true}}}"#, true),
        (#"{"all": [{"any": [{"field": "id", "eq": "x"}, {"not": {"field": "payload.status", "eq": "bad"}}]}, {"field": "payload.tags", "contains": "hot"}]}"#, true),
    ])
    func evaluate(json: String, expected: Bool) throws {
        let (condition, problems) = Self.parse(json)
        #expect(problems.isEmpty, "\(problems)")
        let parsed = try #require(condition)
        #expect(parsed.evaluate(Self.document) == expected)
    }

    @Test("A payload that is not JSON has only its whole text")
    func nonJSONPayload() throws {
        let document = Document(topic: "t", payload: "81.5")
        let text = Document(topic: "t", payload: "hot stuff")
        let gt = try #require(Self.parse(#"{"field": "payload", "gt": 80}"#).0)
        let contains = try #require(Self.parse(#"{"field": "payload", "contains": "hot"}"#).0)
        let inner = try #require(Self.parse(#"{"field": "payload.a", "exists": false}"#).0)
        #expect(gt.evaluate(document))
        #expect(!gt.evaluate(text))
        #expect(contains.evaluate(text))
        #expect(inner.evaluate(text))
    }

    @Test("Parsed conditions have the expected shape")
    func shape() throws {
        #expect(Self.parse(#"{"field": "payload.celsius", "gt": 80}"#).0 == .field(.payload([.key("celsius")]), .gt(.integer(80))))
        #expect(Self.parse(#"{"field": "id", "in": ["a", 1]}"#).0 == .field(.id, .oneOf([.string("a"), .integer(1)])))
        #expect(Self.parse(#"{"field": "topic[2]", "lt": 5, "gte": 1}"#).0 == .all([.field(.topicLevel(2), .gte(.integer(1))), .field(.topicLevel(2), .lt(.integer(5)))]))
        #expect(Self.parse(#"{"not": {"field": "now", "exists": true}}"#).0 == .not(.field(.now, .exists(true))))
        #expect(try Self.parse(#"{"field": "id", "matches": "^a+$"}"#).0 == .field(.id, .matches(ConditionPattern("^a+$"))))
    }

    @Test("Problems are reported with key paths", arguments: [
        (#"{"field": "payload.x", "gtt": 1}"#, ["steps[0].filter.gtt"]),
        (#"{"field": "payload.x", "gt": true}"#, ["steps[0].filter.gt"]),
        (#"{"field": "payload.x", "lte": [1]}"#, ["steps[0].filter.lte"]),
        (#"{"field": "payload.x"}"#, ["steps[0].filter"]),
        (#"{"gt": 1}"#, ["steps[0].filter.field"]),
        (#"{}"#, ["steps[0].filter"]),
        (#""payload.x > 1""#, ["steps[0].filter"]),
        (#"[]"#, ["steps[0].filter"]),
        (#"{"field": "payload..x", "eq": 1}"#, ["steps[0].filter.field"]),
        (#"{"field": "foo", "eq": 1}"#, ["steps[0].filter.field"]),
        (#"{"field": 3, "eq": 1}"#, ["steps[0].filter.field"]),
        (#"{"all": []}"#, ["steps[0].filter.all"]),
        (#"{"any": {}}"#, ["steps[0].filter.any"]),
        (#"{"not": 1}"#, ["steps[0].filter.not"]),
        (#"{"all": [{"field": "id", "eq": "a"}, {"field": "id", "bogus": 1}]}"#, ["steps[0].filter.all[1].bogus"]),
        (#"{"any": [{"not": {"field": "id", "in": "x"}}]}"#, ["steps[0].filter.any[0].not.in"]),
        (#"{"field": "id", "in": []}"#, ["steps[0].filter.in"]),
        (#"{"field": "id", "matches": "("}"#, ["steps[0].filter.matches"]),
        (#"{"field": "id", "matches": 1}"#, ["steps[0].filter.matches"]),
        (#"{"field": "id", "exists": "yes"}"#, ["steps[0].filter.exists"]),
        (#"{"field": "id", "contains": {"a": 1}}"#, ["steps[0].filter.contains"]),
        (#"{"all": [{"field": "id", "eq": 1}], "field": "id"}"#, ["steps[0].filter"]),
        (#"{"all": [{"field": "id", "eq": 1}], "not": {"field": "id", "eq": 1}}"#, ["steps[0].filter"]),
        (#"{"all": [{"field": "foo", "eq": 1}, {"field": "id", "gt": null}, {"field": "id", "eq": 1, "x": 2}]}"#,
         ["steps[0].filter.all[0].field", "steps[0].filter.all[1].gt", "steps[0].filter.all[2].x"]),
    ])
    func problems(json: String, paths: [String]) {
        let (condition, problems) = Self.parse(json)
        #expect(condition == nil)
        #expect(problems.map(\.path) == paths, "\(problems)")
        #expect(problems.allSatisfy { $0.file == "Processes/p.json" && !$0.message.isEmpty })
    }

    @Test("Problem messages say what was expected")
    func problemMessages() {
        let unknown = Self.parse(#"{"field": "payload.x", "gtt": 1}"#).1
        #expect(unknown.first?.message.contains("unknown key; expected one of:") == true)
        #expect(unknown.first?.message.contains("gte") == true)
        let field = Self.parse(#"{"field": "payload..x", "eq": 1}"#).1
        #expect(field.first?.message == #"expected a key after "." (column 9 of "payload..x")"#)
        let gt = Self.parse(#"{"field": "id", "gt": true}"#).1
        #expect(gt.first?.message == "expected a number or a string, found a boolean")
        let regex = Self.parse(#"{"field": "id", "matches": "[a"}"#).1
        #expect(regex.first?.message.hasPrefix("is not a valid regular expression") == true)
    }

    @Test("Patterns are equal by their text")
    func patterns() throws {
        #expect(try ConditionPattern("a+") == ConditionPattern("a+"))
        #expect(try ConditionPattern("a+") != ConditionPattern("a*"))
        #expect(try ConditionPattern("^a+$").matches("aaa"))
        #expect(try !ConditionPattern("^a+$").matches("aab"))
        #expect(throws: (any Error).self) { try ConditionPattern("(") }
    }
}
