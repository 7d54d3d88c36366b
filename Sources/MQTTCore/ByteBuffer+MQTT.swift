import NIOCore

/// The largest value a Variable Byte Integer can hold (MQTT 5 §1.5.5).
public let mqttMaximumVariableByteInteger = 268_435_455

extension ByteBuffer {
    /// Reads a Variable Byte Integer at `index` without moving the reader.
    /// Returns nil when more bytes are needed; throws when a fifth byte would be needed.

    func getMQTTVariableByteInteger(at index: Int) throws(MQTTDecodeError) -> (value: Int, length: Int)? {
        var value = 0
        var multiplier = 1
        var offset = 0
        while true {
            guard let byte = getInteger(at: index + offset, as: UInt8.self) else { return nil }
            value += Int(byte & 0x7F) * multiplier
            offset += 1
            if byte & 0x80 == 0 { return (value, offset) }
            if offset == 4 { throw .malformedVariableByteInteger }
            multiplier &*= 128
        }
    }

    mutating func readMQTTVariableByteInteger(field: String) throws(MQTTDecodeError) -> Int {
        guard let (value, length) = try getMQTTVariableByteInteger(at: readerIndex) else {
            throw .truncated(field: field)
        }
        moveReaderIndex(forwardBy: length)
        return value
    }

    @discardableResult
    mutating func writeMQTTVariableByteInteger(_ value: Int) -> Int {
        var remaining = value
        var written = 0
        repeat {
            var byte = UInt8(remaining & 0x7F)
            remaining >>= 7
            if remaining > 0 { byte |= 0x80 }
            writeInteger(byte)
            written += 1
        } while remaining > 0
        return written
    }

    mutating func readMQTTByte(field: String) throws(MQTTDecodeError) -> UInt8 {
        guard let byte = readInteger(as: UInt8.self) else { throw .truncated(field: field) }
        return byte
    }

    mutating func readMQTTUInt16(field: String) throws(MQTTDecodeError) -> UInt16 {
        guard let value = readInteger(as: UInt16.self) else { throw .truncated(field: field) }
        return value
    }

    mutating func readMQTTUInt32(field: String) throws(MQTTDecodeError) -> UInt32 {
        guard let value = readInteger(as: UInt32.self) else { throw .truncated(field: field) }
        return value
    }

    /// Reads a length-prefixed UTF-8 string, refusing ill-formed UTF-8 and U+0000 (MQTT 5 §1.5.4).

    mutating func readMQTTString(field: String) throws(MQTTDecodeError) -> String {
        guard let length = getInteger(at: readerIndex, as: UInt16.self),
              readableBytes >= 2 + Int(length)
        else { throw .truncated(field: field) }
        let start = readerIndex + 2
        let string: String? = withUnsafeReadableBytes { raw in
            let bytes = UnsafeRawBufferPointer(rebasing: raw[2..<(2 + Int(length))])
            if bytes.contains(0) { return nil }
            return String(validating: bytes, as: UTF8.self)
        }
        guard let string else {
            let hasNull = getBytes(at: start, length: Int(length))?.contains(0) ?? false
            throw hasNull ? .nullCharacter(field: field) : .invalidUTF8(field: field)
        }
        moveReaderIndex(forwardBy: 2 + Int(length))
        return string
    }

    /// Reads length-prefixed binary data as a slice sharing this buffer's storage.

    mutating func readMQTTBinary(field: String) throws(MQTTDecodeError) -> ByteBuffer {
        guard let length = getInteger(at: readerIndex, as: UInt16.self),
              readableBytes >= 2 + Int(length),
              let slice = getSlice(at: readerIndex + 2, length: Int(length))
        else { throw .truncated(field: field) }
        moveReaderIndex(forwardBy: 2 + Int(length))
        return slice
    }

    mutating func writeMQTTString(_ string: String, field: String) throws(MQTTEncodeError) {
        let length = string.utf8.count
        guard length <= 65_535 else { throw .fieldTooLong(field: field, length: length) }
        writeInteger(UInt16(length))
        writeString(string)
    }

    mutating func writeMQTTBinary(_ bytes: ByteBuffer, field: String) throws(MQTTEncodeError) {
        guard bytes.readableBytes <= 65_535 else { throw .fieldTooLong(field: field, length: bytes.readableBytes) }
        writeInteger(UInt16(bytes.readableBytes))
        writeImmutableBuffer(bytes)
    }
}

/// How many bytes a Variable Byte Integer takes.

func mqttVariableByteIntegerLength(_ value: Int) -> Int {
    switch value {
    case ..<128: 1
    case ..<16_384: 2
    case ..<2_097_152: 3
    default: 4
    }
}

/// How many bytes a length-prefixed string takes.

func mqttStringLength(_ string: String) -> Int { 2 + string.utf8.count }
