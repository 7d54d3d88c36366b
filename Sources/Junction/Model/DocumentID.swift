import Foundation
import Synchronization

/// Document ids given at Listen: UUID version 7 strings (RFC 9562), lowercase, so ids sort by
/// the millisecond they were made and look like the UUIDs users know.
///
/// `UUID()` reads the kernel's random source for every id (a system call per document); these
/// take 62 random bits once per process run and count up from them: unique within a run
/// by the counter, across runs and machines by the time and the random start.
public enum DocumentID {
    private static let state = Mutex<(lastMillis: UInt64, counter: UInt64)>((0, UInt64.random(in: 0...(1 << 62))))

    /// A new id, e.g. `019aa6f2-3c41-7d2e-9b1f-4e5d6c7b8a90`.
    public static func make(now: Date = Date()) -> String {
        let millis = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let (time, count) = state.withLock { state -> (UInt64, UInt64) in
            // The clock stepping back must not repeat ids: time never goes below the last one.
            state.lastMillis = max(state.lastMillis, millis)
            state.counter &+= 1
            return (state.lastMillis, state.counter)
        }
        return id(millis: time, count: count)
    }

    /// The id of `count` at `millis`: 48 bits of time, version 7, the counter's top 2 bits,
    /// variant 0b10, its other 62 bits.
    static func id(millis: UInt64, count: UInt64) -> String {
        let high = (millis << 16) | 0x7000 | (count >> 62)
        let low = 0x8000_0000_0000_0000 | (count & 0x3FFF_FFFF_FFFF_FFFF)
        return format(high: high, low: low)
    }

    private static func format(high: UInt64, low: UInt64) -> String {
        String(unsafeUninitializedCapacity: 36) { buffer in
            var index = 0
            // Lowercase hex digit by digit, without a table (a global array costs a lazy-init
            // check and a bounds check per digit).
            func put(_ value: UInt64, nibbles: Int) {
                var shift = (nibbles - 1) * 4
                while shift >= 0 {
                    let nibble = UInt8(truncatingIfNeeded: (value >> UInt64(shift)) & 0xF)
                    buffer[index] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") - 10 + nibble
                    index += 1
                    shift -= 4
                }
            }
            func dash() { buffer[index] = UInt8(ascii: "-"); index += 1 }
            put(high >> 32, nibbles: 8); dash()
            put((high >> 16) & 0xFFFF, nibbles: 4); dash()
            put(high & 0xFFFF, nibbles: 4); dash()
            put(low >> 48, nibbles: 4); dash()
            put(low & 0xFFFF_FFFF_FFFF, nibbles: 12)
            return index
        }
    }
}
