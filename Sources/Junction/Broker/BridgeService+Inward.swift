import Logging
import MQTTClient
import MQTTCore
import NIOCore
import ServiceLifecycle

extension BridgeService {
    /// Inward: subscribes upstream (persistent session, manual acknowledgement, No Local) and
    /// publishes each message on the embedded broker before acknowledging it upstream, so a
    /// message is never acknowledged before the embedded broker took it. Resubscribes after
    /// the subscription fails; ends at graceful shutdown (when the link disconnects). It starts
    /// once the processes listening on the embedded broker have their sessions (at most 10 s), so
    /// what waited upstream while the daemon was down is not published before anyone subscribed.
    func runInward() async {
        await waitForProcessSessions(timeout: .seconds(10))
        let subscriptions = definition.topics.filter(\.direction.inward).map {
            MQTTSubscription(topicFilter: $0.remoteFilter, qos: $0.qos, noLocal: true, retainAsPublished: true)
        }
        var failures = 0
        while !Task.isShuttingDownGracefully {
            guard let client = await cancelWhenGracefulShutdown({ await self.link.waitForClient() }), !Task.isShuttingDownGracefully else { return }
            do {
                try await client.subscribe(to: subscriptions, acknowledgement: .manual, unsubscribeOnExit: false) { messages in
                    logger.info("bridge subscribed upstream", metadata: metadata.merging(["mqtt.topic": "\(subscriptions.map(\.topicFilter))"]) { $1 })
                    failures = 0
                    for try await message in messages {
                        try await bringIn(message)
                    }
                }
            } catch {
                if Task.isShuttingDownGracefully { return }
                failures += 1
                logger.warning("bridge subscription upstream ended; subscribing again", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                let count = failures
                await cancelWhenGracefulShutdown { await OutboxForwarder.pause(count) }
            }
        }
    }

    /// Waits until every process session exists (the broker answers when the last attaches) or `timeout`.
    private func waitForProcessSessions(timeout: TimeAmount) async {
        let missing: [String]
        do {
            // Cancelled at graceful shutdown: the wait ends at once.
            missing = try await cancelWhenGracefulShutdown { try await self.broker.waitForSessions(self.processSessions, timeout: timeout) }
        } catch {
            logger.warning("bridge could not wait for the process sessions", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            return
        }
        if !missing.isEmpty {
            logger.warning("bridge brings messages in before these process sessions exist", metadata: metadata.merging(["client.id": "\(missing)"]) { $1 })
        }
    }

    /// Publishes one upstream message on the embedded broker, then acknowledges it upstream.
    private func bringIn(_ message: MQTTMessage) async throws {
        guard let topic = localTopic(for: message.topic) else {
            try await message.ack()  // a parent level matched by "#" but outside the prefix
            return
        }
        try await broker.publish(topic: topic, payload: message.payload, qos: message.qos, retain: message.retain,
                                 properties: Self.forwardedProperties(message.properties), publisher: sessionID)
        try await message.ack()
    }
}
