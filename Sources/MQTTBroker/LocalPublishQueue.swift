import MQTTCore
import NIOCore
import Synchronization

/// In-process publishes on their way to the broker's loop, applied in batches: the first one
/// queued schedules a task on the loop that routes every message queued by then, so many
/// engine tasks publishing at once cost the loop one task (and one wake-up) per batch.
final class LocalPublishQueue: Sendable {
    struct Request: @unchecked Sendable {
        var packet: MQTTPublishPacket
        var publisher: String?
        /// Resumed exactly once, on the loop, with the number of sessions the message went to.
        var continuation: UnsafeContinuation<Int, any Error>
    }

    private let pending = Mutex<[Request]>([])

    /// Queues `request`; the loop applies it after what was queued before it.
    func enqueue(_ request: Request, state: NIOLoopBoundBox<BrokerState>, restored: EventLoopFuture<Void>) {
        let first = pending.withLock { pending in
            pending.append(request)
            return pending.count == 1
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
                    for request in batch { request.continuation.resume(throwing: error) }
                    return
                }
                Self.apply(batch, state.value)
            }
        }
    }

    /// Routes the batch. With a data directory, a QoS 1/2 message counts as published once what
    /// it recorded (retained message, deliveries to persistent sessions) is durable; one that
    /// recorded nothing is done at once.
    private static func apply(_ batch: [Request], _ state: BrokerState) {
        let now = NIODeadline.now()
        var waiting: [(UnsafeContinuation<Int, any Error>, Int)] = []
        for request in batch {
            let journal = state.journal
            let changesBefore = journal?.changeCount
            let matched = state.publish(BrokerMessage(request.packet, topic: request.packet.topic, publisher: request.publisher, now: now))
            if request.packet.qos != .atMostOnce, let journal, journal.changeCount != changesBefore {
                waiting.append((request.continuation, matched))
            } else {
                request.continuation.resume(returning: matched)
            }
        }
        if !waiting.isEmpty, let journal = state.journal {
            journal.whenDurable().assumeIsolated().whenComplete { result in
                for (continuation, matched) in waiting {
                    switch result {
                    case .success: continuation.resume(returning: matched)
                    case .failure(let error): continuation.resume(throwing: error)
                    }
                }
            }
        }
        state.flushSoon()
    }
}
