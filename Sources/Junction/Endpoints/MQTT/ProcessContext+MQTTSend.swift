import MQTTCore

extension ProcessContext {
    /// The message an MQTT `send` publishes (to the embedded broker or an external one): the
    /// rendered topic (a topic name, or the step fails for good), the payload within
    /// `maxMessageSize`, user properties.
    func mqttMessage(_ target: SendDefinition.Target, _ document: Document, step: Int?) throws -> MQTTPublishPacket {
        guard case .mqtt(let topicTemplate, let qos, let retain, let userProperties, let maxMessageSize) = target else {
            preconditionFailure("an MQTT send has an MQTT target")
        }
        let topic = topicTemplate.render(document)
        guard MQTTTopic.isValidName(topic) else {
            throw ProcessError(step: step, message: "topic template \"\(topicTemplate)\" gave \"\(topic)\", not a topic name", permanent: true)
        }
        guard document.payload.readableBytes <= maxMessageSize else {
            throw ProcessError(step: step, message: "message of \(document.payload.readableBytes) bytes exceeds maxMessageSize \(maxMessageSize)", permanent: true)
        }
        let properties = MQTTProperties(userProperties.map { .userProperty($0.0, $0.1.render(document)) })
        return MQTTPublishPacket(topic: topic, payload: document.payload, qos: qos, retain: retain, properties: properties)
    }
}
