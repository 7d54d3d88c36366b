import MQTTCore

extension ProcessContext {
    /// One `send` with the process's retry policy: a failure that can pass is tried again after
    /// the backoff (tracked `retried`); the last failure is thrown.
    func send(_ send: SendDefinition, _ document: inout Document, step: Int) async throws {
        try await applyOptions(send.options, to: &document)
        let policy = definition.onError
        var attempt = 1
        while true {
            do {
                let (topic, qos) = try await perform(send, &document, step: step)
                track(.sent, document, step: step, connector: send.connector, topic: topic, qos: qos)
                return
            } catch let error as ProcessError where !error.permanent && attempt < policy.attempts {
                track(.retried, document, step: step, connector: send.connector, error: error.message)
                let delays = policy.backoffMilliseconds
                let delay = delays.isEmpty ? 1000 : delays[min(attempt - 1, delays.count - 1)]
                try await Task.sleep(for: .milliseconds(delay))
                attempt += 1
            }
        }
    }

    /// Delivers `document` to the send's connector; returns the topic and QoS for tracking.
    func perform(_ send: SendDefinition, _ document: inout Document, step: Int?) async throws -> (String?, MQTTQoS?) {
        switch send.target {
        case .mqtt(_, let qos, let retain, _, _):
            if case .mqtt(let external)? = connectors[send.connector]?.kind {
                return try await sendExternalMQTT(connector: send.connector, external, send.target, document, step: step)
            }
            let message = try mqttMessage(send.target, document, step: step)
            guard let broker else { throw ProcessError(step: step, message: "the embedded broker is not running", permanent: false) }
            do {
                try await broker.publish(topic: message.topic, payload: message.payload, qos: qos, retain: retain, properties: message.properties)
            } catch {
                throw ProcessError(step: step, message: "publish to \(message.topic) failed: \(error)", permanent: false)
            }
            return (message.topic, qos)
        case .file(let nameTemplate, let append):
            try write(document, connector: send.connector, name: nameTemplate.render(document), append: append, step: step)
            return (nil, nil)
        case .http(let path, let method, let headers):
            guard case .http(let definition)? = connectors[send.connector]?.kind else {
                throw ProcessError(step: step, message: "connector \(send.connector) is not an http connector", permanent: true)
            }
            return try await sendHTTP(connector: send.connector, definition, path: path, method: method, headers: headers, &document, step: step)
        }
    }
}
