import Foundation

/// The built `junction` executable as a child process (e.g. `junction run`), for tests that
/// SIGKILL it. Standard error (the JSON log lines) is collected. The child is started with
/// ``SpawnedChild`` (posix_spawn: no blocked signals, default dispositions, no inherited
/// descriptors), through `/usr/bin/env -C DIR` when it needs a working directory of its own.
/// It is always killed: by ``kill()``, on a failed wait, or at the latest when the object goes
/// away.
public final class JunctionChild: @unchecked Sendable {
    private let child: SpawnedChild
    private let stderr = CollectedOutput()
    public let arguments: [String]

    /// Starts `junction arguments...` in `directory` (nil: the test process's working directory).
    public init(_ arguments: [String], directory: URL? = nil) throws {
        self.arguments = arguments
        let collected = stderr
        let executable = try builtJunctionExecutable().path
        if let directory {
            child = try SpawnedChild.collectingStandardError("/usr/bin/env", ["-C", directory.path, executable] + arguments) { collected.append($0) }
        } else {
            child = try SpawnedChild.collectingStandardError(executable, arguments) { collected.append($0) }
        }
    }

    deinit { kill() }

    /// Everything the child wrote to standard error so far.
    public var errorOutput: String { stderr.text }

    public var isRunning: Bool { child.isRunning }

    /// Waits (at most `timeout`) for the child to exit by itself; its exit status, nil if it
    /// still runs.
    public func waitForExit(timeout: Duration = .seconds(20)) async -> Int32? {
        await child.waitForExit(timeout: timeout)
    }

    /// Waits (bounded) for the first log line containing `marker` and returns it; kills the child
    /// and throws (with its output) when it exits first or the deadline passes.
    @discardableResult
    public func waitForLine(containing marker: String, timeout: Duration = .seconds(20)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let line = errorOutput.split(separator: "\n").first(where: { $0.contains(marker) }) { return String(line) }
            guard child.isRunning else {
                throw ChildError("junction \(arguments.first ?? "") exited with \(child.status ?? -1) before logging \"\(marker)\": \(errorOutput)")
            }
            guard ContinuousClock.now < deadline else {
                kill()
                throw ChildError("junction \(arguments.first ?? "") did not log \"\(marker)\" within \(timeout): \(errorOutput)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// The loopback port of the broker's "broker listening" log line (listeners on port 0).
    public func brokerPort(timeout: Duration = .seconds(20)) async throws -> Int {
        let line = try await waitForLine(containing: "broker listening", timeout: timeout)
        guard let range = line.range(of: #"127\.0\.0\.1:[0-9]+"#, options: .regularExpression),
              let port = Int(line[range].split(separator: ":").last ?? "") else {
            kill()
            throw ChildError("no loopback port in the broker's log line: \(line)")
        }
        return port
    }

    /// SIGTERM, then waits (bounded) for the exit; returns its status (nil if it did not exit,
    /// in which case it is killed).
    public func terminate(timeout: Duration = .seconds(20)) async -> Int32? {
        child.send(SIGTERM)
        guard let status = await child.waitForExit(timeout: timeout) else {
            kill()
            return nil
        }
        return status
    }

    /// SIGKILL, and waits (at most 10 s) for the exit.
    public func kill() {
        child.killAndWait()
    }
}

/// Why a ``JunctionChild`` did not do what the test waited for.
public struct ChildError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
