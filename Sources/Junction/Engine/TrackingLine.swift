import Foundation

/// The JSON line of a ``TrackingEvent``, written by hand: keys sorted, absent values left out,
/// `/` unescaped — the same text `JSONEncoder` with `.sortedKeys, .withoutEscapingSlashes` wrote,
/// at a fraction of its cost (it was most of the engine's CPU per document). `TrackReport` reads
/// it back with `JSONDecoder`.
enum TrackingLine {
    /// Appends the line of `event` to `out`, newline included, its time as `second` (the UTC
    /// second as ``Timestamp/iso8601(_:)`` writes it, up to and including the `.`) and `millis`:
    /// no intermediate string or array per line.
    static func encode(_ event: TrackingEvent, second: [UInt8], millis: Int, into out: inout [UInt8]) {
        var line = Writer()
        swap(&line.out, &out)
        defer { swap(&line.out, &out) }
        if let bytes = event.bytes { line.key(#""bytes":"#); line.integer(bytes) }
        if let connector = event.connector { line.key(#""connector":"#); line.string(connector) }
        line.key(#""document":"#); line.string(event.document)
        if let duration = event.durationMs { line.key(#""durationMs":"#); line.number(duration) }
        if let error = event.error { line.key(#""error":"#); line.string(error) }
        line.key(#""event":"#); line.string(event.event.rawValue)
        if let fields = event.fields {
            line.key(#""fields":"#)
            line.out.append(UInt8(ascii: "{"))
            for (index, name) in fields.keys.sorted().enumerated() {
                if index > 0 { line.out.append(UInt8(ascii: ",")) }
                line.string(name)
                line.out.append(UInt8(ascii: ":"))
                line.string(fields[name] ?? "")
            }
            line.out.append(UInt8(ascii: "}"))
        }
        line.key(#""process":"#); line.string(event.process)
        if let qos = event.qos { line.key(#""qos":"#); line.integer(qos) }
        if let step = event.step { line.key(#""step":"#); line.integer(step) }
        line.key(#""time":"#)
        line.out.append(UInt8(ascii: "\""))
        line.out.append(contentsOf: second)
        line.out.append(UInt8(ascii: "0") + UInt8(millis / 100))
        line.out.append(UInt8(ascii: "0") + UInt8(millis / 10 % 10))
        line.out.append(UInt8(ascii: "0") + UInt8(millis % 10))
        line.out.append(UInt8(ascii: "Z"))
        line.out.append(UInt8(ascii: "\""))
        if let topic = event.topic { line.key(#""topic":"#); line.string(topic) }
        line.out.append(UInt8(ascii: "}"))
        line.out.append(0x0A)
    }

    /// Appends JSON pieces to one growing buffer.
    struct Writer {
        var out: [UInt8]
        private var first = true

        /// Starts a line at the end of `out` (whose capacity is the caller's business).
        init(out: [UInt8] = []) {
            self.out = out
        }

        /// `quotedKey` is the key as written, quotes and colon included: `"bytes":`.
        mutating func key(_ quotedKey: StaticString) {
            out.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
            first = false
            out.append(contentsOf: UnsafeBufferPointer(start: quotedKey.utf8Start, count: quotedKey.utf8CodeUnitCount))
        }

        mutating func integer(_ value: Int) {
            out.append(contentsOf: String(value).utf8)
        }

        /// A finite number as JSON (integers without a fraction); anything else as 0. Numbers
        /// with at most three decimals (durations in milliseconds) are written digit by digit,
        /// the same text `description` gives at a fraction of its cost.
        mutating func number(_ value: Double) {
            guard value.isFinite else { out.append(UInt8(ascii: "0")); return }
            let thousandths = (value * 1000).rounded()
            guard abs(thousandths) < 1e15, thousandths / 1000 == value else {
                out.append(contentsOf: value.description.utf8)
                return
            }
            var whole = Int(thousandths)
            if whole < 0 {
                out.append(UInt8(ascii: "-"))
                whole = -whole
            }
            integer(whole / 1000)
            var fraction = whole % 1000
            guard fraction > 0 else { return }
            out.append(UInt8(ascii: "."))
            var divisor = 100
            while fraction > 0 {
                out.append(UInt8(ascii: "0") + UInt8(fraction / divisor))
                fraction %= divisor
                divisor /= 10
            }
        }

        /// A JSON string: `"` and `\` escaped, control characters as `\n`, `\t`… or `\u00XX`.
        mutating func string(_ value: String) {
            var value = value
            value.withUTF8 { bytes in
                out.append(UInt8(ascii: "\""))
                // Ids, names and topics rarely need escaping: then the bytes go in as one copy.
                if !Self.needsEscaping(bytes) {
                    out.append(contentsOf: bytes)
                } else {
                    for byte in bytes { escape(byte) }
                }
                out.append(UInt8(ascii: "\""))
            }
        }

        /// Whether `bytes` hold a control character, `"` or `\\`: eight bytes per step (the
        /// zero-byte test of "Bit Twiddling Hacks"; a false alarm only costs the byte-wise path).
        static func needsEscaping(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
            guard let base = bytes.baseAddress else { return false }
            let ones: UInt64 = 0x0101_0101_0101_0101
            let highs: UInt64 = 0x8080_8080_8080_8080
            var offset = 0
            while offset + 8 <= bytes.count {
                let word = UnsafeRawPointer(base + offset).loadUnaligned(as: UInt64.self)
                let quote = word ^ (ones &* 0x22)
                let backslash = word ^ (ones &* 0x5C)
                let found = ((word &- ones &* 0x20) & ~word) | ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash)
                if found & highs != 0 { return true }
                offset += 8
            }
            while offset < bytes.count {
                let byte = bytes[offset]
                if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return true }
                offset += 1
            }
            return false
        }

        private mutating func escape(_ byte: UInt8) {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(byte)
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0x08: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "f"))
            case 0..<0x20:
                let hex = "0123456789abcdef".utf8
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[hex.index(hex.startIndex, offsetBy: Int(byte >> 4))])
                out.append(hex[hex.index(hex.startIndex, offsetBy: Int(byte & 0xF))])
            default: out.append(byte)
            }
        }
    }
}
