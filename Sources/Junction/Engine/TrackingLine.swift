import Foundation

/// The JSON line of a ``TrackingEvent``, written by hand: keys sorted, absent values left out,
/// `/` unescaped — the same text `JSONEncoder` with `.sortedKeys, .withoutEscapingSlashes` wrote,
/// at a fraction of its cost (it was most of the engine's CPU per document). `TrackReport` reads
/// it back with `JSONDecoder`.
enum TrackingLine {
    static func encode(_ event: TrackingEvent, time: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        var first = true
        func key(_ name: StaticString) {
            out.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
            first = false
            out.append(UInt8(ascii: "\""))
            name.withUTF8Buffer { out.append(contentsOf: $0) }
            out.append(UInt8(ascii: "\""))
            out.append(UInt8(ascii: ":"))
        }
        if let bytes = event.bytes { key("bytes"); out.append(contentsOf: String(bytes).utf8) }
        if let connector = event.connector { key("connector"); string(connector, into: &out) }
        key("document"); string(event.document, into: &out)
        if let duration = event.durationMs { key("durationMs"); number(duration, into: &out) }
        if let error = event.error { key("error"); string(error, into: &out) }
        key("event"); string(event.event.rawValue, into: &out)
        if let fields = event.fields {
            key("fields")
            out.append(UInt8(ascii: "{"))
            for (index, name) in fields.keys.sorted().enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                string(name, into: &out)
                out.append(UInt8(ascii: ":"))
                string(fields[name] ?? "", into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
        key("process"); string(event.process, into: &out)
        if let qos = event.qos { key("qos"); out.append(contentsOf: String(qos).utf8) }
        if let step = event.step { key("step"); out.append(contentsOf: String(step).utf8) }
        key("time"); string(time, into: &out)
        if let topic = event.topic { key("topic"); string(topic, into: &out) }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// A JSON string: `"` and `\` escaped, control characters as `\n`, `\t`… or `\u00XX`.
    static func string(_ value: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\\")); out.append(byte)
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\")); out.append(byte)
            case 0x0A: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "t"))
            case 0x08: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "\\")); out.append(UInt8(ascii: "f"))
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// A finite number as JSON (integers without a fraction); anything else as 0.
    static func number(_ value: Double, into out: inout [UInt8]) {
        guard value.isFinite else { out.append(UInt8(ascii: "0")); return }
        if value == value.rounded(), abs(value) < 1e15 {
            out.append(contentsOf: String(Int64(value)).utf8)
        } else {
            out.append(contentsOf: value.description.utf8)
        }
    }
}
