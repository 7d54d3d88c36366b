import NIOCore
import Synchronization

extension MQTTBroker {
    /// The state of session `clientID`, or nil when there is none.
    public func session(clientID: String) async throws -> BrokerSessionInfo? {
        let state = self.state
        return try await loop.submit {
            guard let session = state.value.sessions[clientID] else { return nil }
            return BrokerSessionInfo(clientID: clientID, connected: session.connection != nil,
                                     subscriptions: session.subscriptions.keys.sorted(),
                                     inflight: session.inflightCount, queued: session.queuedCount)
        }.get()
    }

    /// Waits until a session exists for each of `clientIDs` (already there, or attached later,
    /// over the network or in process), at most `timeout`; returns the ids still without one
    /// then, in the order given. No polling: the broker answers when the last one attaches.
    /// Cancelling the task ends the wait at once, with the ids still missing.
    public func waitForSessions(_ clientIDs: [String], timeout: TimeAmount) async throws -> [String] {
        let state = self.state
        let loop = self.loop
        let token = UInt64.random(in: 0...UInt64.max)
        // Whichever comes first, the waiter's registration on the loop or the cancellation, the
        // other sees it: a cancellation before the registration must not leave a waiter behind.
        let progress = Mutex((registered: false, cancelled: false))
        return try await withTaskCancellationHandler {
            try await loop.flatSubmit {
                let cancelled = progress.withLock { progress in
                    progress.registered = !progress.cancelled
                    return progress.cancelled
                }
                if cancelled { return loop.makeSucceededFuture(clientIDs.filter { state.value.sessions[$0] == nil }) }
                return state.value.whenSessionsExist(clientIDs, timeout: timeout, token: token)
            }.get()
        } onCancel: {
            let registered = progress.withLock { progress in
                progress.cancelled = true
                return progress.registered
            }
            if registered { loop.execute { state.value.endSessionWait(token) } }
        }
    }
}

extension BrokerState {
    /// Someone waiting for sessions to exist (``MQTTBroker/waitForSessions(_:timeout:)``).
    final class SessionWaiter {
        var missing: Set<String>
        let order: [String]
        let token: UInt64
        let promise: EventLoopPromise<[String]>
        var timeout: Scheduled<Void>?

        init(missing: Set<String>, order: [String], token: UInt64, promise: EventLoopPromise<[String]>) {
            self.missing = missing
            self.order = order
            self.token = token
            self.promise = promise
        }

        func finish() {
            timeout?.cancel()
            promise.succeed(order.filter(missing.contains))
        }
    }

    func whenSessionsExist(_ clientIDs: [String], timeout: TimeAmount, token: UInt64) -> EventLoopFuture<[String]> {
        let missing = Set(clientIDs.filter { sessions[$0] == nil })
        guard !missing.isEmpty else { return loop.makeSucceededFuture([]) }
        let waiter = SessionWaiter(missing: missing, order: clientIDs, token: token, promise: loop.makePromise())
        sessionWaiters.append(waiter)
        waiter.timeout = loop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            self?.endSessionWait(token)
        }
        return waiter.promise.futureResult
    }

    /// Ends a wait before all its sessions exist (its timeout, or its task cancelled).
    func endSessionWait(_ token: UInt64) {
        guard let index = sessionWaiters.firstIndex(where: { $0.token == token }) else { return }
        sessionWaiters.remove(at: index).finish()
    }

    /// Tells the waiters that `clientID` has a session now.
    func sessionAttached(_ clientID: String) {
        guard !sessionWaiters.isEmpty else { return }
        var done: [SessionWaiter] = []
        for waiter in sessionWaiters where waiter.missing.remove(clientID) != nil && waiter.missing.isEmpty { done.append(waiter) }
        guard !done.isEmpty else { return }
        sessionWaiters.removeAll { waiter in done.contains { $0 === waiter } }
        for waiter in done { waiter.finish() }
    }
}
