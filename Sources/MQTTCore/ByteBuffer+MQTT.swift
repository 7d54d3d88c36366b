import NIOCore

/// The largest value a Variable Byte Integer can hold (MQTT 5 §1.5.5).
public let mqttMaximumVariableByteInteger = 268_435_455

// Every ByteBuffer read or write reaches its storage once (with a dynamic exclusivity check and,
// for writes, a uniqueness and capacity check), which costs more than the field itself. The hot
// paths therefore read and write groups of fields through ``MQTTByteReader`` and
// ``MQTTByteWriter``, over one storage access. Both behave exactly as the ByteBuffer functions
// below: same checks, same errors.

extension ByteBuffer {
    /// Reads a Variable Byte Integer at `index` without moving the reader.
    /// Returns nil when more bytes are needed; throws when a fifth byte would be needed.

    func getMQTTVariableByteInteger(at index: Int) throws(MQTTDecodeError) -> (value: Int, length: Int)? {
        guard index >= readerIndex else { return nil }
        return try withUnsafeReadableBytes { raw throws(MQTTDecodeError) in
            try raw.mqttVariableByteInteger(at: index - readerIndex)
        }
    }

    /// Runs `body` over the readable bytes (one storage access), then consumes what it read.
    /// Nothing is consumed when it throws.
    mutating func readMQTTFields<T>(_ body: (inout MQTTByteReader) throws(MQTTDecodeError) -> T) throws(MQTTDecodeError) -> T {
        let buffer = self
        let (value, consumed) = try withUnsafeReadableBytes { raw throws(MQTTDecodeError) in
            var reader = MQTTByteReader(bytes: raw, buffer: buffer, origin: 0)
            let value = try body(&reader)
            return (value, reader.offset)
        }
        moveReaderIndex(forwardBy: consumed)
        return value
    }

    mutating func readMQTTVariableByteInteger(field: @autoclosure () -> String) throws(MQTTDecodeError) -> Int {
        try readMQTTFields { reader throws(MQTTDecodeError) in try reader.readMQTTVariableByteInteger(field: field()) }
    }

    @discardableResult
    mutating func writeMQTTVariableByteInteger(_ value: Int) -> Int {
        let length = mqttVariableByteIntegerLength(value)
        writeMQTTFields(count: length) { $0.writeVariableByteInteger(value) }
        return length
    }

    mutating func readMQTTByte(field: @autoclosure () -> String) throws(MQTTDecodeError) -> UInt8 {
        guard let byte = readInteger(as: UInt8.self) else { throw .truncated(field: field()) }
        return byte
    }

    mutating func readMQTTUInt16(field: @autoclosure () -> String) throws(MQTTDecodeError) -> UInt16 {
        guard let value = readInteger(as: UInt16.self) else { throw .truncated(field: field()) }
        return value
    }

    mutating func readMQTTUInt32(field: @autoclosure () -> String) throws(MQTTDecodeError) -> UInt32 {
        guard let value = readInteger(as: UInt32.self) else { throw .truncated(field: field()) }
        return value
    }

    /// Reads a length-prefixed UTF-8 string, refusing ill-formed UTF-8 and U+0000 (MQTT 5 §1.5.4).

    mutating func readMQTTString(field: @autoclosure () -> String) throws(MQTTDecodeError) -> String {
        try readMQTTFields { reader throws(MQTTDecodeError) in try reader.readMQTTString(field: field()) }
    }

    /// Reads length-prefixed binary data as a slice sharing this buffer's storage.

    mutating func readMQTTBinary(field: @autoclosure () -> String) throws(MQTTDecodeError) -> ByteBuffer {
        guard let length = getInteger(at: readerIndex, as: UInt16.self),
              readableBytes >= 2 + Int(length),
              let slice = getSlice(at: readerIndex + 2, length: Int(length))
        else { throw .truncated(field: field()) }
        moveReaderIndex(forwardBy: 2 + Int(length))
        return slice
    }

    /// Writes `count` bytes through `body` (one storage access); `body` must write exactly `count`.
    mutating func writeMQTTFields(count: Int, _ body: (inout MQTTByteWriter) -> Void) {
        guard count > 0 else { return }
        writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
            var writer = MQTTByteWriter(base: raw.baseAddress!, capacity: count)
            body(&writer)
            precondition(writer.offset == count, "wrote \(writer.offset) bytes, announced \(count)")
            return count
        }
    }

    mutating func writeMQTTString(_ string: String, field: @autoclosure () -> String) throws(MQTTEncodeError) {
        let length = string.utf8.count
        guard length <= 65_535 else { throw .fieldTooLong(field: field(), length: length) }
        writeMQTTFields(count: 2 + length) { $0.writeString(string) }
    }

    mutating func writeMQTTBinary(_ bytes: ByteBuffer, field: @autoclosure () -> String) throws(MQTTEncodeError) {
        guard bytes.readableBytes <= 65_535 else { throw .fieldTooLong(field: field(), length: bytes.readableBytes) }
        writeMQTTFields(count: 2 + bytes.readableBytes) { $0.writeBinary(bytes) }
    }
}

/// Reads MQTT fields from raw bytes, front to back: the ByteBuffer readers above, over a pointer.
/// Valid only inside the `withUnsafeReadableBytes` that made it (``ByteBuffer/readMQTTFields(_:)``).
struct MQTTByteReader {
    /// The bytes this reader may read.
    let bytes: UnsafeRawBufferPointer
    /// The buffer whose readable bytes these are (from `origin` on): binary fields are slices of it.
    let buffer: ByteBuffer
    let origin: Int
    /// Bytes read so far.
    private(set) var offset = 0

    init(bytes: UnsafeRawBufferPointer, buffer: ByteBuffer, origin: Int) {
        self.bytes = bytes
        self.buffer = buffer
        self.origin = origin
    }

    /// Bytes left.
    var remaining: Int { bytes.count - offset }

    mutating func readMQTTByte(field: @autoclosure () -> String) throws(MQTTDecodeError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated(field: field()) }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func readMQTTUInt16(field: @autoclosure () -> String) throws(MQTTDecodeError) -> UInt16 {
        guard remaining >= 2 else { throw .truncated(field: field()) }
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func readMQTTUInt32(field: @autoclosure () -> String) throws(MQTTDecodeError) -> UInt32 {
        guard remaining >= 4 else { throw .truncated(field: field()) }
        defer { offset += 4 }
        return UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    mutating func readMQTTVariableByteInteger(field: @autoclosure () -> String) throws(MQTTDecodeError) -> Int {
        guard let (value, length) = try bytes.mqttVariableByteInteger(at: offset) else {
            throw .truncated(field: field())
        }
        offset += length
        return value
    }

    /// Reads a length-prefixed UTF-8 string, refusing ill-formed UTF-8 and U+0000 (MQTT 5 §1.5.4).
    mutating func readMQTTString(field: @autoclosure () -> String) throws(MQTTDecodeError) -> String {
        try readMQTTStringScanningWildcards(field: field()).string
    }

    /// ``readMQTTString(field:)`` that also tells whether the string contains `+` or `#`, found in
    /// the same pass over the bytes (for topic names).
    mutating func readMQTTStringScanningWildcards(field: @autoclosure () -> String) throws(MQTTDecodeError)
        -> (string: String, hasWildcard: Bool) {
        guard remaining >= 2 else { throw .truncated(field: field()) }
        let length = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
        guard remaining >= 2 + length else { throw .truncated(field: field()) }
        let text = UnsafeRawBufferPointer(rebasing: bytes[(offset + 2)..<(offset + 2 + length)])
        let scan = text.mqttTextScan()
        if scan.hasNull { throw .nullCharacter(field: field()) }
        // ASCII is well-formed UTF-8 as it is; only other text goes through the full validation.
        let string = scan.isASCII ? String(decoding: text, as: UTF8.self) : String(validating: text, as: UTF8.self)
        guard let string else { throw .invalidUTF8(field: field()) }
        offset += 2 + length
        return (string, scan.hasWildcard)
    }

    /// Reads length-prefixed binary data as a slice sharing the buffer's storage.
    mutating func readMQTTBinary(field: @autoclosure () -> String) throws(MQTTDecodeError) -> ByteBuffer {
        guard remaining >= 2 else { throw .truncated(field: field()) }
        let length = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
        guard remaining >= 2 + length,
              let slice = buffer.getSlice(at: buffer.readerIndex + origin + offset + 2, length: length)
        else { throw .truncated(field: field()) }
        offset += 2 + length
        return slice
    }

    /// The next `length` bytes as a reader of their own, skipped here; nil when fewer remain.
    mutating func readMQTTFields(length: Int) -> MQTTByteReader? {
        guard length >= 0, remaining >= length else { return nil }
        let sub = MQTTByteReader(bytes: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + length)]),
                                 buffer: buffer, origin: origin + offset)
        offset += length
        return sub
    }
}

/// Writes MQTT fields into raw memory of a known size (``ByteBuffer/writeMQTTFields(count:_:)``).
/// Lengths of strings and binary data must have been checked (at most 65,535 bytes).
struct MQTTByteWriter {
    let base: UnsafeMutableRawPointer
    let capacity: Int
    /// Bytes written so far.
    private(set) var offset = 0

    init(base: UnsafeMutableRawPointer, capacity: Int) {
        self.base = base
        self.capacity = capacity
    }

    private mutating func advance(_ count: Int) -> UnsafeMutableRawPointer {
        precondition(count <= capacity - offset, "MQTT field written past the announced length")
        defer { offset += count }
        return base + offset
    }

    mutating func writeByte(_ value: UInt8) {
        advance(1).storeBytes(of: value, as: UInt8.self)
    }

    mutating func writeUInt16(_ value: UInt16) {
        advance(2).storeBytes(of: value.bigEndian, as: UInt16.self)
    }

    mutating func writeUInt32(_ value: UInt32) {
        advance(4).storeBytes(of: value.bigEndian, as: UInt32.self)
    }

    mutating func writeVariableByteInteger(_ value: Int) {
        var remaining = value
        repeat {
            var byte = UInt8(remaining & 0x7F)
            remaining >>= 7
            if remaining > 0 { byte |= 0x80 }
            writeByte(byte)
        } while remaining > 0
    }

    mutating func writeBytes(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        advance(bytes.count).copyMemory(from: source, byteCount: bytes.count)
    }

    /// The readable bytes of `bytes`, without a length.
    mutating func writeBytes(_ bytes: ByteBuffer) {
        bytes.withUnsafeReadableBytes { writeBytes($0) }
    }

    /// A length-prefixed string (its length checked by the caller).
    mutating func writeString(_ string: String) {
        let utf8 = string.utf8
        writeUInt16(UInt16(truncatingIfNeeded: utf8.count))
        if utf8.withContiguousStorageIfAvailable({ writeBytes(UnsafeRawBufferPointer($0)) }) == nil {
            for byte in utf8 { writeByte(byte) }
        }
    }

    /// Length-prefixed binary data (its length checked by the caller).
    mutating func writeBinary(_ bytes: ByteBuffer) {
        writeUInt16(UInt16(truncatingIfNeeded: bytes.readableBytes))
        writeBytes(bytes)
    }
}

extension UnsafeRawBufferPointer {
    /// One pass over the bytes of a string, 8 at a time: whether all are ASCII, whether one is 0
    /// (U+0000), whether one is `+` or `#`.
    @inline(__always)
    func mqttTextScan() -> (isASCII: Bool, hasNull: Bool, hasWildcard: Bool) {
        guard let base = baseAddress, count > 0 else { return (true, false, false) }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let plus = ones &* UInt64(UInt8(ascii: "+"))
        let hash = ones &* UInt64(UInt8(ascii: "#"))
        // Non-zero exactly when a byte of `word` is 0 (no borrow starts without a zero byte).
        @inline(__always) func zeroByte(_ word: UInt64) -> UInt64 { (word &- ones) & ~word & highs }
        var any: UInt64 = 0
        var found: UInt64 = 0  // high bit of a byte set: a 0, `+` or `#` there
        @inline(__always) func scan(_ word: UInt64) {
            any |= word
            found |= zeroByte(word) | (zeroByte(word ^ plus) | zeroByte(word ^ hash)) >> 1
        }
        if count >= 8 {
            var index = 0
            while index + 8 <= count {
                scan(base.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                index += 8
            }
            // The last bytes as the last 8, overlapping: each byte only needs to be seen once.
            if index < count { scan(base.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)) }
        } else {
            // Fewer than 8: padded with spaces, which are none of the bytes looked for.
            var word: UInt64 = 0x2020_2020_2020_2020
            withUnsafeMutableBytes(of: &word) { $0.baseAddress!.copyMemory(from: base, byteCount: count) }
            scan(word)
        }
        return (any & highs == 0, found & highs != 0, found & (highs >> 1) != 0)
    }

    /// Reads a Variable Byte Integer at `offset`: nil when more bytes are needed; throws when a
    /// fifth byte would be needed.
    @inline(__always)
    func mqttVariableByteInteger(at offset: Int) throws(MQTTDecodeError) -> (value: Int, length: Int)? {
        var value = 0
        var shift = 0
        var index = offset
        while index < count {
            let byte = self[index]
            value |= Int(byte & 0x7F) << shift
            index += 1
            if byte & 0x80 == 0 { return (value, index - offset) }
            if index - offset == 4 { throw .malformedVariableByteInteger }
            shift += 7
        }
        return nil
    }
}

/// How many bytes a Variable Byte Integer takes: 5 for a value too large for one (which only a
/// property built by hand can hold), as many as the writers then write.

func mqttVariableByteIntegerLength(_ value: Int) -> Int {
    switch value {
    case ..<128: 1
    case ..<16_384: 2
    case ..<2_097_152: 3
    case ..<268_435_456: 4
    default: 5
    }
}

/// How many bytes a length-prefixed string takes.

func mqttStringLength(_ string: String) -> Int { 2 + string.utf8.count }
