import Foundation
import MQTTBroker
import MQTTCore
import ServiceLifecycle

extension ProcessRunner {
    /// MQTT Listen on the embedded broker, through its in-process API.
    func runEmbeddedMQTT(_ listen: ListenDefinition.MQTTListen) async throws {
        guard let broker = context.broker else {
            throw ProcessError(message: "connector \(listen.connector): the embedded broker is not running", permanent: true)
        }
        let filter = listen.shared.map { "$share/\($0)/\(listen.topic.filter)" } ?? listen.topic.filter
        let maxInFlight = context.definition.maxInFlight
        let subscription = try await broker.subscribe(
            clientID: clientID,
            subscriptions: [MQTTSubscription(topicFilter: filter, qos: listen.qos, noLocal: listen.noLocal,
                                             retainAsPublished: listen.retainAsPublished, retainHandling: listen.retainHandling)],
            cleanStart: freshSession, sessionExpiry: .max, receiveMaximum: maxInFlight)
        let inline = runsInline
        started(["process.name": "\(context.name)", "mqtt.topic": "\(filter)", "process.inline": "\(inline)"])
        await withGracefulShutdownHandler {
            if inline {
                await forwardEach(subscription, listen, broker)
                return
            }
            await Self.forEach(subscription, atMost: maxInFlight) { delivery in
                var document = Self.document(delivery)
                if case .failed = await process(&document, connector: listen.connector, options: listen.options, qos: delivery.qos) {
                    return  // stays unacknowledged: redelivered when the session resumes
                }
                await delivery.ack()
            }
        } onGracefulShutdown: {
            Task { await subscription.close() }
        }
        context.logger.info("process stopped", metadata: ["process.name": "\(context.name)"])
    }

    /// The embedded Listen of a process that ``ProcessContext/runsInline(listen:)``: one task
    /// takes the deliveries in order and runs each one's steps without waiting; its messages and
    /// its acknowledgement go to the broker together (``MQTTBroker/forward(_:acknowledging:)``),
    /// which acknowledges only once they are as durable as the message was. A failing step sends
    /// what the steps before it published, then the document goes the usual way (tracked `failed`,
    /// dead letter, or unacknowledged). `maxInFlight` still bounds the unacknowledged messages:
    /// it is the session's receive maximum.
    func forwardEach(_ subscription: BrokerSubscription, _ listen: ListenDefinition.MQTTListen, _ broker: MQTTBroker) async {
        for await delivery in subscription {
            var document = Self.document(delivery)
            var messages: [MQTTPublishPacket] = []
            do {
                context.recordTrackedFields(listen.options, &document)
                context.track(.received, document, connector: listen.connector, qos: delivery.qos)
                _ = try context.runInline(context.definition.steps, [document], publishing: &messages)
                try broker.forward(messages, acknowledging: delivery)
                context.track(.completed, document)
            } catch {
                do { try broker.forward(messages, acknowledging: nil) } catch {
                    context.logger.error("publish failed", metadata: ["process.name": "\(context.name)", "error": "\(error)"])
                }
                if case .failed = await fail(document, error) { continue }
                await delivery.ack()
            }
        }
    }

    /// A new document for a message of the embedded broker.
    static func document(_ delivery: BrokerDelivery) -> Document {
        let now = Date()
        return Document(id: DocumentID.make(now: now), topic: delivery.topic, payload: delivery.payload,
                        properties: properties(qos: delivery.qos, retain: delivery.retain, dup: delivery.dup, delivery.properties),
                        receivedAt: now)
    }

    /// The properties of every combination of QoS, retain and dup, at `qos * 4 + retain * 2 + dup`.
    private static let baseProperties: [[String: String]] = (0..<12).map { index in
        ["qos": String(index / 4), "retain": index & 2 != 0 ? "true" : "false", "dup": index & 1 != 0 ? "true" : "false"]
    }

    /// Document properties from an MQTT message: qos, retain, dup, content type, user properties.
    static func properties(qos: MQTTQoS, retain: Bool, dup: Bool, _ mqtt: MQTTProperties) -> [String: String] {
        // A copy of one of twelve dictionaries made once: this runs for every document.
        var properties = baseProperties[Int(qos.rawValue) * 4 + (retain ? 2 : 0) + (dup ? 1 : 0)]
        for (name, value) in mqtt.userProperties { properties[name] = value }
        if let contentType = mqtt.contentType { properties["contentType"] = contentType }
        return properties
    }
}
