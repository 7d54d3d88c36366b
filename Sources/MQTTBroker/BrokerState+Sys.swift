import MQTTCore
import NIOCore

extension BrokerState {
    /// Publishes the `$SYS/broker/...` statistics as retained messages, like Mosquitto.
    func publishSys() {
        let uptime = (now - startedAt).nanoseconds / 1_000_000_000
        let queued = sessions.values.reduce(0) { $0 + $1.queuedCount }
        let inflight = sessions.values.reduce(0) { $0 + $1.inflightCount }
        let values: [(String, String)] = [
            ("version", "Junction"),
            ("uptime", "\(uptime) seconds"),
            ("clients/connected", "\(connections)"),
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
