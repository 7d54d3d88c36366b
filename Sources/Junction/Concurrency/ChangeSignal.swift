import Synchronization

/// Wakes the tasks waiting for "something changed". A waiter reads ``generation`` before it
/// checks its condition and passes it to ``wait(since:)``, which returns at once when a change
/// came in between, so no wake-up is lost. Cancellation ends a wait too.
final class ChangeSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    var generation: UInt64 { state.withLock { $0.generation } }

    /// Wakes every waiter.
    func notify() {
        let waiters = state.withLock { state in
            state.generation &+= 1
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns after the next ``notify()`` following `generation`, or when the task is cancelled.
    func wait(since generation: UInt64) async {
        let id = state.withLock { state in
            state.nextWaiter &+= 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.generation != generation || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Waits until `condition` holds (checked after every change) or the task is cancelled;
    /// returns whether it holds.
    @discardableResult
    func wait(until condition: () -> Bool) async -> Bool {
        while true {
            let seen = generation
            if condition() { return true }
            if Task.isCancelled { return false }
            await wait(since: seen)
        }
    }
}
