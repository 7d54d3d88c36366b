import MQTTCore
import NIOCore
import Synchronization

/// In-process publishes on their way to the broker's loop, applied in batches: the first one
/// queued schedules a task on the loop that routes every message queued by then, so many
/// engine tasks publishing at once cost the loop one task (and one wake-up) per batch.
final class LocalPublishQueue: Sendable {
    struct Request: @unchecked Sendable {
        var packet: MQTTPublishPacket?
        var publisher: String?
        var completion: Completion
    }

    /// What happens once a request's message is routed (and durable, where that is asked).
    enum Completion {
        /// Resumed exactly once, on the loop, with the number of sessions the message went to.
        case resume(UnsafeContinuation<Int, any Error>)
        /// Acknowledge an in-process delivery once what this and the requests since the last
        /// acknowledgement recorded is durable (see ``MQTTBroker/forward(_:acknowledging:)``).
        case acknowledge(LocalAcknowledger, id: UInt16, epoch: UInt64)
        /// Nothing to report (a forwarded message that is not the last of its document).
        case none
    }

    private let pending = Mutex<[Request]>([])

    /// Queues `requests`; the loop applies them in order, after what was queued before them.
    func enqueue(_ requests: some Collection<Request>, state: NIOLoopBoundBox<BrokerState>, restored: EventLoopFuture<Void>) {
        let first = pending.withLock { pending in
            let wasEmpty = pending.isEmpty
            pending.append(contentsOf: requests)
            return wasEmpty
        }
        guard first else { return }
        let loop = restored.eventLoop
        loop.execute { [self] in
            // Completed (and so run inline) except in the moments before the store is restored.
            restored.assumeIsolated().whenComplete { result in
                let batch = self.pending.withLock { pending in
                    defer { pending.removeAll(keepingCapacity: true) }
                    return pending
                }
                if case .failure(let error) = result {
                    // Forwarded documents stay unacknowledged: delivered again when the session resumes.
                    for request in batch { if case .resume(let continuation) = request.completion { continuation.resume(throwing: error) } }
                    return
                }
                Self.apply(batch, state.value)
            }
        }
    }

    /// Routes the batch. With a data directory, a QoS 1/2 message counts as published once what
    /// it recorded (retained message, deliveries to persistent sessions) is durable; one that
    /// recorded nothing is done at once. An acknowledgement waits for what the messages of its
    /// document (the requests since the previous acknowledgement) recorded.
    private static func apply(_ batch: [Request], _ state: BrokerState) {
        let now = NIODeadline.now()
        var waiting: [(UnsafeContinuation<Int, any Error>, Int)] = []
        var acknowledgeNow: [LocalAcknowledger.Acknowledgement] = []
        var acknowledgeWhenDurable: [LocalAcknowledger.Acknowledgement] = []
        var recorded = false
        for request in batch {
            var matched = 0
            if let packet = request.packet {
                let journal = state.journal
                let changesBefore = journal?.changeCount
                matched = state.publish(BrokerMessage(packet, topic: packet.topic, publisher: request.publisher, now: now))
                if packet.qos != .atMostOnce, let journal, journal.changeCount != changesBefore { recorded = true }
            }
            switch request.completion {
            case .resume(let continuation):
                if recorded { waiting.append((continuation, matched)) } else { continuation.resume(returning: matched) }
                recorded = false
            case .acknowledge(let acknowledger, let id, let epoch):
                let acknowledgement = LocalAcknowledger.Acknowledgement(acknowledger: acknowledger, id: id, epoch: epoch)
                if recorded { acknowledgeWhenDurable.append(acknowledgement) } else { acknowledgeNow.append(acknowledgement) }
                recorded = false
            case .none:
                break
            }
        }
        LocalAcknowledger.apply(acknowledgeNow, state)
        if !(waiting.isEmpty && acknowledgeWhenDurable.isEmpty), let journal = state.journal {
            journal.whenDurable().assumeIsolated().whenComplete { result in
                for (continuation, matched) in waiting {
                    switch result {
                    case .success: continuation.resume(returning: matched)
                    case .failure(let error): continuation.resume(throwing: error)
                    }
                }
                // Not durable: the documents stay unacknowledged and come again.
                if case .success = result { LocalAcknowledger.apply(acknowledgeWhenDurable, state) }
            }
        }
        state.flushSoon()
    }
}
