/// A single pass over bytes that accepts exactly one RFC 8259 JSON text, so that json-c only
/// ever builds trees from valid JSON.
///
/// json-c 0.16's `JSON_TOKENER_STRICT` mode still accepts `NaN`, `Infinity`, `'single'`-quoted
/// keys, `1.`, `00`, raw control characters in strings, and (with `JSON_TOKENER_VALIDATE_UTF8`)
/// overlong and surrogate UTF-8 sequences. This check refuses all of those: whitespace, the
/// four structural pairs, strings with valid escapes and well-formed UTF-8 (RFC 3629), numbers
/// by the RFC grammar, `true`, `false`, `null`, nesting at most ``maximumDepth``, and nothing
/// after the value but whitespace. It allocates nothing and does not recurse.
enum StrictJSONSyntax {
    /// The deepest nesting of objects and arrays accepted; json-c's tokener gets the same limit
    /// (plus one, as it also counts the innermost value).
    static let maximumDepth = 64

    static func isValid(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var scanner = Scanner(bytes: bytes)
        return scanner.scanDocument()
    }

    /// True when `bytes` are exactly one JSON number (`-12`, `3.5`, `1e3`).
    static func isNumber(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var scanner = Scanner(bytes: bytes)
        return !bytes.isEmpty && scanner.scanNumber() && scanner.position == bytes.count
    }

    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var position = 0
        /// One bit per open container, innermost lowest: 1 for an object, 0 for an array.
        var containers: UInt64 = 0
        var depth = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
        }

        mutating func scanDocument() -> Bool {
            var expectingValue = true
            while true {
                skipWhitespace()
                if expectingValue {
                    guard let opened = scanValueStart() else { return false }
                    if opened {
                        // A container was opened: it may close at once, an object starts with a key.
                        skipWhitespace()
                        if current == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                            position += 1
                            close()
                            expectingValue = false
                        } else if isObject {
                            guard scanKey() else { return false }
                        }
                        continue
                    }
                    expectingValue = false
                    continue
                }
                // After a value.
                if depth == 0 { return position == bytes.count }
                guard let byte = current else { return false }
                position += 1
                switch byte {
                case UInt8(ascii: ","):
                    if isObject {
                        skipWhitespace()
                        guard scanKey() else { return false }
                    }
                    expectingValue = true
                case UInt8(ascii: "}") where isObject, UInt8(ascii: "]") where !isObject:
                    close()
                default:
                    return false
                }
            }
        }

        var isObject: Bool { containers & 1 == 1 }

        mutating func open(object: Bool) -> Bool {
            guard depth < StrictJSONSyntax.maximumDepth else { return false }
            depth += 1
            containers = containers << 1 | (object ? 1 : 0)
            return true
        }

        mutating func close() {
            depth -= 1
            containers >>= 1
        }

        /// `"key"` then `:`, leaving the position before the member's value.
        mutating func scanKey() -> Bool {
            guard current == UInt8(ascii: "\""), scanString() else { return false }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { return false }
            position += 1
            return true
        }

        /// Scans a scalar (returns false), or opens a container (returns true); nil when invalid.
        mutating func scanValueStart() -> Bool? {
            guard let byte = current else { return nil }
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                position += 1
                return open(object: byte == UInt8(ascii: "{")) ? true : nil
            case UInt8(ascii: "\""):
                return scanString() ? false : nil
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return scanNumber() ? false : nil
            case UInt8(ascii: "t"):
                return scanLiteral("true") ? false : nil
            case UInt8(ascii: "f"):
                return scanLiteral("false") ? false : nil
            case UInt8(ascii: "n"):
                return scanLiteral("null") ? false : nil
            default:
                return nil
            }
        }

        mutating func scanLiteral(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard bytes.count - position >= count else { return false }
            for offset in 0..<count where bytes[position + offset] != literal.utf8Start[offset] { return false }
            position += count
            return true
        }

        mutating func scanDigits() -> Bool {
            let start = position
            while let byte = current, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { position += 1 }
            return position > start
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
        mutating func scanNumber() -> Bool {
            if current == UInt8(ascii: "-") { position += 1 }
            if current == UInt8(ascii: "0") {
                position += 1
            } else {
                guard scanDigits() else { return false }
            }
            if current == UInt8(ascii: ".") {
                position += 1
                guard scanDigits() else { return false }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                position += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
                guard scanDigits() else { return false }
            }
            return true
        }

        /// A string from its opening quote: escapes, no control characters, well-formed UTF-8.
        mutating func scanString() -> Bool {
            position += 1
            while let byte = current {
                position += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return true
                case UInt8(ascii: "\\"):
                    guard let escaped = current else { return false }
                    position += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                         UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        continue
                    case UInt8(ascii: "u"):
                        for _ in 0..<4 {
                            guard let hex = current, hex.isHexDigit else { return false }
                            position += 1
                        }
                    default:
                        return false
                    }
                case 0x00..<0x20:
                    return false
                case 0x20..<0x80:
                    continue
                default:
                    guard scanUTF8Continuation(lead: byte) else { return false }
                }
            }
            return false
        }

        /// The continuation bytes of a multi-byte sequence whose lead byte was just consumed (RFC 3629 §4).
        mutating func scanUTF8Continuation(lead: UInt8) -> Bool {
            let count: Int
            var range: ClosedRange<UInt8> = 0x80...0xBF
            switch lead {
            case 0xC2...0xDF: count = 1
            case 0xE0: count = 2; range = 0xA0...0xBF
            case 0xE1...0xEC, 0xEE...0xEF: count = 2
            case 0xED: count = 2; range = 0x80...0x9F
            case 0xF0: count = 3; range = 0x90...0xBF
            case 0xF1...0xF3: count = 3
            case 0xF4: count = 3; range = 0x80...0x8F
            default: return false
            }
            for index in 0..<count {
                guard let byte = current, range.contains(byte) else { return false }
                position += 1
                if index == 0 { range = 0x80...0xBF }
            }
            return true
        }
    }
}

private extension UInt8 {
    var isHexDigit: Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(self)
            || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(self)
    }
}
