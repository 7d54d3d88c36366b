import Foundation
import Logging
import MQTTBroker
import MQTTCore
import NIOCore
import ServiceLifecycle

/// One running process (DESIGN §4): a `Service` that takes documents from its Listen, runs the
/// steps with at most `maxInFlight` documents at once, and acknowledges each message only after
/// its last step finished or it was dead-lettered. A message that failed with no dead letter
/// stays unacknowledged in the process's broker session and comes again when the session resumes.
public struct ProcessRunner: Service {
    public let context: ProcessContext

    public init(context: ProcessContext) { self.context = context }

    /// The in-process broker session of the process: persistent, named after it.
    public var clientID: String { "junction.process.\(context.name)" }

    public func run() async throws {
        try context.checkEndpoints()
        guard case .mqtt(let listen) = context.definition.listen, let broker = context.broker else {
            throw ProcessError(message: "only MQTT listens on the embedded broker run in this version of the engine", permanent: true)
        }
        let filter = listen.shared.map { "$share/\($0)/\(listen.topic.filter)" } ?? listen.topic.filter
        let maxInFlight = context.definition.maxInFlight
        let subscription = try await broker.subscribe(
            clientID: clientID,
            subscriptions: [MQTTSubscription(topicFilter: filter, qos: listen.qos, noLocal: listen.noLocal,
                                             retainAsPublished: listen.retainAsPublished, retainHandling: listen.retainHandling)],
            cleanStart: false, sessionExpiry: .max, receiveMaximum: maxInFlight)
        context.logger.info("process started", metadata: ["process.name": "\(context.name)", "mqtt.topic": "\(filter)"])
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                var running = 0
                for await delivery in subscription {
                    if running >= maxInFlight {
                        await group.next()
                        running -= 1
                    }
                    running += 1
                    group.addTask { await handle(delivery, listen: listen) }
                }
            }
        } onGracefulShutdown: {
            Task { await subscription.close() }
        }
        context.logger.info("process stopped", metadata: ["process.name": "\(context.name)"])
    }

    /// One message from Listen to acknowledgement.
    func handle(_ delivery: BrokerDelivery, listen: ListenDefinition.MQTTListen) async {
        var properties = ["qos": "\(delivery.qos.rawValue)", "retain": "\(delivery.retain)", "dup": "\(delivery.dup)"]
        for (name, value) in delivery.properties.userProperties { properties[name] = value }
        if let contentType = delivery.properties.contentType { properties["contentType"] = contentType }
        var document = Document(id: UUID().uuidString.lowercased(), topic: delivery.topic, payload: delivery.payload,
                                properties: properties)
        do {
            try await context.applyOptions(listen.options, to: &document)
            await context.track(.received, document, connector: listen.connector, qos: delivery.qos)
            _ = try await context.run(context.definition.steps, [document])
            await context.track(.completed, document)
            await delivery.ack()
        } catch {
            let processError = error as? ProcessError ?? ProcessError(message: "\(error)", permanent: false)
            await context.track(.failed, document, step: processError.step, error: processError.message)
            if await deadLetter(document, error: processError) {
                await delivery.ack()
            } else {
                context.logger.error("document failed and stays unacknowledged", metadata: [
                    "process.name": "\(context.name)", "message.id": "\(document.id)", "error": "\(processError.message)",
                ])
            }
        }
    }

    /// Sends the document as received to `onError.deadLetter`; true when it is there.
    func deadLetter(_ document: Document, error: ProcessError) async -> Bool {
        guard let dead = context.definition.onError.deadLetter, let connector = context.connectors[dead.connector] else { return false }
        var letter = document
        letter.properties["error"] = error.message
        do {
            let target: SendDefinition.Target = connector.isMQTT
                ? .mqtt(topic: dead.target, qos: .atLeastOnce, retain: false,
                        userProperties: [("junction.error", try Template(parsing: "{{properties.error}}"))], maxMessageSize: .max)
                : .file(name: dead.target, append: false)
            let (topic, _) = try await context.perform(SendDefinition(connector: dead.connector, target: target), letter, step: nil)
            await context.track(.deadLettered, letter, connector: dead.connector, topic: topic, error: error.message)
            return true
        } catch {
            context.logger.error("dead letter failed", metadata: ["process.name": "\(context.name)", "error": "\(error)"])
            return false
        }
    }
}
