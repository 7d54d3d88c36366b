import Foundation
import Logging
import MQTTClient
import MQTTCore

/// Sends the messages of one ``OutboxQueue`` to the external broker in order, one at a time:
/// a message is deleted only after its publish completed (PUBACK for QoS 1, PUBCOMP for QoS 2,
/// written for QoS 0). While the link is down the publish in progress waits in the client and
/// is sent again when it reconnects; a message the broker refuses for good (a failure reason
/// code, too large, an invalid topic) or whose Message Expiry passed is logged and dropped, so
/// it cannot hold up the rest.
struct OutboxForwarder: Sendable {
    let queue: OutboxQueue
    let link: ExternalMQTTConnection
    let logger: Logger
    static let batchSize = 64

    /// Runs until the task is cancelled.
    func run() async {
        var last: Int64 = 0
        var failures = 0
        if (try? await queue.prepare()) != nil, queue.totals.count > 0 {
            logger.notice("outbox holds messages from before the start; forwarding them first", metadata: [
                "outbox.queue": "\(queue.name)", "outbox.messages": "\(queue.totals.count)", "outbox.bytes": "\(queue.totals.bytes)",
            ])
        }
        while !Task.isCancelled {
            let seen = queue.arrived.generation
            let batch: [Result<OutboxMessage, OutboxStore.UndecodableRow>]
            do {
                try await queue.prepare()
                batch = try await queue.store.messages(queue.name, after: last, limit: Self.batchSize)
                failures = 0
            } catch {
                failures += 1
                logger.error("cannot read the outbox", metadata: ["outbox.queue": "\(queue.name)", "error": "\(error)"])
                await Self.pause(failures)
                continue
            }
            if batch.isEmpty {
                await queue.arrived.wait(since: seen)
                continue
            }
            var done: [Int64] = []
            var bytes = 0
            for row in batch {
                let message: OutboxMessage
                switch row {
                case .success(let decoded): message = decoded
                case .failure(let bad):
                    logger.error("outbox row cannot be read; it is dropped", metadata: [
                        "outbox.queue": "\(queue.name)", "outbox.id": "\(bad.id)", "error": "\(bad.reason)",
                    ])
                    queue.forwarded(bad.id, refusal: "unreadable outbox row")
                    done.append(bad.id)
                    bytes += bad.bytes
                    last = bad.id
                    continue
                }
                if !queue.isLinkUp && !done.isEmpty {
                    // The next publish waits for the link: free the room of those already confirmed.
                    await delete(done, bytes: bytes)
                    (done, bytes) = ([], 0)
                }
                guard let refusal = await forward(message) else { break }  // cancelled: the rest stays stored
                queue.forwarded(message.id, refusal: refusal.reason)
                done.append(message.id)
                bytes += message.size
                last = message.id
            }
            await delete(done, bytes: bytes)
        }
    }

    /// nil when cancelled; a reason when the message was dropped.
    private struct Handled { var reason: String? }

    private func forward(_ message: OutboxMessage) async -> Handled? {
        var failures = 0
        while true {
            guard let client = await link.waitForClient(), !Task.isCancelled else { return nil }
            var properties = message.properties
            properties.remove(.subscriptionIdentifier)
            properties.remove(.topicAlias)
            if let expiry = message.properties.messageExpiryInterval {
                let waited = UInt32(clamping: Int(Date().timeIntervalSince(message.storedAt)))
                guard waited < expiry else {
                    logger.info("outbox message expired before it could be forwarded", metadata: metadata(message))
                    return Handled(reason: "message expired in the outbox")
                }
                properties.set(.messageExpiryInterval, .messageExpiryInterval(expiry - waited))
            }
            do {
                try await client.publish(to: message.topic, payload: message.payload, qos: message.qos, retain: message.retain,
                                         properties: properties)
                return Handled(reason: nil)
            } catch {
                if Task.isCancelled { return nil }
                if Self.isPermanent(error) {
                    var details = metadata(message)
                    details["error"] = "\(error)"
                    logger.error("the external broker refused an outbox message; it is dropped", metadata: details)
                    return Handled(reason: "\(error)")
                }
                failures += 1
                var details = metadata(message)
                details["error"] = "\(error)"
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
