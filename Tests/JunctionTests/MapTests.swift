import Foundation
import Junction
import NIOCore
import Testing

@Suite("The map step")
struct MapTests {
    static let document = Document(
        id: "doc-1", topic: "plant/7/temperature",
        payload: #"{"celsius":81.5,"count":3,"exact":2.50,"ok":true,"none":null,"site":{"name":"Zoë","loc":[1.5,-2]},"list":[1,"two",{"three":3}]}"#,
        properties: ["site": "north-1"])
    static let now = Date(timeIntervalSince1970: 0)

    static func parse(_ json: String, path: String = "steps[1].map") -> (PayloadMap?, [DefinitionProblem]) {
        let reader = DefinitionReader(file: "Processes/p.json")
        guard let value = reader.parse(Data(json.utf8)) else { return (nil, reader.problems) }
        return (PayloadMap.parse(value, path: path, reader: reader), reader.problems)
    }

    static func apply(_ json: String, to document: Document = document) throws -> String {
        let (map, problems) = parse(json)
        #expect(problems.isEmpty, "\(problems)")
        return String(buffer: try #require(map).apply(document, now: now))
    }

    @Test("The example of docs/design.md")
    func designExample() throws {
        let output = try Self.apply(#"{"sensor": "{{topic[1]}}", "celsius": "{{payload.celsius}}", "tags": ["a", "{{properties.site}}"], "fixed": 3}"#)
        #expect(output == #"{"celsius":81.5,"fixed":3,"sensor":"7","tags":["a","north-1"]}"#)
    }

    @Test("Values keep their JSON types", arguments: [
        (#""{{payload.celsius}}""#, "81.5"),
        (#""{{payload.count}}""#, "3"),
        (#""{{payload.exact}}""#, "2.50"),
        (#""{{payload.ok}}""#, "true"),
        (#""{{payload.none}}""#, "null"),
        (#""{{payload.missing}}""#, "null"),
        (#""{{payload.site}}""#, #"{"name":"Zoë","loc":[1.5,-2]}"#),
        (#""{{payload.list}}""#, #"[1,"two",{"three":3}]"#),
        (#""{{payload.list[2].three}}""#, "3"),
        (#""{{payload}}""#, #"{"celsius":81.5,"count":3,"exact":2.50,"ok":true,"none":null,"site":{"name":"Zoë","loc":[1.5,-2]},"list":[1,"two",{"three":3}]}"#),
        (#""{{topic[1]}}""#, #""7""#),
        (#""{{topic[9]}}""#, "null"),
        (#""{{now}}""#, #""1970-01-01T00:00:00.000Z""#),
        (#""{{payload.count}} items""#, #""3 items""#),
        (#""{{payload.site.name}} ✓""#, #""Zoë ✓""#),
        (#""{{payload.missing}}-""#, #""-""#),
    ])
    func typePreservation(map: String, expected: String) throws {
        #expect(try Self.apply(map) == expected)
    }

    @Test("Constants are copied", arguments: [
        (#"{"i": 1, "d": 1.5, "b": false, "n": null, "s": "plain / text", "e": "", "a": [1, [2, {"x": []}]], "o": {}}"#,
         #"{"a":[1,[2,{"x":[]}]],"b":false,"d":1.5,"e":"","i":1,"n":null,"o":{},"s":"plain / text"}"#),
        ("42", "42"),
        ("0.1", "0.1"),
        ("-1e-7", "-1e-07"),
        (#""just text""#, #""just text""#),
        ("null", "null"),
        ("[]", "[]"),
        (#"{"u": "ünïcödé 😀"}"#, #"{"u":"ünïcödé 😀"}"#),
    ])
    func constants(map: String, expected: String) throws {
        #expect(try Self.apply(map) == expected)
    }

    @Test("Nested objects and arrays mix constants and fields")
    func nested() throws {
        let output = try Self.apply(#"""
            {"reading": {"value": "{{payload.celsius}}", "unit": "C", "where": {"site": "{{properties.site}}", "loc": "{{payload.site.loc}}"}},
             "rows": [["{{payload.count}}", 2], {"n": "{{payload.list[0]}}"}, "{{payload.list[1]}}", true],
             "label": "{{topic[0]}}/{{topic[1]}}"}
            """#)
        #expect(output == #"{"label":"plant/7","reading":{"unit":"C","value":81.5,"where":{"loc":[1.5,-2],"site":"north-1"}},"rows":[[3,2],{"n":1},"two",true]}"#)
        let json = try #require(JSONPayload.parse(output))
        #expect(json.value(at: [.key("rows"), .index(0), .index(0)])?.kind == .int)
        #expect(json.value(at: [.key("reading"), .key("value")])?.kind == .double)
    }

    @Test("The source document is untouched and the output independent of it")
    func sourceUntouched() throws {
        let before = Self.document.payload
        let parsedBefore = try #require(Self.document.json())
        let map = try #require(Self.parse(#"{"site": "{{payload.site}}"}"#).0)
        let output = map.applyJSON(Self.document, now: Self.now)
        #expect(Self.document.payload == before)
        #expect(Self.document.json() === parsedBefore)
        #expect(output.value(at: [.key("site")]) == parsedBefore.value(at: [.key("site")]))
        #expect(parsedBefore.value(at: [.key("site"), .key("name")])?.stringValue == "Zoë")
    }

    @Test("A document whose payload is not JSON maps from its other fields")
    func nonJSONSource() throws {
        let document = Document(topic: "a/b", payload: "21.5 C")
        #expect(try Self.apply(#"{"raw": "{{payload}}", "value": "{{payload.value}}", "level": "{{topic[1]}}"}"#, to: document)
                == #"{"level":"b","raw":"21.5 C","value":null}"#)
    }

    @Test("Template problems are reported with key paths", arguments: [
        (#"{"a": {"b": "{{nope}}"}}"#, ["steps[1].map.a.b"]),
        (#"{"tags": ["ok", "{{topic[x]}}"]}"#, ["steps[1].map.tags[1]"]),
        (#""{{payload.""#, ["steps[1].map"]),
        (#"{"x": "{{id", "y": [{"z": "{{properties}}"}]}"#, ["steps[1].map.x", "steps[1].map.y[0].z"]),
    ])
    func problems(json: String, paths: [String]) {
        let (map, problems) = Self.parse(json)
        #expect(map == nil)
        #expect(problems.map(\.path) == paths, "\(problems)")
        #expect(problems.allSatisfy { $0.message.contains("(column ") })
    }

    @Test("References list the fields a map reads")
    func references() throws {
        let map = try #require(Self.parse(#"{"b": ["{{topic[1]}}", 1], "a": "{{payload.x}}-{{id}}", "c": "text"}"#).0)
        #expect(map.references == [.payload([.key("x")]), .id, .topicLevel(1)])
        #expect(try #require(Self.parse(#"{"a": [1, "x"]}"#).0).references.isEmpty)
    }

    @Test("100,000 documents parse and map without growing the heap", .timeLimit(.minutes(2)))
    func noGrowth() throws {
        let map = try #require(Self.parse(#"{"sensor": "{{topic[1]}}", "celsius": "{{payload.celsius}}", "site": "{{payload.site}}", "tags": ["x", "{{payload.tags[0]}}"], "text": "t={{payload.celsius}}"}"#).0)
        let condition = try #require(Condition.parse(.object(["field": .string("payload.celsius"), "gt": .integer(50)]), path: "filter", reader: DefinitionReader(file: "p.json")))
        var passed = 0
        var wrong = 0
        func run(_ count: Int) {
            for index in 0..<count {
                let document = Document(
                    id: "d\(index)", topic: "plant/\(index % 100)/temperature",
                    payload: ByteBuffer(string: #"{"celsius":\#(index % 100).5,"site":{"name":"n\#(index)","loc":[1,2]},"tags":["a","b"]}"#))
                if condition.evaluate(document) { passed += 1 }
                var mapped = document
                mapped.payload = map.apply(document, now: Self.now)
                if mapped.json()?.value(at: [.key("sensor")])?.stringValue != "\(index % 100)" { wrong += 1 }
            }
        }
        run(1_000)
        // Other tests run in the same process at the same time and move its resident size too, so
        // a round that grew is measured again (up to three rounds): a leak grows every round.
        var growths: [Int] = []
        for _ in 0..<3 {
            let before = try Self.residentBytes()
            run(100_000)
            growths.append(try Self.residentBytes() - before)
            if growths.last! < 32 << 20 { break }
        }
        #expect(passed == 1_000 / 2 + 100_000 / 2 * growths.count)
        #expect(wrong == 0)
        // Freed memory is reused, so a loop without leaks stays flat after warming up; a leak of one
        // parsed or built tree per document would add well over 50 MB per round.
        #expect(growths.min()! < 32 << 20, "resident memory grew by \(growths) bytes in each round of 100,000 documents")
    }

    /// The process's resident set size from `/proc/self/statm` (Linux).
    static func residentBytes() throws -> Int {
        let statm = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
        let pages = try #require(statm.split(separator: " ").dropFirst().first.flatMap { Int($0) })
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
