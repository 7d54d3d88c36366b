import Synchronization

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
