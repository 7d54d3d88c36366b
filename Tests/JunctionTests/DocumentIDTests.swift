import Foundation
@testable import Junction
import Testing

@Suite("Document ids")
struct DocumentIDTests {
    @Test("Ids are UUID version 7 strings: lowercase, the time in the first 48 bits, version 7, RFC variant, the counter in the rest")
    func format() throws {
        let id = DocumentID.id(millis: 0x019A_A6F2_3C41, count: 0xC000_0000_0000_0001)
        #expect(id == "019aa6f2-3c41-7003-8000-000000000001")
        let uuid = try #require(UUID(uuidString: id))
        let bytes = withUnsafeBytes(of: uuid.uuid) { Array($0) }
        #expect(bytes[6] >> 4 == 7 && bytes[8] >> 6 == 0b10)
        #expect(DocumentID.id(millis: 1, count: 0x3FFF_FFFF_FFFF_FFFF) == "00000000-0001-7000-bfff-ffffffffffff")
    }

    @Test("A made id carries the time it was made")
    func carriesTime() throws {
        let before = UInt64(Date().timeIntervalSince1970 * 1000)
        let uuid = try #require(UUID(uuidString: DocumentID.make()))
        let after = UInt64(Date().timeIntervalSince1970 * 1000)
        let millis = withUnsafeBytes(of: uuid.uuid) { Array($0) }[0..<6].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(before <= millis && millis <= after)
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
