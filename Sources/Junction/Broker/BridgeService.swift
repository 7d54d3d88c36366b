import Foundation
import Logging
import MQTTBroker
import MQTTClient
import MQTTCore
import ServiceLifecycle
import Synchronization

/// The embedded broker's bridge to an external broker (docs/design.md, the `bridge` section of the
/// `mqtt-broker` connector), like Mosquitto's.
///
/// - Outward: a persistent in-process session on the embedded broker subscribes to the local
///   filters; each delivery is renamed (local prefix → remote prefix), stored in the durable
///   outbox queue `bridge:<broker connector>`, and only then acknowledged locally. The outbox's
///   forwarder publishes it upstream in order, waiting out link failures.
/// - Inward: a persistent session on the external broker (manual acknowledgement) subscribes to
///   the remote filters; each message is renamed back and published on the embedded broker,
///   then acknowledged upstream.
/// - No loops: the local subscriptions are No Local and inward messages are published under the
///   bridge's in-process session id, so the bridge never takes its own messages back out; upstream, the same
///   client publishes and subscribes with No Local (MQTT 5; on 3.1.1 overlapping in and out
///   filters are refused at load).
final class BridgeService: Service, Sendable {
    let name: String
    let definition: BridgeDefinition
    let broker: MQTTBroker
    let link: ExternalMQTTConnection
    let clientID: String
    /// The bridge's in-process session on the embedded broker, `junction.bridge.<connector>`
    /// (a reserved client id no network client can take over).
    var sessionID: String { MQTTBroker.inProcessClientID("bridge", name) }
    let logger: Logger

    /// The bridge of the broker connector in `definitions`, if it has one that can run.
    static func make(definitions: Definitions, broker: MQTTBroker?, mqtt: ExternalMQTTClients, logger: Logger) -> BridgeService? {
        guard let broker, let connector = definitions.broker, case .mqttBroker(let brokerDefinition) = connector.kind,
              let bridge = brokerDefinition.bridge
        else { return nil }
        guard case .mqtt(let remote)? = definitions.connectors[bridge.connector]?.kind else {
            logger.error("bridge not started: its connector is not a loaded mqtt connector", metadata: ["connector.name": "\(bridge.connector)"])
            return nil
        }
        if let problem = ExternalMQTTClients.problem(remote) {
            logger.error("bridge not started", metadata: ["connector.name": "\(bridge.connector)", "error": "\(problem)"])
            return nil
        }
        let clientID = bridge.clientID ?? "junction-bridge-\(connector.name)"
        let configuration = ExternalMQTTClients.configuration(remote, clientID: clientID, persistent: true)
        let outbox = remote.storeAndForward.enabled
            ? mqtt.outboxStore.map { OutboxQueue(name: "bridge:\(connector.name)", store: $0, limits: remote.storeAndForward, logger: logger) }
            : nil
        let link = ExternalMQTTConnection(connector: bridge.connector, configuration: configuration, logger: logger, outbox: outbox)
        // The in-process sessions of the processes listening on the embedded broker (named as
        // ProcessRunner.clientID names them): inward messages wait until they exist.
        let sessions = definitions.processes.values.compactMap { process -> String? in
            guard case .mqtt(let listen) = process.listen, listen.connector == connector.name else { return nil }
            return MQTTBroker.inProcessClientID("process", process.name)
        }
        return BridgeService(name: connector.name, definition: bridge, broker: broker, link: link, clientID: clientID,
                             processSessions: sessions.sorted(), logger: logger)
    }

    /// Process sessions on the embedded broker that inward messages wait for at start.
    let processSessions: [String]

    private init(name: String, definition: BridgeDefinition, broker: MQTTBroker, link: ExternalMQTTConnection, clientID: String,
                 processSessions: [String], logger: Logger) {
        self.processSessions = processSessions
        self.name = name
        self.definition = definition
        self.broker = broker
        self.link = link
        self.clientID = clientID
        self.logger = logger
    }

    var metadata: Logger.Metadata { ["bridge.name": "\(name)", "connector.name": "\(definition.connector)", "client.id": "\(clientID)"] }

    func run() async throws {
        logger.info("bridge started", metadata: metadata)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await self.link.run()
                } catch {
                    self.logger.error("bridge connection ended", metadata: self.metadata.merging(["error": "\(error)"]) { $1 })
                }
            }
            if definition.topics.contains(where: \.direction.outward) { group.addTask { await self.runOutward() } }
            if definition.topics.contains(where: \.direction.inward) { group.addTask { await self.runInward() } }
        }
        logger.info("bridge stopped", metadata: metadata)
    }

    // MARK: Outward

    /// The local topic renamed for the external broker, by the first outward topic it matches.
    func remoteTopic(for topic: String) -> String? {
        for entry in definition.topics where entry.direction.outward && MQTTTopic.matches(filter: entry.localFilter, topic: topic) {
            guard topic.hasPrefix(entry.localPrefix) else { continue }
            return entry.remotePrefix + topic.dropFirst(entry.localPrefix.count)
        }
        return nil
    }

    /// The external topic renamed for the embedded broker, by the first inward topic it matches.
    func localTopic(for topic: String) -> String? {
        for entry in definition.topics where entry.direction.inward && MQTTTopic.matches(filter: entry.remoteFilter, topic: topic) {
            guard topic.hasPrefix(entry.remotePrefix) else { continue }
            return entry.localPrefix + topic.dropFirst(entry.remotePrefix.count)
        }
        return nil
    }

    static func forwardedProperties(_ properties: MQTTProperties) -> MQTTProperties {
        var properties = properties
        properties.remove(.subscriptionIdentifier)
        properties.remove(.topicAlias)
        return properties
    }

    private func runOutward() async {
        let subscriptions = definition.topics.filter(\.direction.outward).map {
            MQTTSubscription(topicFilter: $0.localFilter, qos: $0.qos, noLocal: true, retainAsPublished: true)
        }
        var failures = 0
        var subscription: BrokerSubscription?
        while subscription == nil && !Task.isShuttingDownGracefully {
            do {
                subscription = try await broker.subscribe(clientID: sessionID, subscriptions: subscriptions, cleanStart: false,
                                                          sessionExpiry: .max, receiveMaximum: 256)
            } catch {
                failures += 1
                logger.error("bridge cannot subscribe on the embedded broker", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                let count = failures
                await cancelWhenGracefulShutdown { await OutboxForwarder.pause(count) }
            }
        }
        guard let subscription else { return }
        // Deliveries are gathered while the previous batch is stored, so one transaction takes
        // everything that arrived meanwhile.
        let inbox = DeliveryInbox()
        let reader = Task {
            for await delivery in subscription { inbox.add(delivery) }
            inbox.finish()
        }
        await withGracefulShutdownHandler {
            while let batch = await inbox.next() {
                guard await self.store(batch) else { break }
            }
        } onGracefulShutdown: {
            Task { await subscription.close() }
        }
        await subscription.close()
        reader.cancel()
    }

    /// Stores (or, without an outbox, publishes) a batch in order and acknowledges each message
    /// once it is stored; false when shutting down.
    private func store(_ batch: [BrokerDelivery]) async -> Bool {
        // At most QoS 1 upstream: the bridge's session there is persistent (for the inward
        // direction), and a QoS 2 flow cut by a restart would leave a packet identifier awaiting
        // PUBREL that the next run's first QoS 2 publish could reuse, and the broker would drop it.
        var pending: [(BrokerDelivery, OutboxMessage?)] = batch.map { delivery in
            (delivery, remoteTopic(for: delivery.topic).map {
                OutboxMessage(topic: $0, payload: delivery.payload, qos: min(delivery.qos, .atLeastOnce), retain: delivery.retain,
                              properties: Self.forwardedProperties(delivery.properties))
            })
        }
        var failures = 0
        while !pending.isEmpty {
            let (delivery, message) = pending[0]
            guard let message else {  // a parent level matched by "#" but outside the prefix
                await delivery.ack()
                pending.removeFirst()
                continue
            }
            guard let outbox = link.outbox else {
                guard await publishUpstream(message) else { return false }
                await delivery.ack()
                pending.removeFirst()
                continue
            }
            let run = Array(pending.prefix { $0.1 != nil })
            do {
                // A full outbox holds QoS 1/2 messages back (in the broker session); QoS 0 ones
                // are dropped, as a full session queue drops them first.
                let stored = try await outbox.enqueue(run.compactMap(\.1), whenFull: message.qos == .atMostOnce ? .deadLetter : .block)
                for (delivery, _) in run.prefix(stored.count) { await delivery.ack() }
                pending.removeFirst(stored.count)
                failures = 0
            } catch OutboxQueue.Refusal.full {
                logger.debug("outbox full: QoS 0 message dropped", metadata: metadata.merging(["mqtt.topic": "\(message.topic)"]) { $1 })
                pending.removeFirst()
            } catch OutboxQueue.Refusal.tooLarge(let size) {
                // It can never fit: forwarded directly instead, acknowledged once confirmed.
                logger.warning("bridged message larger than the outbox; forwarding it without storing", metadata: metadata.merging([
                    "mqtt.topic": "\(message.topic)", "message.bytes": "\(size)",
                ]) { $1 })
                guard await publishUpstream(message) else { return false }
                await delivery.ack()
                pending.removeFirst()
            } catch {
                failures += 1
                logger.error("bridge cannot store in the outbox", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                if Task.isShuttingDownGracefully { return false }
                await OutboxForwarder.pause(failures)
            }
        }
        return true
    }

    /// Without an outbox: publishes directly, waiting for the link; false when shutting down.
    private func publishUpstream(_ message: OutboxMessage) async -> Bool {
        var failures = 0
        while !Task.isShuttingDownGracefully {
            guard let client = await cancelWhenGracefulShutdown({ await self.link.waitForClient() }) else { return false }
            do {
                try await client.publish(to: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
                                         properties: message.properties)
                return true
            } catch {
                if OutboxForwarder.isPermanent(error) {
                    logger.error("the external broker refused a bridged message; it is dropped", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                    return true
                }
                failures += 1
                await OutboxForwarder.pause(failures)
            }
        }
        return false
    }
}
