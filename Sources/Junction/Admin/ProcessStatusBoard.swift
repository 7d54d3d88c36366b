import Synchronization

/// What each process is doing, for `/api/processes` and `/ready`.
public final class ProcessStatusBoard: Sendable {
    public enum State: Sendable, Hashable, Codable {
        case starting, running, failed(String), stopped, paused
    }

    private let states = Mutex<[String: State]>([:])

    public init(processes: [String]) {
        states.withLock { states in for name in processes { states[name] = .starting } }
    }

    public func set(_ name: String, _ state: State) { states.withLock { $0[name] = state } }

    /// Forgets a process (its file was deleted).
    public func remove(_ name: String) { _ = states.withLock { $0.removeValue(forKey: name) } }

    public var snapshot: [String: State] { states.withLock { $0 } }
}
