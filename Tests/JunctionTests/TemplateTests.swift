import Foundation
import Junction
import Testing

@Suite("Templates and field paths")
struct TemplateTests {
    static let payload = #"{"celsius":81.5,"count":3,"a":{"b":[10,{"c":"deep"}]},"name":"Zoë 😀","flag":true,"nothing":null,"odd key":1,"a.b":2,"list":[1,2.50,"x"],"q\"k":"quoted"}"#
    static let document = Document(id: "doc-1", topic: "plant/7/temperature", payload: payload, properties: ["site": "Köln", "x": "1", "content.type": "json", "odd name": "v"])
    static let now = Date(timeIntervalSince1970: 1_714_566_896.789)

    @Test("Rendering puts field text into literal text", arguments: [
        ("alerts/{{topic[1]}}", "alerts/7"),
        ("{{topic}}", "plant/7/temperature"),
        ("{{topic[0]}}-{{topic[2]}}", "plant-temperature"),
        ("{{ topic[1] }}", "7"),
        ("{{topic[3]}}", ""),
        ("x{{topic[99]}}y", "xy"),
        ("{{payload.a.b[0]}}", "10"),
        ("{{payload.a.b[1].c}}", "deep"),
        ("{{payload.a.b[2]}}", ""),
        ("{{payload.a.b[1].c.d}}", ""),
        ("{{payload.a.b}}", #"[10,{"c":"deep"}]"#),
        ("{{payload.celsius}}°C", "81.5°C"),
        ("{{payload.list[1]}}", "2.50"),
        ("{{payload.name}}!", "Zoë 😀!"),
        ("{{payload.flag}}/{{payload.nothing}}", "true/null"),
        (#"{{payload["odd key"]}}"#, "1"),
        (#"{{payload["a.b"]}}"#, "2"),
        (#"{{payload["q\"k"]}}"#, "quoted"),
        ("{{payload.missing}}", ""),
        ("{{properties.site}}", "Köln"),
        ("{{properties.content.type}}", "json"),
        (#"{{properties["odd name"]}}"#, "v"),
        ("{{properties.missing}}", ""),
        ("{{id}}:{{properties.x}}", "doc-1:1"),
        ("{{now}}", "2024-05-01T12:34:56.789Z"),
        ("plain text", "plain text"),
        ("", ""),
        ("{ not a field } a}}b {", "{ not a field } a}}b {"),
        ("ünï {{topic[1]}} ✓ {{payload.a.b[0]}}", "ünï 7 ✓ 10"),
        ("{{topic[1]}}{{topic[1]}}", "77"),
    ])
    func render(template: String, expected: String) throws {
        let parsed = try Template(parsing: template)
        #expect(parsed.render(Self.document, now: Self.now) == expected)
        #expect(parsed.source == template)
    }

    @Test("The whole payload renders as JSON, or as its text when it is not JSON")
    func wholePayload() throws {
        let template = try Template(parsing: "[{{payload}}]")
        #expect(template.render(Document(payload: #" {"a" : 1} "#)) == #"[{"a":1}]"#)
        #expect(template.render(Document(payload: "23 °C, ok")) == "[23 °C, ok]")
        #expect(template.render(Document(payload: #""just a string""#)) == "[just a string]")
        #expect(try Template(parsing: "{{payload.a}}").render(Document(payload: "a=1")) == "")
    }

    @Test("Topic levels: empty levels, no topic")
    func topicLevels() throws {
        let template = try Template(parsing: "<{{topic[0]}}|{{topic[1]}}|{{topic[2]}}>")
        #expect(template.render(Document(topic: "a//b", payload: "")) == "<a||b>")
        #expect(template.render(Document(topic: "/x", payload: "")) == "<|x|>")
        #expect(template.render(Document(topic: nil, payload: "")) == "<||>")
        #expect(try Template(parsing: "{{topic}}").render(Document(payload: "")) == "")
    }

    @Test("now is ISO 8601 UTC with milliseconds, the render time by default")
    func now() throws {
        let template = try Template(parsing: "{{now}}")
        #expect(template.render(Self.document, now: Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(template.render(Self.document, now: Date(timeIntervalSince1970: -1.5)) == "1969-12-31T23:59:58.500Z")
        let before = Date()
        let rendered = template.render(Self.document)
        #expect(rendered.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil)
        let parsed = try #require(ISO8601DateFormatter.withFractionalSeconds.date(from: rendered))
        #expect(abs(parsed.timeIntervalSince(before)) < 60)
    }

    @Test("renderJSON keeps the type of a single field", arguments: [
        ("{{payload.celsius}}", JSONPayload.Kind.double, "81.5"),
        ("{{payload.count}}", .int, "3"),
        ("{{payload.list[1]}}", .double, "2.50"),
        ("{{payload.flag}}", .bool, "true"),
        ("{{payload.nothing}}", .null, "null"),
        ("{{payload.a}}", .object, #"{"b":[10,{"c":"deep"}]}"#),
        ("{{payload.list}}", .array, #"[1,2.50,"x"]"#),
        ("{{ payload.count }}", .int, "3"),
        ("{{payload.missing}}", .null, "null"),
        ("{{topic[1]}}", .string, #""7""#),
        ("{{properties.x}}", .string, #""1""#),
        ("{{id}}", .string, #""doc-1""#),
        ("{{payload.name}}", .string, #""Zoë 😀""#),
        ("t={{payload.celsius}}", .string, #""t=81.5""#),
        (" {{payload.count}}", .string, #"" 3""#),
        ("{{payload.count}}{{payload.count}}", .string, #""33""#),
        ("{{payload.missing}}!", .string, #""!""#),
        ("constant", .string, #""constant""#),
        ("", .string, #""""#),
    ])
    func renderJSON(template: String, kind: JSONPayload.Kind, serialized: String) throws {
        let value = try Template(parsing: template).renderJSON(Self.document, now: Self.now)
        #expect(value.kind == kind)
        #expect(value.serialized() == serialized)
    }

    @Test("Constant templates and references")
    func constantAndReferences() throws {
        #expect(try Template(parsing: "plain {text}").isConstant)
        #expect(try Template(parsing: "").isConstant)
        let template = try Template(parsing: "{{topic[1]}}/{{payload.a[0]}}/{{properties.p}}/{{id}}/{{now}}/{{topic}}/{{payload}}")
        #expect(!template.isConstant)
        #expect(template.references == [.topicLevel(1), .payload([.key("a"), .index(0)]), .property("p"), .id, .now, .topic, .payload([])])
        #expect(try Template(parsing: "a{{id}}") == Template(parsing: "a{{id}}"))
        #expect(try Template(parsing: "a{{id}}") != Template(parsing: "b{{id}}"))
    }

    @Test("Errors name the column and what was expected", arguments: [
        ("{{", 3, "expected a field"),
        ("{{}}", 3, "expected a field"),
        ("{{ }}", 4, "expected a field"),
        ("a{{topic", 9, "expected }} to close the {{ at column 2, found the end of the text"),
        ("a{{topic}", 9, "expected }} to close the {{ at column 2"),
        ("{{id x}}", 6, "expected }} to close the {{ at column 1, found \"x\""),
        ("{{foo}}", 3, "unknown field \"foo\""),
        ("ü{{payload2}}", 4, "unknown field \"payload2\""),
        ("{{topic[x]}}", 9, "expected a topic level number"),
        ("{{topic[-1]}}", 9, "expected a topic level number"),
        ("{{topic[1}}", 10, "expected \"]\" after the topic level"),
        ("{{topic[12345678901]}}", 9, "index is too large"),
        ("{{payload.}}", 11, "expected a key after \".\""),
        ("{{payload..a}}", 11, "expected a key after \".\""),
        ("{{payload[}}", 11, "expected an array index or a quoted key"),
        ("{{payload[0}}", 12, "expected \"]\" after the index"),
        (#"{{payload["a}}"#, 15, "expected a closing \" for the quoted name opened at column 11"),
        (#"{{payload["a\x"]}}"#, 14, "expected \\\" or \\\\ after a backslash"),
        ("{{properties}}", 13, "expected .name or [\"name\"] after properties"),
        ("{{properties.}}", 14, "expected a property name"),
        ("{{properties[x]}}", 14, "expected a quoted property name"),
        ("ok {{id}} then {{{id}}}", 18, "expected a field"),
    ])
    func errors(template: String, column: Int, message: String) {
        let error = #expect(throws: TemplateError.self) { try Template(parsing: template) }
        #expect(error?.column == column)
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("column \(column): ") == true)
    }

    @Test("Field paths read back from their description", arguments: [
        "id", "topic", "topic[0]", "topic[12]", "payload", "payload.a", "payload.a.b[0]", "payload[3].x", "payload.ü.ñ",
        #"payload["a.b"]"#, #"payload["with space"][1]"#, #"payload["q\"k\\"]"#, "properties.site", "properties.a.b",
        #"properties["odd name"]"#, "now",
    ])
    func fieldPathRoundTrip(text: String) throws {
        let path = try FieldPath(parsing: text)
        #expect(try FieldPath(parsing: path.description) == path)
    }

    @Test("Field paths parse to their parts")
    func fieldPathParts() throws {
        #expect(try FieldPath(parsing: "payload.a.b[0]") == .payload([.key("a"), .key("b"), .index(0)]))
        #expect(try FieldPath(parsing: #"payload["x y"][2]"#) == .payload([.key("x y"), .index(2)]))
        #expect(try FieldPath(parsing: "topic[1]") == .topicLevel(1))
        #expect(try FieldPath(parsing: "properties.content.type") == .property("content.type"))
        #expect(FieldPath.payload([.key("a.b"), .index(1)]).description == #"payload["a.b"][1]"#)
        #expect(FieldPath.property("x y").description == #"properties["x y"]"#)
    }

    @Test("A field path must be the whole text", arguments: [
        ("payload.a ", 10), ("topic[1]x", 9), (" id", 1), ("id}}", 3),
    ])
    func fieldPathTrailing(text: String, column: Int) {
        let error = #expect(throws: TemplateError.self) { try FieldPath(parsing: text) }
        #expect(error?.column == column)
    }

    @Test("lookup distinguishes missing fields from JSON null")
    func lookup() throws {
        #expect(try FieldPath(parsing: "payload.nothing").lookup(in: Self.document) != nil)
        #expect(try FieldPath(parsing: "payload.missing").lookup(in: Self.document) == nil)
        #expect(try FieldPath(parsing: "properties.none").lookup(in: Self.document) == nil)
        #expect(try FieldPath(parsing: "topic[3]").lookup(in: Self.document) == nil)
        guard case .json(let value)? = try FieldPath(parsing: "payload.count").lookup(in: Self.document) else {
            Issue.record("expected a JSON value")
            return
        }
        #expect(value.int64Value == 3)
        guard case .string(let level)? = try FieldPath(parsing: "topic[2]").lookup(in: Self.document) else {
            Issue.record("expected text")
            return
        }
        #expect(level == "temperature")
    }
}

extension ISO8601DateFormatter {
    fileprivate static var withFractionalSeconds: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }
}
