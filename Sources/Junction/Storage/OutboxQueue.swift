import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// One ordered queue of the durable outbox: the sends to one `mqtt` connector, or the outward
/// messages of a bridge. Bounded by `maxMessages` and `maxBytes`; a message is stored (synced)
/// before ``enqueue(_:whenFull:)`` returns, and leaves only after the external broker confirmed
/// it (see ``OutboxForwarder``).
final class OutboxQueue: Sendable {
    /// Why a message was not stored.
    enum Refusal: Error, CustomStringConvertible {
        /// `whenFull: deadLetter` and no room.
        case full(count: Int, bytes: Int)
        /// Larger than `maxBytes` on its own.
        case tooLarge(Int)

        var description: String {
            switch self {
            case .full(let count, let bytes): "outbox full (\(count) messages, \(Units.format(bytes: bytes)))"
            case .tooLarge(let size): "message of \(size) bytes is larger than the outbox (maxBytes)"
            }
        }
    }

    /// What became of a stored message, as far as its sender waits for it.
    enum Outcome: Sendable, Equatable {
        /// The external broker confirmed it (QoS 1/2) or it was written (QoS 0).
        case confirmed
        /// The link is down: it waits in the outbox.
        case queued
        /// The external broker refused it for good; it was removed.
        case refused(String)
    }

    private struct State {
        var count = 0
        var bytes = 0
        var linkUp = false
        /// Every message up to this id has been forwarded (or refused).
        var forwardedThrough: Int64 = 0
        var refused: [Int64: String] = [:]
    }

    let name: String
    let store: OutboxStore
    let limits: StoreAndForwardDefinition
    let logger: Logger
    private let state = Mutex(State())
    private let loading = Mutex<Task<Void, any Error>?>(nil)
    /// Room, link state or forwarding progress changed.
    let changed = ChangeSignal()
    /// A message was stored: the forwarder has work.
    let arrived = ChangeSignal()

    init(name: String, store: OutboxStore, limits: StoreAndForwardDefinition, logger: Logger) {
        self.name = name
        self.store = store
        self.limits = limits
        self.logger = logger
    }

    /// Counts what a previous run left in the queue, once.
    func prepare() async throws {
        let task = loading.withLock { task in
            if let task { return task }
            let made = Task {
                let (count, bytes) = try await self.store.totals(self.name)
                self.state.withLock { $0.count += count; $0.bytes += bytes }
            }
            task = made
            return made
        }
        do {
            try await task.value
        } catch {
            loading.withLock { $0 = nil }  // try again next time
            throw error
        }
    }

    var totals: (count: Int, bytes: Int) { state.withLock { ($0.count, $0.bytes) } }
    var isLinkUp: Bool { state.withLock { $0.linkUp } }

    /// Stores `message` at the end of the queue and returns its id; with no room, waits
    /// (`block`) or throws ``Refusal/full(count:bytes:)`` (`deadLetter`).
    func enqueue(_ message: OutboxMessage, whenFull: StoreAndForwardDefinition.WhenFull) async throws -> Int64 {
        let ids = try await enqueue([message], whenFull: whenFull)
        return ids[0]
    }

    /// Stores the longest prefix of `messages` there is room for (waiting for room for the first
    /// one, or refusing it, as `whenFull` says) in one transaction; returns the ids stored.
    func enqueue(_ messages: [OutboxMessage], whenFull: StoreAndForwardDefinition.WhenFull) async throws -> [Int64] {
        guard let first = messages.first else { return [] }
        try await prepare()
        guard first.size <= limits.maxBytes else { throw Refusal.tooLarge(first.size) }
        var taken: [OutboxMessage] = []
        var bytes = 0
        while taken.isEmpty {
            let seen = changed.generation
            // At shutdown a waiting sender stores beyond the bound (by at most the messages in
            // flight) rather than fail its document or hold the shutdown up.
            let overflow = whenFull == .block && (Task.isCancelled || Task.isShuttingDownGracefully)
            (taken, bytes) = state.withLock { state in
                var taken: [OutboxMessage] = []
                var bytes = 0
                for message in messages {
                    guard overflow || (state.count < limits.maxMessages && state.bytes + message.size <= limits.maxBytes) else { break }
                    state.count += 1
                    state.bytes += message.size
                    bytes += message.size
                    taken.append(message)
                }
                return (taken, bytes)
            }
            if !taken.isEmpty { break }
            if whenFull == .deadLetter { throw Refusal.full(count: limits.maxMessages, bytes: limits.maxBytes) }
            await withGracefulShutdownHandler {
                await changed.wait(since: seen)
            } onGracefulShutdown: { [changed] in
                changed.notify()
            }
        }
        let ids: [Int64]
        do {
            ids = try await store.append(name, taken)
        } catch {
            release(count: taken.count, bytes: bytes)
            throw error
        }
        arrived.notify()
        return ids
    }

    /// Waits while the link is up until message `id` was forwarded; `.queued` as soon as the
    /// link is (or goes) down, after `patience` (the messages ahead take long), or when the
    /// daemon shuts down.
    func outcome(of id: Int64, patience: Duration = .seconds(10)) async -> Outcome {
        var result = Outcome.queued
        let expired = Mutex(false)
        let timer = Task { [changed] in
            try await Task.sleep(for: patience)
            expired.withLock { $0 = true }
            changed.notify()
        }
        defer { timer.cancel() }
        _ = await withGracefulShutdownHandler {
            await changed.wait {
                state.withLock { state in
                    if state.forwardedThrough >= id {
                        result = state.refused.removeValue(forKey: id).map(Outcome.refused) ?? .confirmed
                        return true
                    }
                    return !state.linkUp || Task.isShuttingDownGracefully || expired.withLock { $0 }
                }
            }
        } onGracefulShutdown: { [changed] in
            changed.notify()
        }
        return result
    }

    /// The forwarder handled message `id` (the external broker confirmed or refused it).
    func forwarded(_ id: Int64, refusal: String?) {
        state.withLock { state in
            state.forwardedThrough = max(state.forwardedThrough, id)
            if let refusal {
                state.refused[id] = refusal
                if state.refused.count > 1_000, let oldest = state.refused.keys.min() { state.refused[oldest] = nil }
            }
        }
        changed.notify()
    }

    /// Forwarded messages were deleted: room for new ones.
    func release(count: Int, bytes: Int) {
        state.withLock { state in
            state.count = max(0, state.count - count)
            state.bytes = max(0, state.bytes - bytes)
        }
        changed.notify()
    }

    func setLink(up: Bool) {
        let changedState = state.withLock { state in
            defer { state.linkUp = up }
            return state.linkUp != up
        }
        if changedState { changed.notify() }
    }
}
