import NIOCore

/// Keepalive of one connection (MQTT 5 §3.1.2.10), as a pure value: the client sends PINGREQ
/// when it has sent nothing for the keepalive interval, and declares the connection dead when,
/// after a PINGREQ, nothing at all comes back within the ping timeout.
struct KeepAliveState: Sendable {
    enum Action: Equatable, Sendable {
        /// Nothing to do before this deadline.
        case wait(until: NIODeadline)
        /// Send PINGREQ now, then check again at the deadline.
        case sendPing(thenCheckAt: NIODeadline)
        /// The connection is dead.
        case timedOut
        /// Keepalive is off.
        case disabled
    }

    /// Zero turns keepalive off.
    let interval: TimeAmount
    let timeout: TimeAmount
    private(set) var lastSent: NIODeadline
    private(set) var lastReceived: NIODeadline
    /// When the PINGREQ still unanswered was sent.
    private(set) var pingSentAt: NIODeadline?

    init(interval: TimeAmount, timeout: TimeAmount, now: NIODeadline) {
        self.interval = interval
        self.timeout = timeout
        self.lastSent = now
        self.lastReceived = now
    }

    /// A packet went out.
    mutating func sent(at now: NIODeadline) { lastSent = now }

    /// A packet came in; `isPingResponse` for PINGRESP.
    mutating func received(at now: NIODeadline, isPingResponse: Bool) {
        lastReceived = now
        if isPingResponse { pingSentAt = nil }
    }

    /// What to do at `now`. A PINGREQ also goes out when nothing was received for the interval,
    /// so a client that only publishes QoS 0 still notices a dead broker.
    mutating func check(now: NIODeadline) -> Action {
        guard interval > .zero else { return .disabled }
        if let pingSentAt {
            let reference = max(pingSentAt, lastReceived)
            if now - reference >= timeout { return .timedOut }
            return .wait(until: reference + timeout)
        }
        if now - lastSent >= interval || now - lastReceived >= interval {
            pingSentAt = now
            lastSent = now
            return .sendPing(thenCheckAt: now + timeout)
        }
        return .wait(until: min(lastSent, lastReceived) + interval)
    }
}
