import Foundation
import MQTTClient
import MQTTCore
import NIOCore

/// The output of `junction sub` for one message, as mosquitto_sub prints it: the payload alone,
/// `topic payload` with `-v`, or a `-F` format; then a newline unless `-N`. Output is compared
/// byte for byte with mosquitto_sub's in the tests.
///
/// Format sequences: `%%`, `%t` topic, `%p` payload, `%q` QoS, `%r` retain (0/1), `%m` (or `%i`)
/// packet identifier, `%l` payload length, `%x` / `%X` payload in hex, `%C` content type, `%D`
/// correlation data, `%E` message expiry, `%F` payload format indicator, `%R` response topic,
/// `%S` subscription identifier, `%A` topic alias, `%P` user properties as `key:value`
/// separated by spaces, `%I` ISO-8601 time, `%U` Unix time with nanoseconds; `-` (left align),
/// `0` (zero pad), a field width and `.precision` (strings) after the `%`. `@X` is strftime's
/// `%X` (`@@` an @). Escapes: `\\`, `\0`, `\a`, `\e`, `\n`, `\r`, `\t`, `\v`.
struct MessageFormat {
    enum Style {
        case payload
        case verbose
        case format(String)
    }

    var style: Style
    var newline: Bool

    /// The bytes to print. As mosquitto_sub: an empty payload prints nothing at all, or
    /// `topic (null)` with -v (nothing with -v -N).
    func render(_ message: MQTTMessage, now: Date = Date()) -> [UInt8] {
        var out: [UInt8] = []
        let empty = message.payload.readableBytes == 0
        switch style {
        case .payload:
            if empty { return [] }
            out += message.payload.readableBytesView
        case .verbose:
            if empty { return newline ? Array("\(message.topic) (null)".utf8) + [UInt8(ascii: "\n")] : [] }
            out += Array(message.topic.utf8)
            out.append(UInt8(ascii: " "))
            out += message.payload.readableBytesView
        case .format(let format):
            render(format, message, now: now, into: &out)
        }
        if newline { out.append(UInt8(ascii: "\n")) }
        return out
    }

    private struct Field {
        var leftAlign = false
        var zeroPad = false
        var width = 0
        var precision: Int?

        func text(_ value: String) -> [UInt8] {
            var bytes = Array(value.utf8)
            if let precision, bytes.count > precision { bytes = Array(bytes.prefix(precision)) }
            return pad(bytes, numeric: false)
        }

        func number<T: BinaryInteger>(_ value: T) -> [UInt8] {
            pad(Array(String(value).utf8), numeric: true)
        }

        func blank() -> [UInt8] { [UInt8](repeating: UInt8(ascii: zeroPad && !leftAlign ? "0" : " "), count: width) }

        func pad(_ bytes: [UInt8], numeric: Bool) -> [UInt8] {
            guard bytes.count < width else { return bytes }
            let fill = [UInt8](repeating: UInt8(ascii: zeroPad && numeric && !leftAlign ? "0" : " "), count: width - bytes.count)
            return leftAlign ? bytes + fill : fill + bytes
        }
    }

    private func render(_ format: String, _ message: MQTTMessage, now: Date, into out: inout [UInt8]) {
        let chars = Array(format.utf8)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            i += 1
            switch c {
            case UInt8(ascii: "%") where i < chars.count:
                var field = Field()
                while i < chars.count, chars[i] == UInt8(ascii: "-") || chars[i] == UInt8(ascii: "0") {
                    if chars[i] == UInt8(ascii: "-") { field.leftAlign = true } else { field.zeroPad = true }
                    i += 1
                }
                while i < chars.count, let digit = Self.digit(chars[i]) {
                    field.width = field.width * 10 + digit
                    i += 1
                }
                if i < chars.count, chars[i] == UInt8(ascii: ".") {
                    i += 1
                    var precision = 0
                    while i < chars.count, let digit = Self.digit(chars[i]) {
                        precision = precision * 10 + digit
                        i += 1
                    }
                    field.precision = precision
                }
                guard i < chars.count else { return }
                out += sequence(chars[i], field, message, now: now)
                i += 1
            case UInt8(ascii: "@") where i < chars.count:
                let code = chars[i]
                i += 1
                out += code == UInt8(ascii: "@") ? [code] : Self.strftime(code, now)
            case UInt8(ascii: "\\") where i < chars.count:
                let code = chars[i]
                i += 1
                switch code {
                case UInt8(ascii: "\\"): out.append(code)
                case UInt8(ascii: "0"): out.append(0)
                case UInt8(ascii: "a"): out.append(0x07)
                case UInt8(ascii: "e"): out.append(0x1B)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "v"): out.append(0x0B)
                default: out += [UInt8(ascii: "\\"), code]
                }
            default:
                out.append(c)
            }
        }
    }

    private static func digit(_ c: UInt8) -> Int? {
        c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") ? Int(c - UInt8(ascii: "0")) : nil
    }

    private func sequence(_ code: UInt8, _ field: Field, _ message: MQTTMessage, now: Date) -> [UInt8] {
        let properties = message.properties
        switch code {
        case UInt8(ascii: "%"): return [code]
        case UInt8(ascii: "t"): return field.text(message.topic)
        case UInt8(ascii: "p"): return field.pad(Array(message.payload.readableBytesView), numeric: false)
        case UInt8(ascii: "q"): return [UInt8(ascii: "0") + message.qos.rawValue]
        case UInt8(ascii: "r"): return [UInt8(ascii: message.retain ? "1" : "0")]
        case UInt8(ascii: "m"), UInt8(ascii: "i"): return field.number(message.packetIdentifier ?? 0)
        case UInt8(ascii: "l"): return field.number(message.payload.readableBytes)
        case UInt8(ascii: "x"), UInt8(ascii: "X"):
            let hex = message.payload.readableBytesView.map { String($0, radix: 16, uppercase: code == UInt8(ascii: "X")).leftPadded(2) }
            return field.pad(Array(hex.joined().utf8), numeric: true)
        case UInt8(ascii: "C"): return properties.contentType.map(field.text) ?? field.blank()
        case UInt8(ascii: "D"): return properties.correlationData.map { Array($0.readableBytesView) } ?? []
        case UInt8(ascii: "E"): return properties.messageExpiryInterval.map(field.number) ?? field.blank()
        case UInt8(ascii: "F"): return properties.payloadFormat.map { field.number($0.rawValue) } ?? field.blank()
        case UInt8(ascii: "R"): return properties.responseTopic.map(field.text) ?? []
        case UInt8(ascii: "S"): return properties.subscriptionIdentifiers.first.map(field.number) ?? field.blank()
        case UInt8(ascii: "A"): return properties.topicAlias.map(field.number) ?? field.blank()
        case UInt8(ascii: "P"):
            return Array(properties.userProperties.map { "\($0.name):\($0.value)" }.joined(separator: " ").utf8)
        case UInt8(ascii: "I"): return field.text(String(decoding: Self.strftimeFormat("%FT%T%z", now), as: UTF8.self))
        case UInt8(ascii: "U"):
            let seconds = now.timeIntervalSince1970
            let whole = Int64(seconds.rounded(.down))
            let nanoseconds = Int64((seconds - Double(whole)) * 1e9)
            return Array("\(whole).\(String(nanoseconds).leftPadded(9))".utf8)
        default: return []
        }
    }

    private static func strftime(_ code: UInt8, _ now: Date) -> [UInt8] {
        if code == UInt8(ascii: "N") {
            let fraction = now.timeIntervalSince1970 - now.timeIntervalSince1970.rounded(.down)
            return Array(String(Int64(fraction * 1e9)).leftPadded(9).utf8)
        }
        return strftimeFormat("%" + String(UnicodeScalar(code)), now)
    }

    private static func strftimeFormat(_ format: String, _ now: Date) -> [UInt8] {
        var time = time_t(now.timeIntervalSince1970)
        var parts = tm()
        localtime_r(&time, &parts)
        var buffer = [Int8](repeating: 0, count: 128)
        let count = Foundation.strftime(&buffer, buffer.count, format, &parts)
        return buffer.prefix(count).map { UInt8(bitPattern: $0) }
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
