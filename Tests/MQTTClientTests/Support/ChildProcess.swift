import Foundation
import Synchronization
import TestSupport

/// A child process (mosquitto, mosquitto_sub, the junction binary) with its output collected.
/// Every wait is bounded; a process still running at the end is killed.
final class ChildProcess: @unchecked Sendable {
    struct Outcome: Sendable {
        var status: Int32
        var stdout: Data
        var stderr: String
        var timedOut: Bool

        var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        var summary: String { "exit \(status)\(timedOut ? " (timed out, killed)" : ""); stdout: \(stdoutText); stderr: \(stderr)" }
    }

    private struct State {
        var stdout = Data()
        var stderr = Data()
        var openPipes = 2
        var status: Int32?
        var waiters: [(id: Int, ready: @Sendable (State) -> Bool, continuation: CheckedContinuation<Void, Never>)] = []
        var lastWaiter = 0
        var exited: Bool { status != nil }
        var finished: Bool { exited && openPipes == 0 }
    }

    let command: String
    private let state = Mutex(State())
    private var child: SpawnedChild!

    /// Finds `name` on PATH or in /usr/sbin.
    static func find(_ name: String) -> URL? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin") + ":/usr/sbin:/sbin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// Starts `executable` with `arguments` (with posix_spawn, see ``SpawnedChild``); `stdin` is
    /// written and closed when given, else standard input is empty.
    init(_ executable: URL, _ arguments: [String], stdin: Data? = nil, environment: [String: String]? = nil) throws {
        command = ([executable.lastPathComponent] + arguments).joined(separator: " ")
        let out = try SpawnedChild.pipe()
        let err = try SpawnedChild.pipe()
        let input = try stdin.map { _ in try SpawnedChild.pipe() }
        let inputFD = input?.read ?? SpawnedChild.devNull()
        defer {
            close(out.write)
            close(err.write)
            close(inputFD)
        }
        do {
            child = try SpawnedChild(executable.path, arguments, stdin: inputFD, stdout: out.write, stderr: err.write,
                                     environment: environment) { [weak self] status in
                self?.update { $0.status = status }
            }
        } catch {
            close(out.read)
            close(err.read)
            if let input { close(input.write) }
            throw error
        }
        for (fd, isStdout) in [(out.read, true), (err.read, false)] {
            SpawnedChild.drain(fd) { [weak self] data in
                self?.update { state in
                    if data.isEmpty {
                        state.openPipes -= 1
                    } else if isStdout {
                        state.stdout.append(data)
                    } else {
                        state.stderr.append(data)
                    }
                }
            }
        }
        if let input, let stdin { SpawnedChild.feed(input.write, stdin) }
    }

    deinit {
        child?.send(SIGKILL)
    }

    var processIdentifier: Int32 { child.pid }

    /// SIGKILL now if still running, without waiting (for cleanup paths; ``signal(_:timeout:)``
    /// waits for the exit).
    func terminate() {
        child.send(SIGKILL)
    }
    var isRunning: Bool { child.isRunning }

    private func update(_ change: (inout State) -> Void) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            change(&state)
            let snapshot = state
            var ready: [CheckedContinuation<Void, Never>] = []
            state.waiters.removeAll { waiter in
                guard waiter.ready(snapshot) || snapshot.finished else { return false }
                ready.append(waiter.continuation)
                return true
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    /// Waits until `ready` holds (or the process finished); false on timeout.
    private func wait(timeout: Duration, until ready: @escaping @Sendable (State) -> Bool) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let id = state.withLock { state -> Int? in
                if ready(state) || state.finished { return nil }
                state.lastWaiter += 1
                state.waiters.append((state.lastWaiter, ready, continuation))
                return state.lastWaiter
            }
            guard let id else { return continuation.resume() }
            let (seconds, attoseconds) = timeout.components
            DispatchQueue.global().asyncAfter(deadline: .now() + Double(seconds) + Double(attoseconds) / 1e18) { [self] in
                let expired = state.withLock { state -> CheckedContinuation<Void, Never>? in
                    guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                    return state.waiters.remove(at: index).continuation
                }
                expired?.resume()
            }
        }
        return state.withLock { ready($0) || $0.finished }
    }

    /// Waits until standard output or error contains `marker`; false on timeout or exit first.
    func waitForOutput(containing marker: String, timeout: Duration = .seconds(20)) async -> Bool {
        let bytes = Data(marker.utf8)
        _ = await wait(timeout: timeout) { $0.stdout.range(of: bytes) != nil || $0.stderr.range(of: bytes) != nil }
        return state.withLock { $0.stdout.range(of: bytes) != nil || $0.stderr.range(of: bytes) != nil }
    }

    /// Standard output so far.
    var stdoutSoFar: Data { state.withLock { $0.stdout } }

    /// Standard error so far.
    var stderrSoFar: String { state.withLock { String(decoding: $0.stderr, as: UTF8.self) } }

    /// Waits for the process to exit and its output to end; kills it at the deadline.
    func finish(timeout: Duration = .seconds(30)) async -> Outcome {
        var timedOut = false
        if !(await wait(timeout: timeout) { $0.finished }) {
            timedOut = true
            child.send(SIGKILL)
            _ = await wait(timeout: .seconds(5)) { $0.finished }
        }
        return state.withLock { state in
            Outcome(status: state.status ?? -1, stdout: state.stdout,
                    stderr: String(decoding: state.stderr, as: UTF8.self), timedOut: timedOut)
        }
    }

    /// Sends `signal` and waits for the exit.
    @discardableResult
    func signal(_ signal: Int32, timeout: Duration = .seconds(10)) async -> Outcome {
        child.send(signal)
        return await finish(timeout: timeout)
    }

    /// Runs a command to completion.
    static func run(_ executable: URL, _ arguments: [String], stdin: Data? = nil, timeout: Duration = .seconds(30)) async throws -> Outcome {
        try await ChildProcess(executable, arguments, stdin: stdin).finish(timeout: timeout)
    }
}
