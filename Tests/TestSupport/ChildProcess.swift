import Foundation
import Synchronization

/// A command-line tool run by a test (mosquitto_pub, mosquitto_sub, openssl, python3, the
/// `junction` executable) with its standard output and error collected through pipes.
///
/// Started with `posix_spawn` through ``SpawnedChild`` (never Foundation's `Process`): no signal
/// is blocked in the child, so a tool sees its own timeouts (mosquitto_sub's `-W`) and our
/// signals. Standard input gets the given bytes (then end of file) or is empty; the environment
/// is the test process's unless one is given. Every wait is bounded: ``finish(timeout:)`` kills
/// (SIGKILL) a child still running at its deadline, and a child still running when this object
/// goes away is killed then.
///
/// In the `TestSupport` target shared by every test target.
public final class ChildProcess: Sendable {
    /// How a child ended, with everything it wrote.
    public struct Outcome: Sendable {
        /// The exit status, or the number of the signal that ended it; -1 when it still ran
        /// after the kill at the deadline.
        public var status: Int32
        /// Everything it wrote to standard output.
        public var stdout: Data
        /// Everything it wrote to standard error, decoded as UTF-8.
        public var stderr: String
        /// Whether it was still running at the deadline of ``ChildProcess/finish(timeout:)`` and was killed.
        public var timedOut: Bool

        /// ``stdout`` decoded as UTF-8.
        public var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
        /// Status, deadline, output and error in one line, for assertion messages.
        public var summary: String { "exit \(status)\(timedOut ? " (timed out, killed)" : ""); stdout: \(stdoutText); stderr: \(stderr)" }
    }

    /// The executable's name and the arguments, for messages.
    public let command: String
    private let output: CollectedStreams
    private let child: SpawnedChild

    /// Finds `name` on PATH, then in /usr/sbin and /sbin (where Debian puts some tools).
    public static func find(_ name: String) -> URL? {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin") + ":/usr/sbin:/sbin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return nil
    }

    /// Starts `executable` with `arguments`. `stdin` is written to its standard input, which is
    /// then closed (when nil, standard input is /dev/null); `environment` replaces the test
    /// process's environment when given.
    public init(_ executable: URL, _ arguments: [String], stdin: Data? = nil, environment: [String: String]? = nil) throws {
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
        let output = CollectedStreams()
        self.output = output
        do {
            child = try SpawnedChild(executable.path, arguments, stdin: inputFD, stdout: out.write, stderr: err.write,
                                     environment: environment) { status in
                output.update { $0.status = status }
            }
        } catch {
            close(out.read)
            close(err.read)
            if let input { close(input.write) }
            throw error
        }
        for (fd, isStdout) in [(out.read, true), (err.read, false)] {
            SpawnedChild.drain(fd) { data in
                output.update { state in
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
        child.send(SIGKILL)
    }

    /// Runs `executable` to completion (see ``init(_:_:stdin:environment:)`` and ``finish(timeout:)``).
    public static func run(_ executable: URL, _ arguments: [String], stdin: Data? = nil, environment: [String: String]? = nil,
                           timeout: Duration = .seconds(30)) async throws -> Outcome {
        try await ChildProcess(executable, arguments, stdin: stdin, environment: environment).finish(timeout: timeout)
    }

    /// The child's process id.
    public var processIdentifier: Int32 { child.pid }

    /// Whether it has not exited yet.
    public var isRunning: Bool { child.isRunning }

    /// SIGKILL now if still running, without waiting (for cleanup paths; ``signal(_:timeout:)``
    /// waits for the exit).
    public func terminate() {
        child.send(SIGKILL)
    }

    /// Standard output so far.
    public var stdoutSoFar: Data { output.state.withLock { $0.stdout } }

    /// Standard error so far, decoded as UTF-8.
    public var stderrSoFar: String { output.state.withLock { String(decoding: $0.stderr, as: UTF8.self) } }

    /// Waits until standard output or error contains `marker`; false when the timeout passes or
    /// the process ends first.
    public func waitForOutput(containing marker: String, timeout: Duration = .seconds(20)) async -> Bool {
        let bytes = Data(marker.utf8)
        let found: @Sendable (CollectedStreams.State) -> Bool = { $0.stdout.range(of: bytes) != nil || $0.stderr.range(of: bytes) != nil }
        _ = await output.wait(timeout: timeout, until: found)
        return output.state.withLock { found($0) }
    }

    /// Waits (up to `timeout`) for the process to exit and its output to end; kills it at the
    /// deadline (then ``Outcome/timedOut`` is true) and waits up to 5 s more for that.
    public func finish(timeout: Duration = .seconds(30)) async -> Outcome {
        var timedOut = false
        if !(await output.wait(timeout: timeout) { $0.finished }) {
            timedOut = true
            child.send(SIGKILL)
            _ = await output.wait(timeout: .seconds(5)) { $0.finished }
        }
        return output.state.withLock { state in
            Outcome(status: state.status ?? -1, stdout: state.stdout,
                    stderr: String(decoding: state.stderr, as: UTF8.self), timedOut: timedOut)
        }
    }

    /// Sends `signal` and waits for the exit (see ``finish(timeout:)``).
    @discardableResult
    public func signal(_ signal: Int32, timeout: Duration = .seconds(10)) async -> Outcome {
        child.send(signal)
        return await finish(timeout: timeout)
    }
}

/// What a ``ChildProcess`` wrote and whether it exited, updated from the reader and waiting
/// threads (which may outlive the ``ChildProcess``), with the tasks waiting for a condition on it.
private final class CollectedStreams: Sendable {
    struct State {
        var stdout = Data()
        var stderr = Data()
        var openPipes = 2
        var status: Int32?
        var waiters: [(id: Int, ready: @Sendable (State) -> Bool, continuation: CheckedContinuation<Void, Never>)] = []
        var lastWaiter = 0
        /// Exited, and both pipes reached their end.
        var finished: Bool { status != nil && openPipes == 0 }
    }

    let state = Mutex(State())

    /// Applies `change`, then resumes every waiter whose condition now holds (or the process finished).
    func update(_ change: (inout State) -> Void) {
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
    func wait(timeout: Duration, until ready: @escaping @Sendable (State) -> Bool) async -> Bool {
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
}
