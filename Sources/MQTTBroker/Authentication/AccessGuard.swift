import NIOCore
import NIOPosix

/// A rate: `count` events per `interval` (`"10/1s"`, `"600/1m"` in a definition).
public struct BrokerRate: Sendable, Hashable, CustomStringConvertible {
    public var count: Int
    public var interval: TimeAmount

    public init(count: Int, per interval: TimeAmount) {
        self.count = max(1, count)
        self.interval = interval.nanoseconds > 0 ? interval : .seconds(1)
    }

    public var description: String { "\(count)/\(interval.nanoseconds / 1_000_000)ms" }
}

/// A token bucket holding up to `rate.count` tokens, refilled at `rate`; starts full.
struct TokenBucket {
    private(set) var tokens: Double
    private var last: NIODeadline

    init(rate: BrokerRate, now: NIODeadline) {
        tokens = Double(rate.count)
        last = now
    }

    /// Takes one token; false when the bucket is empty.
    mutating func take(rate: BrokerRate, now: NIODeadline) -> Bool {
        let elapsed = Double((now - last).nanoseconds)
        last = now
        tokens = min(Double(rate.count), tokens + elapsed * Double(rate.count) / Double(rate.interval.nanoseconds))
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}

/// Per-address bookkeeping of the broker's loop: connection rate, failed authentications and the
/// refusal window they open, password checks in progress. Lives in ``BrokerState``.
final class AccessGuard {
    struct Record {
        var connections: TokenBucket?
        var failures = 0
        var blockedUntil: NIODeadline?
        var verifying = 0
        var lastSeen: NIODeadline
    }

    private(set) var records: [String: Record] = [:]
    /// The listener each server channel serves, by the channel's identity.
    var listeners: [ObjectIdentifier: BrokerListener] = [:]
    /// Threads for password checks, this broker's own (not shared with blocking I/O elsewhere),
    /// one fewer than the cores so the event loops keep one; started at the first check.
    private(set) var pool: NIOThreadPool?

    func passwordPool() -> NIOThreadPool {
        if let pool { return pool }
        let made = NIOThreadPool(numberOfThreads: max(1, System.coreCount - 1))
        made.start()
        pool = made
        return made
    }

    /// Hands the pool over for shutting down (the broker is stopping).
    func takePool() -> NIOThreadPool? {
        defer { pool = nil }
        return pool
    }
    /// Password checks queued or running on the thread pool, all addresses.
    private(set) var verifying = 0

    /// Password checks one address may have in progress; more are refused (0x9F).
    static let verificationsPerAddress = 4
    /// Password checks in progress broker-wide; more are refused (0x89).
    static let verificationsTotal = 64

    enum Refusal: Equatable {
        case connectionRate
        case blocked(seconds: Int)
        case tooManyVerifications
        case busy
    }

    /// Called for each CONNECT: refuses an address over its connection rate or inside its
    /// refusal window after failed authentications.
    func admit(_ address: String, settings: BrokerSettings, now: NIODeadline) -> Refusal? {
        // Nothing to count and nothing known: keep no record.
        if settings.maxConnectionRate == nil && records[address] == nil { return nil }
        var record = records[address] ?? Record(lastSeen: now)
        defer {
            record.lastSeen = now
            records[address] = record
            if records.count > pruneAt { prune(now: now, settings: settings) }
        }
        if let until = record.blockedUntil, until > now {
            return .blocked(seconds: Int(((until - now).nanoseconds + 999_999_999) / 1_000_000_000))
        }
        if let rate = settings.maxConnectionRate {
            var bucket = record.connections ?? TokenBucket(rate: rate, now: now)
            let allowed = bucket.take(rate: rate, now: now)
            record.connections = bucket
            if !allowed { return .connectionRate }
        }
        return nil
    }

    /// A password check for `address` is about to start; a refusal when too many are running.
    func beginVerification(_ address: String) -> Refusal? {
        guard verifying < Self.verificationsTotal else { return .busy }
        guard (records[address]?.verifying ?? 0) < Self.verificationsPerAddress else { return .tooManyVerifications }
        verifying += 1
        records[address, default: Record(lastSeen: .now())].verifying += 1
        return nil
    }

    func endVerification(_ address: String) {
        verifying -= 1
        records[address]?.verifying -= 1
    }

    /// An authentication failed: after `maxAuthFailures` in a row the address is refused for
    /// `authFailureBlock`, doubling with each further failure (at most 64 times as long).
    func failed(_ address: String, settings: BrokerSettings, now: NIODeadline) {
        guard settings.maxAuthFailures > 0 else { return }
        var record = records[address] ?? Record(lastSeen: now)
        record.failures += 1
        record.lastSeen = now
        let over = record.failures - settings.maxAuthFailures
        if over >= 0 {
            let factor = Int64(1) << Int64(min(over, 6))
            record.blockedUntil = now + .nanoseconds(settings.authFailureBlock.nanoseconds * factor)
        }
        records[address] = record
    }

    /// An authentication succeeded: the address starts over.
    func succeeded(_ address: String) {
        records[address]?.failures = 0
        records[address]?.blockedUntil = nil
    }

    /// Record count at which idle records are next swept: it doubles with what survives a sweep,
    /// so many live addresses cost amortised constant time per CONNECT, not a sweep each.
    private var pruneAt = 4096

    /// Forgets addresses idle for ten minutes with nothing pending.
    private func prune(now: NIODeadline, settings: BrokerSettings) {
        records = records.filter { _, record in
            record.verifying > 0 || (record.blockedUntil.map { $0 > now } ?? false) || now - record.lastSeen < .minutes(10)
        }
        pruneAt = max(4096, records.count * 2)
    }
}
