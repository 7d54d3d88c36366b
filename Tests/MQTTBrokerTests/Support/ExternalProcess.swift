import Foundation
import Synchronization
import TestSupport

/// A child process (mosquitto_pub, mosquitto_sub, python3) with its output collected, for the
/// interop tests. Every wait is bounded; a process still running at its deadline is terminated.
final class ExternalProcess: @unchecked Sendable {
    struct Outcome: Sendable {
        var status: Int32
        var stdout: Data
        var stderr: String
        var timedOut: Bool

        var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        var summary: String { "exit \(status)\(timedOut ? " (timed out, terminated)" : ""); stdout: \(stdoutText); stderr: \(stderr)" }
    }

    private struct State {
        var stdout = Data()
        var stderr = Data()
        var stdoutClosed = false
        var stderrClosed = false
        var status: Int32?
        var exited: Bool { status != nil }
        var waiters: [(id: Int, ready: @Sendable (State) -> Bool, continuation: CheckedContinuation<Bool, Never>)] = []
        var nextWaiter = 0

        var finished: Bool { exited && stdoutClosed && stderrClosed }
    }

    let command: String
    private let state = Mutex(State())
    private var child: SpawnedChild!

    /// Finds `name` on PATH.
    static func find(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// Starts `executable` with `arguments` (with posix_spawn, see ``SpawnedChild``: no signal
    /// blocked, so mosquitto_sub sees its own -W timeout and our terminate()).
    init(_ executable: URL, _ arguments: [String]) throws {
        command = ([executable.lastPathComponent] + arguments).joined(separator: " ")
        let out = try SpawnedChild.pipe()
        let err = try SpawnedChild.pipe()
        let input = SpawnedChild.devNull()
        defer {
            close(out.write)
            close(err.write)
            close(input)
        }
        do {
            child = try SpawnedChild(executable.path, arguments, stdin: input, stdout: out.write, stderr: err.write) { [weak self] status in
                self?.update { $0.status = status }
            }
        } catch {
            close(out.read)
            close(err.read)
            throw error
        }
        for (fd, isStdout) in [(out.read, true), (err.read, false)] {
            SpawnedChild.drain(fd) { [weak self] data in
                self?.update { state in
                    switch (data.isEmpty, isStdout) {
                    case (true, true): state.stdoutClosed = true
                    case (true, false): state.stderrClosed = true
                    case (false, true): state.stdout.append(data)
                    case (false, false): state.stderr.append(data)
                    }
                }
            }
        }
    }

    deinit {
        child?.send(SIGTERM)
    }

    private func update(_ change: (inout State) -> Void) {
        let ready = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            change(&state)
            let snapshot = state
            var ready: [CheckedContinuation<Bool, Never>] = []
            state.waiters.removeAll { waiter in
                guard waiter.ready(snapshot) || snapshot.finished else { return false }
                ready.append(waiter.continuation)
                return true
            }
            return ready
        }
        for continuation in ready { continuation.resume(returning: true) }
    }

    /// Waits until `ready` holds for the collected state; false on timeout.
    private func wait(timeout: Duration, until ready: @escaping @Sendable (State) -> Bool) async -> Bool {
        await withCheckedContinuation { continuation in
            let id = state.withLock { state -> Int? in
                if ready(state) || state.finished { return nil }
                state.nextWaiter += 1
                state.waiters.append((state.nextWaiter, ready, continuation))
                return state.nextWaiter
            }
            guard let id else { return continuation.resume(returning: true) }
            let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(nanoseconds))) { [self] in
                let expired = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.waiters.remove(at: index).continuation
                }
                expired?.resume(returning: false)
            }
        }
    }

    /// Waits until stdout contains `marker`; false on timeout or when the process ended first.
    func waitForOutput(containing marker: String, timeout: Duration = .seconds(20)) async -> Bool {
        let bytes = Data(marker.utf8)
        _ = await wait(timeout: timeout) { $0.stdout.range(of: bytes) != nil }
        return state.withLock { $0.stdout.range(of: bytes) != nil }
    }

    /// Waits for the process to exit (and its output to end), terminating it at the deadline.
    func finish(timeout: Duration = .seconds(30)) async -> Outcome {
        var timedOut = false
        if !(await wait(timeout: timeout) { $0.finished }) {
            timedOut = true
            child.send(SIGTERM)
            if !(await wait(timeout: .seconds(3)) { $0.finished }) {
                child.send(SIGKILL)
                _ = await wait(timeout: .seconds(3)) { $0.finished }
            }
        }
        return state.withLock { state in
            Outcome(status: state.status ?? -1, stdout: state.stdout,
                    stderr: String(decoding: state.stderr, as: UTF8.self), timedOut: timedOut)
        }
    }

    /// Runs a command to completion.
    static func run(_ executable: URL, _ arguments: [String], timeout: Duration = .seconds(30)) async throws -> Outcome {
        try await ExternalProcess(executable, arguments).finish(timeout: timeout)
    }
}
