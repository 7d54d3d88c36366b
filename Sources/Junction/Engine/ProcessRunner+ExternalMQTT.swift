extension ProcessRunner {
    /// MQTT Listen on an external broker through MQTTClient, acknowledging after completion.
    func runExternalMQTT(_ listen: ListenDefinition.MQTTListen, _ definition: MQTTConnectorDefinition) async throws {
        throw ProcessError(message: "listening on external MQTT brokers is not supported by this version of the engine yet", permanent: true)
    }
}
