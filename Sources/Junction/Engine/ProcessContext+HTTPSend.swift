import MQTTCore

extension ProcessContext {
    /// `send` to an `http` connector; returns nil topic and QoS for tracking.
    func sendHTTP(connector: String, _ definition: HTTPConnectorDefinition, path: Template, method: String?,
                  headers: [(String, Template)], _ document: Document, step: Int?) async throws -> (String?, MQTTQoS?) {
        throw ProcessError(step: step, message: "HTTP send is not supported by this version of the engine yet", permanent: true)
    }
}
