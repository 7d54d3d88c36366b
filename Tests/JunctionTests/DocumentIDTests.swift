import Foundation
import Junction
import Testing

@Suite("Document ids")
struct DocumentIDTests {
    @Test("Ids are UUID version 7 strings: parseable, lowercase, version 7, RFC variant, carrying the time")
    func format() throws {
        let now = Date(timeIntervalSince1970: 1_795_000_000.123)
        let id = DocumentID.make(now: now)
        let uuid = try #require(UUID(uuidString: id))
        #expect(id == id.lowercased())
        #expect(id.count == 36)
        let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
        #expect(bytes[6] >> 4 == 7)
        #expect(bytes[8] >> 6 == 0b10)
        let millis = bytes[0..<6].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(millis >= 1_795_000_000_123)
    }

    @Test("Ids made concurrently are all different; ids made one after another sort in that order")
    func uniqueAndOrdered() async {
        let ids = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<4 { group.addTask { (0..<5_000).map { _ in DocumentID.make() } } }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(Set(ids).count == 20_000)
        let sequence = (0..<1_000).map { _ in DocumentID.make() }
        #expect(sequence == sequence.sorted())
        #expect(Set(sequence).count == 1_000)
    }
}
