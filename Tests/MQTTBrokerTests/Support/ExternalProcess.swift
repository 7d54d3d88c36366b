import Foundation
import Synchronization

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
        var exited = false
        var waiters: [(id: Int, ready: @Sendable (State) -> Bool, continuation: CheckedContinuation<Bool, Never>)] = []
        var nextWaiter = 0

        var finished: Bool { exited && stdoutClosed && stderrClosed }
    }

    /// Every child started and not yet seen to exit: killed when the test process exits, so a
    /// failed or ended run leaves no process behind.
    private static let live = Mutex<Set<Int32>>([])
    private static let reaper: Void = {
        atexit {
            for pid in ExternalProcess.live.withLock({ $0 }) { kill(pid, SIGKILL) }
        }
    }()

    let command: String
    private let process = Process()
    private let state = Mutex(State())

    /// Finds `name` on PATH.
    static func find(_ name: String) -> URL? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// Starts `executable` with `arguments`.
    init(_ executable: URL, _ arguments: [String]) throws {
        command = ([executable.lastPathComponent] + arguments).joined(separator: " ")
        process.executableURL = executable
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        // One blocking reader thread per pipe: reliable end-of-file, nothing left unread.
        for (handle, isStdout) in [(out.fileHandleForReading, true), (err.fileHandleForReading, false)] {
            Thread.detachNewThread { [weak self] in
                while true {
                    let data = handle.availableData
                    self?.update { state in
                        switch (data.isEmpty, isStdout) {
                        case (true, true): state.stdoutClosed = true
                        case (true, false): state.stderrClosed = true
                        case (false, true): state.stdout.append(data)
                        case (false, false): state.stderr.append(data)
                        }
                    }
                    if data.isEmpty { return }
                }
            }
        }
        process.terminationHandler = { [weak self] process in
            _ = ExternalProcess.live.withLock { $0.remove(process.processIdentifier) }
            self?.update { $0.exited = true }
        }
        Self.reaper
        // The child inherits this thread's signal mask, and the test runner's threads block
        // SIGTERM and SIGALRM: started like that, mosquitto_sub ignores both its own -W timeout
        // and our terminate(), and outlives a failed test. Start it with nothing blocked.
        var none = sigset_t()
        var saved = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        try process.run()
        let pid = process.processIdentifier
        if process.isRunning { _ = Self.live.withLock { $0.insert(pid) } }
    }

    deinit {
        if process.isRunning { process.terminate() }
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
            process.terminate()
            if !(await wait(timeout: .seconds(3)) { $0.finished }) {
                kill(process.processIdentifier, SIGKILL)
                _ = await wait(timeout: .seconds(3)) { $0.finished }
            }
        }
        return state.withLock { state in
            Outcome(status: state.exited ? process.terminationStatus : -1, stdout: state.stdout,
                    stderr: String(decoding: state.stderr, as: UTF8.self), timedOut: timedOut)
        }
    }

    /// Runs a command to completion.
    static func run(_ executable: URL, _ arguments: [String], timeout: Duration = .seconds(30)) async throws -> Outcome {
        try await ExternalProcess(executable, arguments).finish(timeout: timeout)
    }
}
