/// The fuzzer's bytes, read front to back as operations and their operands. Reading past the
/// end gives zeros, so every input is a valid program (it ends when ``isAtEnd``).
struct FuzzInput {
    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var isAtEnd: Bool { index >= bytes.count }

    mutating func byte() -> UInt8 {
        guard index < bytes.count else { return 0 }
        defer { index += 1 }
        return bytes[index]
    }

    mutating func u16() -> UInt16 { UInt16(byte()) << 8 | UInt16(byte()) }

    /// Up to `count` bytes (fewer at the end of the input).
    mutating func bytes(_ count: Int) -> [UInt8] {
        let end = min(bytes.count, index + count)
        defer { index = max(index, end) }
        return index < end ? Array(bytes[index..<end]) : []
    }

    /// One entry of `table`, chosen by the next byte.
    mutating func pick<T>(_ table: [T]) -> T { table[Int(byte()) % table.count] }
}
