import MQTTBroker
import MQTTCore
import NIOCore

/// Running a document's steps without waiting (docs/design.md, "One message, end to end"): a process whose steps only
/// transform documents and send to the embedded broker needs no task per document. Its
/// messages are collected and handed to the broker together with the acknowledgement of the
/// message that caused them (``MQTTBroker/forward(_:acknowledging:)``).
extension ProcessContext {
    /// Whether every step of the process, and the Listen's options, can run inline: only
    /// `filter`, `set`, `map`, `route`, `split` and `send` to the embedded broker, with no
    /// archiving or caching (they write files and SQLite), and a Listen on the embedded broker.
    func runsInline(listen options: OperationOptions) -> Bool {
        guard broker != nil, options.archiving == nil, options.caching == nil else { return false }
        return runsInline(definition.steps)
    }

    private func runsInline(_ steps: [StepDefinition]) -> Bool {
        steps.allSatisfy { step in
            switch step {
            case .filter, .set, .map, .split: return true
            case .route(let cases, let otherwise): return cases.allSatisfy { runsInline($0.steps) } && runsInline(otherwise)
            case .send(let send):
                guard case .mqtt = send.target, case .mqttBroker? = connectors[send.connector]?.kind else { return false }
                return send.options.archiving == nil && send.options.caching == nil
            case .cache, .lookup, .reply: return false
            }
        }
    }

    /// ``run(_:_:)`` for a process that ``runsInline(listen:)``: the same steps, tracked the same
    /// way, but a `send` appends its message to `messages` instead of publishing it (the caller
    /// forwards them). A failing step throws; the messages of the steps before it are in `messages`.
    func runInline(_ steps: [StepDefinition], _ input: [Document], publishing messages: inout [MQTTPublishPacket]) throws -> [Document] {
        var documents = input
        for (index, step) in steps.enumerated() where !documents.isEmpty {
            var output: [Document] = []
            for var document in documents {
                switch try transform(step, document, index: index) {
                case .one(let document)?:
                    output.append(document)
                case .documents(let documents)?:
                    output += documents
                case .branch(let branch, let document)?:
                    output += try runInline(branch, [document], publishing: &messages)
                case nil:
                    guard case .send(let send) = step else { preconditionFailure("runsInline(listen:) admits no other step") }
                    recordTrackedFields(send.options, &document)
                    let message = try mqttMessage(send.target, document, step: index)
                    messages.append(message)
                    track(.sent, document, step: index, connector: send.connector, topic: message.topic, qos: message.qos)
                    output.append(document)
                }
            }
            documents = output
        }
        return documents
    }
}
