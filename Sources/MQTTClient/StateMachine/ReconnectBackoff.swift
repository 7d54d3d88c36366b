/// The delays between reconnection attempts: exponential growth from the policy's initial delay
/// up to its maximum, each drawn from `[delay × (1 − jitter), delay]`. Pure: the random draw is
/// passed in, so tests pin it.
struct ReconnectBackoff: Sendable {
    let policy: MQTTReconnectPolicy
    /// Failed attempts since the last successful connection.
    private(set) var failures = 0

    init(policy: MQTTReconnectPolicy) { self.policy = policy }

    /// The delay before the next attempt, counting one more failure. `random` is in `0..<1`.
    mutating func nextDelay(random: Double) -> Duration {
        defer { failures += 1 }
        return Self.delay(policy: policy, failures: failures, random: random)
    }

    /// A connection succeeded: the next loss starts from the initial delay again.
    mutating func reset() { failures = 0 }

    static func delay(policy: MQTTReconnectPolicy, failures: Int, random: Double) -> Duration {
        let initial = seconds(policy.initialDelay)
        let maximum = max(seconds(policy.maximumDelay), initial)
        let multiplier = max(policy.multiplier, 1)
        // Grow step by step so a large failure count cannot overflow.
        var base = initial
        var step = 0
        while step < failures && base < maximum {
            base *= multiplier
            step += 1
        }
        base = min(base, maximum)
        let jitter = min(max(policy.jitter, 0), 1)
        let draw = min(max(random, 0), 1)
        let value = base * (1 - jitter * draw)
        return .nanoseconds(Int64(value * 1e9))
    }

    private static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
