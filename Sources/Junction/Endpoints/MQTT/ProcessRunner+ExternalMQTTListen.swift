import Foundation
import MQTTClient
import MQTTCore
import ServiceLifecycle

extension ProcessRunner {
    /// The client id of this process's Listen session on an external broker.
    func externalClientID(_ connector: String, _ definition: MQTTConnectorDefinition) -> String {
        "\(ExternalMQTTClients.baseClientID(connector, definition))-\(context.name)"
    }

    /// MQTT Listen on an external broker through MQTTClient: a persistent session of its own
    /// (clean start off, the connector's session expiry, Receive Maximum = maxInFlight), manual
    /// acknowledgement after the last step finished or the document was dead-lettered. A failed
    /// document stays unacknowledged and comes again when the session resumes.
    func runExternalMQTT(_ listen: ListenDefinition.MQTTListen, _ definition: MQTTConnectorDefinition) async throws {
        let maxInFlight = context.definition.maxInFlight
        let clientID = externalClientID(listen.connector, definition)
        var configuration = ExternalMQTTClients.configuration(definition, clientID: clientID, persistent: true,
                                                              receiveMaximum: maxInFlight)
        if freshSession { configuration.cleanStart = true }
        guard let client = await ExternalMQTTClients.connect(configuration, connector: listen.connector, logger: context.logger) else {
            return  // shut down before the broker could be reached
        }
        let filter = listen.shared.map { "$share/\($0)/\(listen.topic.filter)" } ?? listen.topic.filter
        let subscription = MQTTSubscription(topicFilter: filter, qos: listen.qos, noLocal: listen.noLocal,
                                            retainAsPublished: listen.retainAsPublished, retainHandling: listen.retainHandling)
        do {
            try await client.subscribe(to: [subscription], acknowledgement: .manual, unsubscribeOnExit: false) { messages in
                started([
                    "process.name": "\(context.name)", "connector.name": "\(listen.connector)", "mqtt.topic": "\(filter)",
                ])
                // The messages reach the workers through a stream that graceful shutdown ends, so
                // the documents in flight finish (and are acknowledged) before the client closes.
                let (events, continuation) = AsyncStream.makeStream(of: MQTTMessage.self)
                let reader = Task {
                    do {
                        for try await message in messages { continuation.yield(message) }
                    } catch {
                        context.logger.error("external subscription ended", metadata: ["process.name": "\(context.name)", "error": "\(error)"])
                    }
                    continuation.finish()
                }
                await withGracefulShutdownHandler {
                    await Self.forEach(events, atMost: maxInFlight) { message in
                        var document = Document(
                            id: DocumentID.make(), topic: message.topic, payload: message.payload,
                            properties: Self.properties(qos: message.qos, retain: message.retain, dup: message.dup, message.properties))
                        if case .failed = await process(&document, connector: listen.connector, options: listen.options, qos: message.qos) {
                            return  // stays unacknowledged: redelivered when the session resumes
                        }
                        do {
                            try await message.ack()
                        } catch {
                            context.logger.warning("acknowledgement failed", metadata: [
                                "process.name": "\(context.name)", "message.id": "\(document.id)", "error": "\(error)",
                            ])
                        }
                    }
                } onGracefulShutdown: {
                    continuation.finish()
                }
                reader.cancel()
            }
        } catch {
            await client.disconnect()
            throw ProcessError(message: "listen on \(listen.connector) \(filter) failed: \(error)", permanent: false)
        }
        await client.disconnect()
        context.logger.info("process stopped", metadata: ["process.name": "\(context.name)"])
    }
}
