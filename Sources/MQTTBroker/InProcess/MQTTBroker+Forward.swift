import MQTTCore
import NIOCore

extension MQTTBroker {
    /// Publishes `messages` as the broker, then acknowledges `delivery` (a message of one of its
    /// in-process sessions), without waiting: returns once both are queued for the broker's loop.
    ///
    /// The loop routes the messages in order, after every publish queued before them, and
    /// acknowledges the delivery in the same task when the messages recorded nothing, or else
    /// once what they recorded is durable (a data directory and QoS 1/2, as
    /// ``publish(topic:payload:qos:retain:properties:publisher:)`` waits for). If the store fails
    /// first, the delivery stays unacknowledged and comes again when its session resumes: a
    /// message is never acknowledged before what it became is as safe as it was.
    ///
    /// This is how a process hands on a document whose steps needed nothing to wait for: the
    /// engine does not suspend per message, and the loop takes one task per batch of them.
    /// `delivery` nil (or QoS 0) only publishes.
    /// - Throws: ``MQTTBrokerError/invalidTopicName(_:)``, with nothing queued.
    public func forward(_ messages: [MQTTPublishPacket], acknowledging delivery: BrokerDelivery?) throws {
        for message in messages where !MQTTTopic.isValidName(message.topic) {
            throw MQTTBrokerError.invalidTopicName(message.topic)
        }
        var requests: [LocalPublishQueue.Request] = messages.map { .init(packet: $0, publisher: nil, completion: .none) }
        if let delivery, let id = delivery.packetIdentifier {
            let completion = LocalPublishQueue.Completion.acknowledge(delivery.acknowledger, id: id, epoch: delivery.epoch)
            if requests.isEmpty {
                requests.append(.init(packet: nil, publisher: nil, completion: completion))
            } else {
                requests[requests.count - 1].completion = completion
            }
        }
        guard !requests.isEmpty else { return }
        localPublishes.enqueue(requests, state: state, restored: restored.futureResult)
    }
}
