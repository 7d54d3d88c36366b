import MQTTClient
import MQTTCore
import NIOCore
import Synchronization
import TestSupport

/// Collects the messages of a subscription for a test: acknowledges each one at once, or holds
/// the acknowledgements while ``hold()`` is in force, and lets the test wait for a condition
/// on what arrived, with a deadline.
actor Inbox {
    private(set) var messages: [MQTTMessage] = []
    private var held: [MQTTMessage] = []
    private var holding = false
    private var waiters: [Int: (predicate: @Sendable ([MQTTMessage]) -> Bool, continuation: CheckedContinuation<Bool, Never>)] = [:]
    private var lastWaiter = 0

    func receive(_ message: MQTTMessage) async throws {
        messages.append(message)
        if holding {
            held.append(message)
        } else {
            try await message.ack()
        }
        for (id, waiter) in waiters where waiter.predicate(messages) {
            waiters[id] = nil
            waiter.continuation.resume(returning: true)
        }
    }

    /// From now on, messages are kept unacknowledged.
    func hold() { holding = true }

    /// Acknowledges every held message and stops holding.
    func release() async throws {
        holding = false
        let pending = held
        held = []
        for message in pending { try await message.ack() }
    }

    var heldCount: Int { held.count }

    /// Payloads received, in order.
    var payloads: [String] { messages.map(\.payloadString) }

    /// How often each payload arrived.
    var counts: [String: Int] { messages.reduce(into: [:]) { $0[$1.payloadString, default: 0] += 1 } }

    /// Waits until `predicate` holds for the messages received so far.
    func wait(_ what: String, timeout: Duration = .seconds(20), until predicate: @escaping @Sendable ([MQTTMessage]) -> Bool) async throws {
        if predicate(messages) { return }
        lastWaiter += 1
        let id = lastWaiter
        let satisfied = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            waiters[id] = (predicate, continuation)
            Task {
                try? await Task.sleep(for: timeout)
                self.expire(id)
            }
        }
        if !satisfied {
            throw TestFailure("\(what): not within \(timeout); received \(messages.count): \(payloads.suffix(50))")
        }
    }

    /// Waits until `count` distinct payloads arrived.
    func waitForDistinct(_ count: Int, timeout: Duration = .seconds(20)) async throws {
        try await wait("\(count) distinct messages", timeout: timeout) { Set($0.map(\.payloadString)).count >= count }
    }

    private func expire(_ id: Int) {
        waiters.removeValue(forKey: id)?.continuation.resume(returning: false)
    }
}

extension MQTTClient {
    /// Subscribes in a background task that feeds `inbox` until cancelled; returns once the
    /// broker granted the subscription.
    func feed(_ inbox: Inbox, _ subscriptions: [MQTTSubscription], properties: MQTTProperties = [],
              unsubscribeOnExit: Bool = true) async throws -> Task<Void, any Error> {
        let (granted, grantedContinuation) = AsyncStream<Result<Void, MQTTClientError>>.makeStream()
        let task = Task {
            do {
                try await self.subscribe(to: subscriptions, properties: properties, unsubscribeOnExit: unsubscribeOnExit) { subscription in
                    grantedContinuation.yield(.success(()))
                    for try await message in subscription { try await inbox.receive(message) }
                }
            } catch let error as MQTTClientError {
                grantedContinuation.yield(.failure(error))
                throw error
            }
        }
        for await result in granted {
            try result.get()
            return task
        }
        throw TestFailure("subscription task ended before SUBACK")
    }
}

/// Connection events of a client, recorded in order on the client's loop, for tests to wait on.
final class EventLog: Sendable {
    private struct State {
        var events: [MQTTClientEvent] = []
        var waiters: [Int: (predicate: @Sendable ([MQTTClientEvent]) -> Bool, continuation: CheckedContinuation<Bool, Never>)] = [:]
        var lastWaiter = 0
    }

    private let state = Mutex(State())

    var handler: @Sendable (MQTTClientEvent) -> Void {
        { [self] event in record(event) }
    }

    var events: [MQTTClientEvent] { state.withLock { $0.events } }

    func record(_ event: MQTTClientEvent) {
        let ready = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.events.append(event)
            var ready: [CheckedContinuation<Bool, Never>] = []
            for (id, waiter) in state.waiters where waiter.predicate(state.events) {
                state.waiters[id] = nil
                ready.append(waiter.continuation)
            }
            return ready
        }
        for continuation in ready { continuation.resume(returning: true) }
    }

    var connections: Int { events.filter { if case .connected = $0 { true } else { false } }.count }

    var disconnections: [MQTTClientError] { events.compactMap { if case .disconnected(let e) = $0 { e } else { nil } } }

    func wait(_ what: String, timeout: Duration = .seconds(20), until predicate: @escaping @Sendable ([MQTTClientEvent]) -> Bool) async throws {
        let satisfied = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let id = state.withLock { state -> Int? in
                if predicate(state.events) { return nil }
                state.lastWaiter += 1
                state.waiters[state.lastWaiter] = (predicate, continuation)
                return state.lastWaiter
            }
            guard let id else { return continuation.resume(returning: true) }
            Task {
                try? await Task.sleep(for: timeout)
                let expired = self.state.withLock { $0.waiters.removeValue(forKey: id) }
                expired?.continuation.resume(returning: false)
            }
        }
        if !satisfied { throw TestFailure("\(what): not within \(timeout); events: \(events)") }
    }

    /// Waits for the `n`th CONNACK accepted.
    func waitForConnection(_ n: Int, timeout: Duration = .seconds(20)) async throws {
        try await wait("connection \(n)", timeout: timeout) { events in
            events.filter { if case .connected = $0 { true } else { false } }.count >= n
        }
    }

    /// Waits for the `n`th lost connection.
    func waitForDisconnection(_ n: Int, timeout: Duration = .seconds(20)) async throws {
        try await wait("disconnection \(n)", timeout: timeout) { events in
            events.filter { if case .disconnected = $0 { true } else { false } }.count >= n
        }
    }
}
