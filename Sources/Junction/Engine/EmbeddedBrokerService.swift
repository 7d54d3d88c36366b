import Logging
import MQTTBroker
import NIOCore
import ServiceLifecycle
import Synchronization

/// Runs the embedded broker as `MQTTBroker.run()` does (bind, serve until graceful shutdown,
/// close) and keeps the addresses it bound, so a listener on port 0 can be found
/// (``Engine/brokerAddresses()``) and `junction run` can print where it listens.
final class EmbeddedBrokerService: Service, Sendable {
    let broker: MQTTBroker
    let bound = OnceValue<[SocketAddress]>()

    init(broker: MQTTBroker) { self.broker = broker }

    func run() async throws {
        let addresses: [SocketAddress]
        do {
            addresses = try await broker.start()
        } catch {
            bound.fail("the embedded broker could not bind its listeners: \(error)")
            try? await broker.shutdown()
            throw error
        }
        bound.set(addresses)
        try? await gracefulShutdown()
        try await broker.shutdown()
    }
}

/// A value that is set once (or fails once) and can be awaited before that.
final class OnceValue<Value: Sendable>: Sendable {
    private enum State {
        case waiting([CheckedContinuation<Value, any Error>])
        case set(Value)
        case failed(String)
    }

    private let state = Mutex<State>(.waiting([]))

    func set(_ value: Value) { settle(.set(value)) }

    /// Whether the value is set (or failed).
    var isSettled: Bool {
        state.withLock { if case .waiting = $0 { false } else { true } }
    }

    func fail(_ message: String) { settle(.failed(message)) }

    /// The value once it is set; throws if it failed.
    func value() async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let result: Result<Value, any Error>? = state.withLock { state in
                switch state {
                case .set(let value): return .success(value)
                case .failed(let message): return .failure(ProcessError(message: message, permanent: true))
                case .waiting(var waiters):
                    waiters.append(continuation)
                    state = .waiting(waiters)
                    return nil
                }
            }
            if let result { continuation.resume(with: result) }
        }
    }

    private func settle(_ outcome: State) {
        let waiters: [CheckedContinuation<Value, any Error>] = state.withLock { state in
            guard case .waiting(let waiters) = state else { return [] }
            state = outcome
            return waiters
        }
        for waiter in waiters {
            switch outcome {
            case .set(let value): waiter.resume(returning: value)
            case .failed(let message): waiter.resume(throwing: ProcessError(message: message, permanent: true))
            case .waiting: break
            }
        }
    }
}
