import MQTTClient
import MQTTCore

extension ProcessContext {
    /// MQTT `send` to an external broker through the connector's shared connection; returns
    /// when the QoS flow completed, with the topic and QoS for tracking.
    func sendExternalMQTT(connector: String, _ definition: MQTTConnectorDefinition, _ target: SendDefinition.Target,
                          _ document: Document, step: Int?) async throws -> (String?, MQTTQoS?) {
        guard case .mqtt(let topicTemplate, let qos, let retain, let userProperties, let maxMessageSize) = target else {
            throw ProcessError(step: step, message: "connector \(connector) is an mqtt connector", permanent: true)
        }
        let topic = topicTemplate.render(document)
        guard MQTTTopic.isValidName(topic) else {
            throw ProcessError(step: step, message: "topic template \"\(topicTemplate)\" gave \"\(topic)\", not a topic name", permanent: true)
        }
        guard document.payload.readableBytes <= maxMessageSize else {
            throw ProcessError(step: step, message: "message of \(document.payload.readableBytes) bytes exceeds maxMessageSize \(maxMessageSize)", permanent: true)
        }
        let properties = MQTTProperties(userProperties.map { .userProperty($0.0, $0.1.render(document)) })
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
}
