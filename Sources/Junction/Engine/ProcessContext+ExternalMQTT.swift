import MQTTCore

extension ProcessContext {
    /// MQTT `send` to an external broker; returns the topic and QoS for tracking.
    func sendExternalMQTT(connector: String, _ definition: MQTTConnectorDefinition, _ target: SendDefinition.Target,
                          _ document: Document, step: Int?) async throws -> (String?, MQTTQoS?) {
        throw ProcessError(step: step, message: "sending to external MQTT brokers is not supported by this version of the engine yet", permanent: true)
    }
}
