import Foundation

/// Times as documents show them.
enum Timestamp {
    /// `2024-05-01T12:34:56.789Z`: ISO 8601 in UTC with milliseconds.
    static func iso8601(_ date: Date) -> String {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded()
        var seconds = time_t(Int64((milliseconds / 1000).rounded(.down)))
        let millis = Int(milliseconds - Double(seconds) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        // Fixed-width digits straight into the string's storage: this runs for every tracking event.
        return String(unsafeUninitializedCapacity: 24) { bytes in
            func put(_ value: Int, _ width: Int, at offset: Int) {
                var value = value
                for index in stride(from: offset + width - 1, through: offset, by: -1) {
                    bytes[index] = UInt8(ascii: "0") + UInt8(value % 10)
                    value /= 10
                }
            }
            put(Int(parts.tm_year) + 1900, 4, at: 0); bytes[4] = UInt8(ascii: "-")
            put(Int(parts.tm_mon) + 1, 2, at: 5); bytes[7] = UInt8(ascii: "-")
            put(Int(parts.tm_mday), 2, at: 8); bytes[10] = UInt8(ascii: "T")
            put(Int(parts.tm_hour), 2, at: 11); bytes[13] = UInt8(ascii: ":")
            put(Int(parts.tm_min), 2, at: 14); bytes[16] = UInt8(ascii: ":")
            put(Int(parts.tm_sec), 2, at: 17); bytes[19] = UInt8(ascii: ".")
            put(millis, 3, at: 20); bytes[23] = UInt8(ascii: "Z")
            return 24
        }
    }
}
