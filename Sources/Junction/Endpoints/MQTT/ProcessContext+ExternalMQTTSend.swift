import MQTTClient
import MQTTCore

extension ProcessContext {
    /// MQTT `send` to an external broker through the connector's shared connection; returns
    /// when the QoS flow completed, with the topic and QoS for tracking.
    func sendExternalMQTT(connector: String, _ definition: MQTTConnectorDefinition, _ target: SendDefinition.Target,
                          _ document: Document, step: Int?) async throws -> (String?, MQTTQoS?) {
        let message = try mqttMessage(target, document, step: step)
        let (topic, qos, retain, properties) = (message.topic, message.qos, message.retain, message.properties)
        if let outbox = resources.mqtt.outbox(for: connector) {
            let stored = OutboxMessage(topic: topic, payload: document.payload, qos: qos, retain: retain, properties: properties)
            try await storeAndForward(stored, outbox, connector: connector, whenFull: definition.storeAndForward.whenFull, step: step)
            return (topic, qos)
        }
        let client: MQTTClient
        do {
            client = try await resources.mqtt.client(for: connector)
        } catch var error as ProcessError {
            error.step = step
            throw error
        }
        do {
            try await client.publish(to: topic, payload: document.payload, qos: qos, retain: retain, properties: properties)
        } catch {
            let permanent: Bool
            switch error {
            case .packetTooLarge, .invalidTopicName: permanent = true
            default: permanent = false
            }
            throw ProcessError(step: step, message: "publish to \(topic) on \(connector) failed: \(error)", permanent: permanent)
        }
        return (topic, qos)
    }

    /// Store-and-forward: the send is done once the message is durably in the connector's
    /// outbox and, while the link is up, the external broker confirmed it. A full outbox waits
    /// (`block`) or fails permanently so the document is dead-lettered (`deadLetter`).
    private func storeAndForward(_ message: OutboxMessage, _ outbox: OutboxQueue, connector: String,
                                 whenFull: StoreAndForwardDefinition.WhenFull, step: Int?) async throws {
        let id: Int64
        do {
            id = try await outbox.enqueue(message, whenFull: whenFull)
        } catch let refusal as OutboxQueue.Refusal {
            throw ProcessError(step: step, message: "send to \(connector): \(refusal)", permanent: true)
        } catch {
            throw ProcessError(step: step, message: "send to \(connector): \(error)", permanent: false)
        }
        switch await outbox.outcome(of: id) {
        case .confirmed: break
        case .queued:
            logger.debug("stored for forwarding", metadata: [
                "process.name": "\(name)", "connector.name": "\(connector)", "mqtt.topic": "\(message.topic)", "outbox.id": "\(id)",
            ])
        case .refused(let reason):
            throw ProcessError(step: step, message: "publish to \(message.topic) on \(connector) refused: \(reason)", permanent: true)
        }
    }
}
