import Foundation
import Logging
import MQTTBroker
import MQTTCore
import NIOCore
import ServiceLifecycle

/// One running process (docs/design.md): a `Service` that takes documents from its Listen, runs the
/// steps with at most `maxInFlight` documents at once, and acknowledges each message only after
/// its last step finished or it was dead-lettered. A message that failed with no dead letter
/// stays unacknowledged in the process's broker session and comes again when the session resumes.
public struct ProcessRunner: Service {
    public let context: ProcessContext
    /// Start the Listen's broker session clean once (after a reload changed its subscription, so
    /// the old filter does not stay subscribed in the persistent session).
    public var freshSession = false

    /// Called once the Listen is established (subscribed, polling or routed): messages from then
    /// on reach the process. The daemon reports the process `running` (and `/ready`) then.
    public var onStarted: @Sendable () -> Void = {}

    public init(context: ProcessContext) { self.context = context }

    /// The Listen is established: logged as `process started` with `metadata`, and reported.
    func started(_ metadata: Logger.Metadata) {
        context.logger.info("process started", metadata: metadata)
        onStarted()
    }

    /// The in-process broker session of the process: persistent, named after it.
    public var clientID: String { MQTTBroker.inProcessClientID("process", context.name) }

    /// Whether the process's documents run inline: an embedded MQTT Listen and steps that only
    /// transform and send to the embedded broker (see ``ProcessContext/runsInline(listen:)``).
    public var runsInline: Bool {
        guard case .mqtt(let listen) = context.definition.listen, case .mqttBroker? = context.connectors[listen.connector]?.kind else { return false }
        return context.runsInline(listen: listen.options)
    }

    public func run() async throws {
        try context.checkEndpoints()
        switch context.definition.listen {
        case .mqtt(let listen):
            if case .mqtt(let external)? = context.connectors[listen.connector]?.kind {
                try await runExternalMQTT(listen, external)
            } else {
                try await runEmbeddedMQTT(listen)
            }
        case .file(let listen): try await runFileListen(listen)
        case .http(let listen): try await runHTTPListen(listen)
        }
    }

    /// Runs `handle` for every element of `elements`, at most `limit` at a time (the process's
    /// `maxInFlight`); returns when the sequence ended and every handler finished. `limit`
    /// worker tasks take the elements from a ``WorkQueue`` (at most `limit` waiting in it): no
    /// task is made per element.
    static func forEach<Elements: AsyncSequence>(_ elements: Elements, atMost limit: Int,
                                                 _ handle: @escaping @Sendable (Elements.Element) async -> Void) async
        where Elements.Failure == Never, Elements.Element: Sendable {
        let queue = WorkQueue<Elements.Element>(capacity: limit)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, limit) {
                group.addTask {
                    while let element = await queue.next() { await handle(element) }
                }
            }
            for await element in elements { await queue.push(element) }
            queue.finish()
        }
    }

    /// How a document's trip through the process ended.
    public enum Outcome: Sendable {
        /// Every step finished; the documents that came out of the last step.
        case completed([Document])
        /// A step failed and the document went to the dead letter.
        case deadLettered(ProcessError)
        /// A step failed and there is no (working) dead letter: do not acknowledge.
        case failed(ProcessError)
    }

    /// One document from Listen to its outcome, tracked at every hop. Every listen kind calls
    /// this and then acknowledges (MQTT), answers (HTTP) or moves the file as the outcome says.
    public func process(_ document: inout Document, connector: String, options: OperationOptions, qos: MQTTQoS?) async -> Outcome {
        do {
            try await context.applyOptions(options, to: &document)
            context.track(.received, document, connector: connector, qos: qos)
            let outputs = try await context.run(context.definition.steps, [document])
            context.track(.completed, document)
            return .completed(outputs)
        } catch {
            return await fail(document, error)
        }
    }

    /// A step failed: tracked `failed`, then the dead letter if there is one that works.
    func fail(_ document: Document, _ error: any Error) async -> Outcome {
        let processError = error as? ProcessError ?? ProcessError(message: "\(error)", permanent: false)
        context.track(.failed, document, step: processError.step, error: processError.message)
        if await deadLetter(document, error: processError) { return .deadLettered(processError) }
        context.logger.error("document failed", metadata: [
            "process.name": "\(context.name)", "message.id": "\(document.id)", "error": "\(processError.message)",
        ])
        return .failed(processError)
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
            let (topic, _) = try await context.perform(SendDefinition(connector: dead.connector, target: target), &letter, step: nil)
            context.track(.deadLettered, letter, connector: dead.connector, topic: topic, error: error.message)
            return true
        } catch {
            context.logger.error("dead letter failed", metadata: ["process.name": "\(context.name)", "error": "\(error)"])
            return false
        }
    }
}
