import MQTTCore
import NIOCore

extension BrokerState {
    /// Publishes the `$SYS/broker/...` statistics as retained messages, like Mosquitto.
    package func publishSys() {
        let uptime = (now - startedAt).nanoseconds / 1_000_000_000
        let queued = sessions.values.reduce(0) { $0 + $1.queuedCount }
        let inflight = sessions.values.reduce(0) { $0 + $1.inflightCount }
        let values: [(String, String)] = [
            ("version", "Junction"),
            ("uptime", "\(uptime) seconds"),
            ("clients/connected", "\(connections.count)"),
            ("clients/total", "\(sessions.count)"),
            ("messages/received", "\(statistics.messagesReceived)"),
            ("messages/sent", "\(statistics.messagesSent)"),
            ("messages/dropped", "\(statistics.messagesDropped)"),
            ("messages/inflight", "\(inflight)"),
            ("messages/queued", "\(queued)"),
            ("subscriptions/count", "\(tree.count)"),
            ("retained messages/count", "\(retained.count)"),
        ]
        for (name, value) in values {
            var payload = ByteBuffer()
            payload.writeString(value)
            let message = BrokerMessage(topic: "$SYS/broker/\(name)", payload: payload, qos: .atMostOnce, retain: true)
            retained.store(message)
            route(message)
        }
        statistics.messagesReceived -= values.count
        flushPending()
    }
}

extension BrokerState {
    /// Periodic clean-up: inbound QoS 2 packet ids whose PUBREL never came are forgotten after
    /// awaitRelTimeout, so a misbehaving client cannot exhaust maxAwaitingRel for ever.
    func housekeeping() {
        let cutoff = now - settings.awaitRelTimeout
        for session in sessions.values where !session.awaitingRelease.isEmpty {
            let expired = session.expireAwaitingRelease(before: cutoff)
            if expired > 0 {
                logger.info("QoS 2 messages never released, forgotten", metadata: [
                    "mqtt.client_id": "\(session.clientID)", "count": "\(expired)",
                ])
            }
        }
    }
}
