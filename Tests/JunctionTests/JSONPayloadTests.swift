import Foundation
import Junction
import NIOCore
import Testing

@Suite("JSON payloads through json-c")
struct JSONPayloadTests {
    @Test("Parse and serialise give compact JSON", arguments: [
        (#"{"a":1}"#, #"{"a":1}"#),
        (" { \"a\" : [ 1 , 2.50 , \"x\" ] }\n", #"{"a":[1,2.50,"x"]}"#),
        (#""a/b""#, #""a/b""#),
        (#""\u00e9\ud83d\ude00""#, #""é😀""#),
        (#""é😀 ✓""#, #""é😀 ✓""#),
        (#""tab\tquote\"back\\""#, #""tab\tquote\"back\\""#),
        (#""\u0000x""#, #""\u0000x""#),
        ("true", "true"),
        ("false", "false"),
        ("null", "null"),
        ("123", "123"),
        ("-7", "-7"),
        ("1e3", "1e3"),
        ("0.10", "0.10"),
        ("9223372036854775807", "9223372036854775807"),
        ("[]", "[]"),
        ("{}", "{}"),
        (#"{"a":null,"b":[null,{}]}"#, #"{"a":null,"b":[null,{}]}"#),
        (#"{"b":1,"a":2}"#, #"{"b":1,"a":2}"#),
    ])
    func roundTrip(input: String, expected: String) throws {
        let json = try #require(JSONPayload.parse(input))
        #expect(json.serialized() == expected)
        let again = try #require(JSONPayload.parse(json.serialized()))
        #expect(again == json)
        #expect(JSONPayload.parse(ByteBuffer(string: input))?.serialized() == expected)
    }

    @Test("Invalid JSON, trailing garbage and json-c extensions give nil", arguments: [
        "", "   ", "{", "}", "[1,", "{}x", "{} {}", "{}{}", "[1,]", #"{"a":1,}"#, "{'a':1}", "'a'", "{a:1}",
        "NaN", "[NaN]", "Infinity", "[-Infinity]", "nan", "1.", "01", "[00]", "-01", ".5", "+1", "1e", "0x1", "-",
        #""\x41""#, #""\u12""#, "\"a\nb\"", "\"tab\tin\"", "/*c*/1", "[1]//c", "nul", "nulll", "truex", "TRUE",
        "[1 2]", #"{"a" 1}"#, #"{"a":1 "b":2}"#, #"["a"]]"#, "[[]", "\"unterminated",
    ])
    func invalid(input: String) {
        #expect(JSONPayload.parse(input) == nil)
        #expect(JSONPayload.parse(ByteBuffer(string: input)) == nil)
    }

    @Test("Bytes that are not UTF-8, or a NUL after the value, give nil", arguments: [
        [0x22, 0xFF, 0x22],                   // invalid byte
        [0x22, 0xC3, 0x22],                   // truncated sequence
        [0x22, 0xC0, 0xAF, 0x22],             // overlong "/"
        [0x22, 0xED, 0xA0, 0x80, 0x22],       // UTF-16 surrogate
        [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], // above U+10FFFF
        [0xEF, 0xBB, 0xBF, 0x7B, 0x7D],       // byte order mark before {}
        [0x7B, 0x7D, 0x00],                   // {} NUL
        [0x7B, 0x7D, 0x00, 0x78],             // {} NUL x
        [0x31, 0x00],                         // 1 NUL
        [0x80],
    ] as [[UInt8]])
    func invalidBytes(bytes: [UInt8]) {
        #expect(JSONPayload.parse(bytes: bytes) == nil)
        #expect(JSONPayload.parse(ByteBuffer(bytes: bytes)) == nil)
    }

    @Test("Valid multi-byte UTF-8 parses")
    func validUTF8() throws {
        let bytes: [UInt8] = [0x22, 0xC3, 0xA9, 0xE2, 0x9C, 0x93, 0xF0, 0x9F, 0x98, 0x80, 0xEF, 0xBF, 0xBF, 0x22]
        let json = try #require(JSONPayload.parse(bytes: bytes))
        #expect(json.stringValue == "é✓😀\u{FFFF}")
    }

    @Test("Nesting up to 64 parses; deeper never crashes and gives nil")
    func deepNesting() throws {
        func nested(_ depth: Int) -> String { String(repeating: "[", count: depth) + String(repeating: "]", count: depth) }
        let deepest = try #require(JSONPayload.parse(nested(64)))
        #expect(deepest.serialized() == nested(64))
        #expect(JSONPayload.parse(nested(65)) == nil)
        #expect(JSONPayload.parse(nested(100_000)) == nil)
        #expect(JSONPayload.parse(String(repeating: "[", count: 1_000_000)) == nil)
        #expect(JSONPayload.parse(String(repeating: #"{"a":"#, count: 10_000) + "1" + String(repeating: "}", count: 10_000)) == nil)
        func objects(_ depth: Int) -> String { String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth) }
        #expect(JSONPayload.parse(objects(64))?.value(at: Array(repeating: .key("a"), count: 64))?.int64Value == 1)
        #expect(JSONPayload.parse(objects(65)) == nil)
        #expect(JSONPayload.parse(String(repeating: "[", count: 64) + "1" + String(repeating: "]", count: 64)) != nil)
    }

    static let sample = #"{"s":"text","i":42,"d":21.5,"t":true,"f":false,"n":null,"a":[1,{"b":"deep"}],"o":{"x":{"y":[[7]]}},"big":18446744073709551615,"whole":3.0,"neg":-2}"#

    @Test("Values, kinds and accessors", arguments: [
        ([.key("s")], JSONPayload.Kind.string, "text", nil, nil, nil),
        ([.key("i")], .int, nil, 42.0, 42, nil),
        ([.key("d")], .double, nil, 21.5, nil, nil),
        ([.key("whole")], .double, nil, 3.0, 3, nil),
        ([.key("neg")], .int, nil, -2.0, -2, nil),
        ([.key("big")], .int, nil, 18446744073709551615.0, nil, nil),
        ([.key("t")], .bool, nil, nil, nil, true),
        ([.key("f")], .bool, nil, nil, nil, false),
        ([.key("n")], .null, nil, nil, nil, nil),
        ([.key("a")], .array, nil, nil, nil, nil),
        ([.key("a"), .index(0)], .int, nil, 1.0, 1, nil),
        ([.key("a"), .index(1), .key("b")], .string, "deep", nil, nil, nil),
        ([.key("o"), .key("x"), .key("y"), .index(0), .index(0)], .int, nil, 7.0, 7, nil),
        ([], .object, nil, nil, nil, nil),
    ] as [([PathComponent], JSONPayload.Kind, String?, Double?, Int64?, Bool?)])
    func accessors(path: [PathComponent], kind: JSONPayload.Kind, string: String?, double: Double?, int: Int64?, bool: Bool?) throws {
        let root = try #require(JSONPayload.parse(Self.sample))
        let value = try #require(root.value(at: path))
        #expect(value.kind == kind)
        #expect(value.stringValue == string)
        #expect(value.doubleValue == double)
        #expect(value.int64Value == int)
        #expect(value.boolValue == bool)
    }

    @Test("Paths that do not exist give nil", arguments: [
        [.key("missing")], [.key("s"), .key("x")], [.key("a"), .index(2)], [.key("a"), .index(-1)],
        [.key("a"), .key("0")], [.key("o"), .index(0)], [.key("n"), .key("x")], [.key("i"), .index(0)],
    ] as [[PathComponent]])
    func missingPaths(path: [PathComponent]) throws {
        let root = try #require(JSONPayload.parse(Self.sample))
        #expect(root.value(at: path) == nil)
    }

    @Test("Counts, keys and text")
    func countsAndKeys() throws {
        let root = try #require(JSONPayload.parse(#"{"z":1,"a":[1,2,3],"m":"x"}"#))
        #expect(root.count == 3)
        #expect(root.keys == ["z", "a", "m"])
        #expect(root.value(at: [.key("a")])?.count == 3)
        #expect(root.value(at: [.key("m")])?.count == nil)
        #expect(root.value(at: [.key("m")])?.text == "x")
        #expect(root.value(at: [.key("a")])?.text == "[1,2,3]")
        #expect(root.value(at: [.key("a")])?.keys == [])
    }

    @Test("A value inside a tree outlives the last reference to its root")
    func childKeepsTreeAlive() throws {
        var root: JSONPayload? = JSONPayload.parse(#"{"a":{"b":["kept"]}}"#)
        let child = try #require(root?.value(at: [.key("a"), .key("b"), .index(0)]))
        weak let weakRoot = root
        root = nil
        #expect(weakRoot != nil)
        #expect(child.stringValue == "kept")
        #expect(child.serialized() == #""kept""#)
    }

    @Test("Builders make values of each type")
    func builders() throws {
        let parsed = try #require(JSONPayload.parse(#"{"nested":[1,"two"]}"#))
        let built = JSONPayload.make(object: [
            ("s", .make(string: "a \"q\" / é")), ("i", .make(integer: -12)), ("d", .make(number: 0.1)),
            ("d2", .make(number: 21.5)), ("whole", .make(number: 3)), ("inf", .make(number: .infinity)),
            ("nan", .make(number: .nan)), ("t", .make(bool: true)), ("n", .makeNull()), ("empty", .make(string: "")),
            ("arr", .make(array: [.make(integer: 1), .makeNull(), parsed.value(at: [.key("nested")])!])),
        ])
        #expect(built.serialized() == #"{"s":"a \"q\" / é","i":-12,"d":0.1,"d2":21.5,"whole":3.0,"inf":null,"nan":null,"t":true,"n":null,"empty":"","arr":[1,null,[1,"two"]]}"#)
        #expect(built.value(at: [.key("d")])?.kind == .double)
        #expect(built.value(at: [.key("arr"), .index(2), .index(1)])?.stringValue == "two")
        // The parsed tree the element came from is untouched.
        #expect(parsed.serialized() == #"{"nested":[1,"two"]}"#)
    }

    @Test("Definition values convert both ways")
    func definitionValues() throws {
        let value = JSONValue.object(["a": .array([.integer(1), .double(2.5), .string("x"), .bool(false), .null]), "b": .object([:])])
        let json = JSONPayload.make(value)
        #expect(json.serialized() == #"{"a":[1,2.5,"x",false,null],"b":{}}"#)
        #expect(json.jsonValue == value)
        #expect(try #require(JSONPayload.parse(#"{"big":18446744073709551615}"#)).jsonValue == .object(["big": .double(18446744073709551615.0)]))
    }

    @Test("Equality is structural")
    func equality() throws {
        #expect(JSONPayload.parse(#"{"a":1,"b":[true]}"#) == JSONPayload.parse(#"{"b":[true],"a":1}"#))
        #expect(JSONPayload.parse(#"{"a":1}"#) != JSONPayload.parse(#"{"a":2}"#))
        #expect(JSONPayload.parse("1") != JSONPayload.parse("1.0"))
        #expect(JSONPayload.parse("null") == JSONPayload.makeNull())
    }

    @Test("One tree serialises correctly from many tasks at once")
    func concurrentSerialisation() async throws {
        let root = try #require(JSONPayload.parse(Self.sample))
        let expected = root.serialized()
        let inner = try #require(root.value(at: [.key("o")]))
        let results = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<64 {
                group.addTask {
                    (0..<200).allSatisfy { _ in
                        index.isMultiple(of: 2) ? root.serialized() == expected : inner.serialized() == #"{"x":{"y":[[7]]}}"#
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(results.count == 64 && results.allSatisfy { $0 })
    }

    @Test("Serialised bytes match the string")
    func serialisedBytes() throws {
        let json = try #require(JSONPayload.parse(#"{"k":"é"}"#))
        let bytes = json.withSerializedBytes { Array($0) }
        #expect(bytes == Array(#"{"k":"é"}"#.utf8))
    }
}
