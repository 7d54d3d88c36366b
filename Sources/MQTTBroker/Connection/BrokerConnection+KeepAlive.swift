import MQTTCore
import NIOCore

/// Keepalive (MQTT §3.1.2.10): a client silent for its keepalive × `keepaliveMultiplier` is
/// disconnected (0x8D Keep Alive timeout on 5.0) and its will published.
///
/// One sweep on the broker's loop every ``BrokerState/keepAliveSweepInterval`` checks every
/// connection, instead of an idle-state handler and a timer per connection: a packet only sets
/// a flag, the handler's hop on every read and write is gone, and an idle connection holds no
/// timer. A timeout is noticed up to one sweep interval late, never early.
extension BrokerConnection {
    /// Starts enforcing `keepAlive` seconds (> 0), counted from now (the CONNACK).
    func enforceKeepAlive(_ keepAlive: UInt16) {
        keepAliveTimeout = .milliseconds(Int64(Double(keepAlive) * 1000 * state.settings.keepaliveMultiplier))
        lastHeard = .now()
        heardSinceSweep = false
    }

    /// The sweep's check: a packet came since the last sweep (then it counts as heard now), or
    /// the client is disconnected once it has been silent longer than its timeout.
    package func checkKeepAlive(at now: NIODeadline) {
        guard let timeout = keepAliveTimeout, phase == .connected else { return }
        if heardSinceSweep {
            heardSinceSweep = false
            lastHeard = now
            return
        }
        guard now - lastHeard > timeout else { return }
        logger.debug("keepalive timeout", metadata: ["mqtt.client_id": "\(clientID)"])
        disconnect(.keepAliveTimeout, reason: "keep alive timeout")
    }
}

extension BrokerState {
    /// How often the keepalive sweep runs: the lateness a timeout may have.
    static let keepAliveSweepInterval = TimeAmount.milliseconds(500)

    /// Checks every connection's keepalive (see ``BrokerConnection/checkKeepAlive(at:)``).
    func sweepKeepAlive() {
        let now = NIODeadline.now()
        for connection in Array(connections.values) where connection.keepAliveTimeout != nil {
            connection.checkKeepAlive(at: now)
        }
        flushPending()
    }
}
