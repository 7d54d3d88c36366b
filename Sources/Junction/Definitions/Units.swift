import Foundation

/// Sizes and durations as users write them in definitions: `"1MB"`, `"10s"`.
public enum Units {
    private static let sizeUnits: [(String, Int)] = [("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10), ("B", 1)]
    private static let durationUnits: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]

    /// Bytes in `"512KB"`, `"1MB"`, `"2GB"`, `"100B"` or `"100"` (binary multiples); nil if not a size.
    public static func bytes(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces).uppercased()
        for (suffix, multiplier) in sizeUnits where trimmed.hasSuffix(suffix) {
            guard let number = Double(trimmed.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)),
                  number >= 0, number * Double(multiplier) <= Double(Int.max)
            else { return nil }
            return Int(number * Double(multiplier))
        }
        return Int(trimmed).flatMap { $0 >= 0 ? $0 : nil }
    }

    /// Milliseconds in `"250ms"`, `"10s"`, `"1.5m"`, `"2h"`, `"30d"`; nil if not a duration.
    public static func milliseconds(_ text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for (suffix, multiplier) in durationUnits where trimmed.hasSuffix(suffix) {
            let head = trimmed.dropLast(suffix.count)
            guard let number = Double(head), number >= 0, number.isFinite else { return nil }
            return Int64(number * Double(multiplier))
        }
        return nil
    }

    public static func format(bytes: Int) -> String {
        for (suffix, multiplier) in sizeUnits where bytes >= multiplier && bytes % multiplier == 0 {
            return "\(bytes / multiplier)\(suffix)"
        }
        return "\(bytes)B"
    }
}
