import DequeModule
import Foundation
import Logging
import MQTTClient
import MQTTCore

/// Sends the messages of one ``OutboxQueue`` to the external broker in order, up to ``window``
/// in flight (the client keeps their order on the wire, so the rate is not one round trip per
/// message): a message is deleted only after its publish completed (PUBACK for QoS 1, PUBCOMP for
/// QoS 2, written for QoS 0). While the link is down the publishes in progress wait in the client
/// and are sent again when it reconnects; a message the broker refuses for good (a failure reason
/// code, too large, an invalid topic) or whose Message Expiry passed is logged and dropped, so it
/// cannot hold up the rest. One refused for now (quota exceeded, server busy) is sent again alone
/// after a pause, behind those already in flight.
struct OutboxForwarder: Sendable {
    let queue: OutboxQueue
    let link: ExternalMQTTConnection
    let logger: Logger
    static let batchSize = 64
    /// Publishes in flight at most (the external broker's Receive Maximum may allow fewer).
    static let window = 32

    /// Runs until the task is cancelled.
    func run() async {
        var read: Int64 = 0  // the last row started, or dropped without sending
        var failures = 0
        var inFlight = Deque<(message: OutboxMessage, publish: MQTTPublishInProgress)>()
        var done: [Int64] = []
        var bytes = 0
        func finish(_ id: Int64, size: Int, refusal: String?) {
            queue.forwarded(id, refusal: refusal)
            done.append(id)
            bytes += size
        }
        /// Waits for the oldest publish in flight; false when cancelled.
        func settleOldest() async -> Bool {
            let (message, publish) = inFlight.removeFirst()
            guard let handled = await forward(message, started: publish) else { return false }
            finish(message.id, size: message.size, refusal: handled.reason)
            return true
        }
        if (try? await queue.prepare()) != nil, queue.totals.count > 0 {
            logger.notice("outbox holds messages from before the start; forwarding them first", metadata: [
                "outbox.queue": "\(queue.name)", "outbox.messages": "\(queue.totals.count)", "outbox.bytes": "\(queue.totals.bytes)",
            ])
        }
        forwarding: while !Task.isCancelled {
            if !done.isEmpty && (inFlight.isEmpty || done.count >= Self.batchSize) {
                // Confirmed messages leave the outbox (one synced write for many), which frees
                // room for sends that wait for it.
                await delete(done, bytes: bytes)
                (done, bytes) = ([], 0)
            }
            let seen = queue.arrived.generation
            let batch: [Result<OutboxMessage, OutboxStore.UndecodableRow>]
            do {
                try await queue.prepare()
                batch = try await queue.store.messages(queue.name, after: read, limit: Self.batchSize)
                failures = 0
            } catch {
                failures += 1
                logger.error("cannot read the outbox", metadata: ["outbox.queue": "\(queue.name)", "error": "\(error)"])
                await Self.pause(failures)
                continue
            }
            if batch.isEmpty {
                // Nothing new: wait for the oldest in flight, or for a message to arrive.
                if inFlight.isEmpty {
                    await queue.arrived.wait(since: seen)
                } else if !(await settleOldest()) {
                    break
                }
                continue
            }
            for row in batch {
                let message: OutboxMessage
                switch row {
                case .success(let decoded): message = decoded
                case .failure(let bad):
                    logger.error("outbox row cannot be read; it is dropped", metadata: [
                        "outbox.queue": "\(queue.name)", "outbox.id": "\(bad.id)", "error": "\(bad.reason)",
                    ])
                    finish(bad.id, size: bad.bytes, refusal: "unreadable outbox row")
                    read = bad.id
                    continue
                }
                if !queue.isLinkUp && !done.isEmpty {
                    // The next publish waits for the link: free the room of those already confirmed.
                    await delete(done, bytes: bytes)
                    (done, bytes) = ([], 0)
                }
                guard let client = await link.waitForClient(), !Task.isCancelled else { break forwarding }  // the rest stays stored
                switch start(message, on: client) {
                case .started(let publish):
                    inFlight.append((message, publish))
                case .expired:
                    // Nothing is sent for it; those in flight before it are settled first, in order.
                    while !inFlight.isEmpty { guard await settleOldest() else { break forwarding } }
                    finish(message.id, size: message.size, refusal: "message expired in the outbox")
                }
                read = message.id
                if inFlight.count >= Self.window, !(await settleOldest()) { break forwarding }
            }
        }
        // Cancelled: what was confirmed goes; what is still in flight stays stored and is sent again at the next start.
        await delete(done, bytes: bytes)
    }

    /// nil when cancelled; a reason when the message was dropped.
    private struct Handled { var reason: String? }

    private enum Start { case started(MQTTPublishInProgress), expired }

    /// Hands `message` to the client with its remaining Message Expiry, unless that passed.
    private func start(_ message: OutboxMessage, on client: MQTTClient) -> Start {
        guard let properties = forwardedProperties(message) else {
            logger.info("outbox message expired before it could be forwarded", metadata: metadata(message))
            return .expired
        }
        return .started(client.startPublish(to: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
                                            properties: properties))
    }

    /// The properties a message is forwarded with; nil when its Message Expiry passed in the outbox.
    private func forwardedProperties(_ message: OutboxMessage) -> MQTTProperties? {
        var properties = message.properties
        properties.remove(.subscriptionIdentifier)
        properties.remove(.topicAlias)
        if let expiry = message.properties.messageExpiryInterval {
            let waited = UInt32(clamping: Int(Date().timeIntervalSince(message.storedAt)))
            guard waited < expiry else { return nil }
            properties.set(.messageExpiryInterval, .messageExpiryInterval(expiry - waited))
        }
        return properties
    }

    /// Completes `message`: waits for `started` (its publish under way), and while the broker
    /// refuses it for now, sends it again alone after a pause. nil when cancelled.
    private func forward(_ message: OutboxMessage, started: MQTTPublishInProgress) async -> Handled? {
        var failures = 0
        var next: MQTTPublishInProgress? = started
        while true {
            let publish: MQTTPublishInProgress
            if let next {
                publish = next
            } else {
                guard let client = await link.waitForClient(), !Task.isCancelled else { return nil }
                switch start(message, on: client) {
                case .started(let again): publish = again
                case .expired: return Handled(reason: "message expired in the outbox")
                }
            }
            next = nil
            do {
                _ = try await publish.result()
                return Handled(reason: nil)
            } catch {
                if Task.isCancelled { return nil }
                var details = metadata(message)
                details["error"] = "\(error)"
                if Self.isPermanent(error) {
                    logger.error("the external broker refused an outbox message; it is dropped", metadata: details)
                    return Handled(reason: "\(error)")
                }
                failures += 1
                logger.warning("forwarding failed; trying again", metadata: details)
                await Self.pause(failures)
            }
        }
    }

    private func delete(_ ids: [Int64], bytes: Int) async {
        guard !ids.isEmpty else { return }
        var failures = 0
        while true {
            do {
                try await queue.store.delete(ids)
                queue.release(count: ids.count, bytes: bytes)
                return
            } catch {
                failures += 1
                logger.error("cannot delete forwarded messages from the outbox", metadata: ["outbox.queue": "\(queue.name)", "error": "\(error)"])
                if Task.isCancelled { return }  // they are sent again at the next start
                await Self.pause(failures)
            }
        }
    }

    private func metadata(_ message: OutboxMessage) -> Logger.Metadata {
        ["outbox.queue": "\(queue.name)", "mqtt.topic": "\(message.topic)", "outbox.id": "\(message.id)"]
    }

    /// Refusals that sending again cannot cure.
    static func isPermanent(_ error: MQTTClientError) -> Bool {
        switch error {
        case .publishFailed(let code, _): code != .quotaExceeded && code != .serverBusy
        case .packetTooLarge, .invalidTopicName, .qosNotSupported, .retainNotSupported, .encodingFailed: true
        default: false
        }
    }

    /// Backs off after consecutive failures: 100 ms doubling up to 5 s; cancellation ends it.
    static func pause(_ failures: Int) async {
        let milliseconds = min(5_000, 100 << min(failures - 1, 6))
        try? await Task.sleep(for: .milliseconds(milliseconds))
    }
}
