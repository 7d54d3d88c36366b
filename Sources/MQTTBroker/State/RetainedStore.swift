import MQTTCore
import NIOCore

/// The last retained message of every topic (MQTT 5 §3.3.1.3). An empty payload clears a topic;
/// expired messages are dropped when met. Loop-bound, like the rest of the broker state.
package final class RetainedStore {
    package private(set) var messages: [String: BrokerMessage] = [:]

    package var count: Int { messages.count }

    /// Stores `message` as the retained message of its topic, or clears the topic when its payload is empty.
    func store(_ message: BrokerMessage) {
        if message.payload.readableBytes == 0 {
            messages[message.topic] = nil
        } else {
            messages[message.topic] = message
        }
    }

    /// Retained messages whose topic matches `filter`, expired ones removed on the way.
    func matching(_ filter: MQTTTopicFilter, now: NIODeadline) -> [BrokerMessage] {
        var result: [BrokerMessage] = []
        var expired: [String] = []
        for (topic, message) in messages where filter.matches(topic) {
            if message.isExpired(at: now) { expired.append(topic) } else { result.append(message) }
        }
        for topic in expired { messages[topic] = nil }
        return result.sorted { $0.topic < $1.topic }
    }
}
