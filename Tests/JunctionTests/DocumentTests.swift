import Foundation
import Junction
import NIOCore
import Testing

@Suite("Documents")
struct DocumentTests {
    @Test("The JSON payload is parsed once and shared by copies")
    func parsedOnce() throws {
        let document = Document(topic: "a/b", payload: #"{"x":1}"#)
        let first = try #require(document.json())
        #expect(document.json() === first)
        let copy = document
        #expect(copy.json() === first)
        #expect(first.value(at: [.key("x")])?.int64Value == 1)
    }

    @Test("A new payload drops the cached parse; the old copy keeps its own")
    func newPayloadInvalidates() throws {
        var document = Document(payload: #"{"x":1}"#)
        let old = document
        let before = try #require(document.json())
        document.payload = ByteBuffer(string: #"{"x":2}"#)
        let after = try #require(document.json())
        #expect(after !== before)
        #expect(after.value(at: [.key("x")])?.int64Value == 2)
        #expect(old.json() === before)
        document.payload = ByteBuffer(string: "not json")
        #expect(document.json() == nil)
    }

    @Test("A payload that is not JSON passes through untouched", arguments: [
        "plain text", "", "{\"broken\": ", "23.5 C",
    ])
    func nonJSONPassesThrough(text: String) {
        let document = Document(topic: "t", payload: text)
        #expect(document.json() == nil)
        #expect(document.payload == ByteBuffer(string: text))
        #expect(document.payloadText == text)
    }

    @Test("Binary payloads are never rewritten")
    func binaryPayload() {
        let bytes: [UInt8] = [0x00, 0xFF, 0x7B, 0x7D, 0x80]
        let document = Document(payload: ByteBuffer(bytes: bytes))
        #expect(document.json() == nil)
        #expect(Array(document.payload.readableBytesView) == bytes)
    }

    @Test("Concurrent readers get the one parse")
    func concurrentParse() async throws {
        let document = Document(payload: #"{"a":[1,2,3]}"#)
        let identities = await withTaskGroup(of: ObjectIdentifier?.self) { group in
            for _ in 0..<32 { group.addTask { document.json().map(ObjectIdentifier.init) } }
            return await group.reduce(into: Set<ObjectIdentifier?>()) { $0.insert($1) }
        }
        #expect(identities.count == 1)
        #expect(identities.first == document.json().map(ObjectIdentifier.init))
    }

    @Test("Fields and properties keep their values")
    func fields() {
        let received = Date(timeIntervalSince1970: 1_000)
        var document = Document(id: "doc-1", topic: "x/y", payload: "{}", properties: ["qos": "1"], tracked: ["k": "v"], receivedAt: received)
        document.properties["site"] = "north"
        #expect(document.id == "doc-1")
        #expect(document.topic == "x/y")
        #expect(document.properties == ["qos": "1", "site": "north"])
        #expect(document.tracked == ["k": "v"])
        #expect(document.receivedAt == received)
        #expect(Document(payload: "").id != Document(payload: "").id)
    }
}
