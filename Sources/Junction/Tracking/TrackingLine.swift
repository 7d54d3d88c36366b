import Foundation

/// The JSON line of a ``TrackingEvent``, written by hand: keys sorted, absent values left out,
/// `/` unescaped — the same text `JSONEncoder` with `.sortedKeys, .withoutEscapingSlashes` wrote,
/// at a fraction of its cost (it was most of the engine's CPU per document). `TrackReport` reads
/// it back with `JSONDecoder`.
enum TrackingLine {
    /// Appends the line of `event` to `out`, newline included, its time as `second` (the UTC
    /// second as ``Timestamp/iso8601(_:)`` writes it, up to and including the `.`) and `millis`:
    /// no intermediate string or array per line.
    static func encode(_ event: TrackingEvent, second: [UInt8], millis: Int, into line: inout Writer) {
        line.startLine()
        if let bytes = event.bytes { line.key(#""bytes":"#); line.integer(bytes) }
        if let connector = event.connector { line.key(#""connector":"#); line.string(connector) }
        line.key(#""document":"#); line.string(event.document)
        if let duration = event.durationMs { line.key(#""durationMs":"#); line.number(duration) }
        if let error = event.error { line.key(#""error":"#); line.string(error) }
        line.key(#""event":"#); line.string(event.event.rawValue)
        if let fields = event.fields {
            line.key(#""fields":"#)
            line.byte(UInt8(ascii: "{"))
            for (index, name) in fields.keys.sorted().enumerated() {
                if index > 0 { line.byte(UInt8(ascii: ",")) }
                line.string(name)
                line.byte(UInt8(ascii: ":"))
                line.string(fields[name] ?? "")
            }
            line.byte(UInt8(ascii: "}"))
        }
        line.key(#""process":"#); line.string(event.process)
        if let qos = event.qos { line.key(#""qos":"#); line.integer(qos) }
        if let step = event.step { line.key(#""step":"#); line.integer(step) }
        line.key(#""time":"#)
        line.byte(UInt8(ascii: "\""))
        second.withUnsafeBufferPointer { line.bytes($0) }
        line.byte(UInt8(ascii: "0") + UInt8(millis / 100))
        line.byte(UInt8(ascii: "0") + UInt8(millis / 10 % 10))
        line.byte(UInt8(ascii: "0") + UInt8(millis % 10))
        line.byte(UInt8(ascii: "Z"))
        line.byte(UInt8(ascii: "\""))
        if let topic = event.topic { line.key(#""topic":"#); line.string(topic) }
        line.byte(UInt8(ascii: "}"))
        line.byte(0x0A)
    }

    /// Lines of JSON appended to one buffer it owns, written through a pointer: one bounds check
    /// per piece, no copy-on-write check or generic `append` per byte (those were most of the
    /// cost of a line as an `[UInt8]`).
    struct Writer: ~Copyable {
        private var base: UnsafeMutablePointer<UInt8>
        private var capacity: Int
        /// Bytes written so far.
        private(set) var count = 0
        private var first = true

        init(capacity: Int = 4096) {
            self.capacity = max(64, capacity)
            base = .allocate(capacity: self.capacity)
        }

        deinit { base.deallocate() }

        /// What was written, for as long as the writer is not changed.
        var written: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }

        /// Forgets what was written (the storage stays).
        mutating func removeAll() { count = 0 }

        /// Starts a JSON object: the next key opens it.
        mutating func startLine() { first = true }

        @inline(__always)
        private mutating func reserve(_ extra: Int) {
            if count + extra > capacity { grow(to: count + extra) }
        }

        private mutating func grow(to needed: Int) {
            let larger = max(needed, capacity * 2)
            let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: larger)
            storage.update(from: base, count: count)
            base.deallocate()
            base = storage
            capacity = larger
        }

        @inline(__always)
        mutating func byte(_ value: UInt8) {
            reserve(1)
            base[count] = value
            count += 1
        }

        mutating func bytes(_ values: UnsafeBufferPointer<UInt8>) {
            guard let source = values.baseAddress, values.count > 0 else { return }
            reserve(values.count)
            (base + count).update(from: source, count: values.count)
            count += values.count
        }

        /// `quotedKey` is the key as written, quotes and colon included: `"bytes":`.
        mutating func key(_ quotedKey: StaticString) {
            byte(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
            first = false
            bytes(UnsafeBufferPointer(start: quotedKey.utf8Start, count: quotedKey.utf8CodeUnitCount))
        }

        /// Decimal digits, `-` first when negative.
        mutating func integer(_ value: Int) {
            var magnitude = value.magnitude
            reserve(21)
            if value < 0 { byte(UInt8(ascii: "-")) }
            var digits = 1
            var rest = magnitude / 10
            while rest > 0 { digits += 1; rest /= 10 }
            var position = count + digits
            count = position
            repeat {
                position -= 1
                base[position] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
        }

        /// A finite number as JSON (integers without a fraction); anything else as 0. Numbers
        /// with at most three decimals (durations in milliseconds) are written digit by digit,
        /// the same text `description` gives at a fraction of its cost.
        mutating func number(_ value: Double) {
            guard value.isFinite else { byte(UInt8(ascii: "0")); return }
            let thousandths = (value * 1000).rounded()
            guard abs(thousandths) < 1e15, thousandths / 1000 == value else {
                var text = value.description
                text.withUTF8 { bytes($0) }
                return
            }
            var whole = Int(thousandths)
            if whole < 0 {
                byte(UInt8(ascii: "-"))
                whole = -whole
            }
            integer(whole / 1000)
            var fraction = whole % 1000
            guard fraction > 0 else { return }
            byte(UInt8(ascii: "."))
            var divisor = 100
            while fraction > 0 {
                byte(UInt8(ascii: "0") + UInt8(fraction / divisor))
                fraction %= divisor
                divisor /= 10
            }
        }

        /// A JSON string: `"` and `\` escaped, control characters as `\n`, `\t`… or `\u00XX`.
        mutating func string(_ value: String) {
            var value = value
            value.withUTF8 { utf8 in
                byte(UInt8(ascii: "\""))
                // Ids, names and topics rarely need escaping: then the bytes go in as one copy.
                if !Self.needsEscaping(utf8) {
                    bytes(utf8)
                } else {
                    for byte in utf8 { escape(byte) }
                }
                byte(UInt8(ascii: "\""))
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

        private mutating func escape(_ value: UInt8) {
            switch value {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): byte(UInt8(ascii: "\\")); byte(value)
            case 0x0A: byte(UInt8(ascii: "\\")); byte(UInt8(ascii: "n"))
            case 0x0D: byte(UInt8(ascii: "\\")); byte(UInt8(ascii: "r"))
            case 0x09: byte(UInt8(ascii: "\\")); byte(UInt8(ascii: "t"))
            case 0x08: byte(UInt8(ascii: "\\")); byte(UInt8(ascii: "b"))
            case 0x0C: byte(UInt8(ascii: "\\")); byte(UInt8(ascii: "f"))
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                for character in "\\u00".utf8 { byte(character) }
                byte(hex[Int(value >> 4)])
                byte(hex[Int(value & 0xF)])
            default: byte(value)
            }
        }
    }
}
