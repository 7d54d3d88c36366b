import Foundation

/// `junction broker` (or `junction run` with a broker listener) as a child process, for tests
/// that SIGKILL the broker: a ``JunctionChild`` and the port of its "broker listening" log line.
/// It is always killed: by ``kill()``, or at the latest when the object goes away.
final class JunctionBrokerProcess: Sendable {
    let child: JunctionChild
    /// The loopback port the broker listens on.
    let port: Int

    private init(_ child: JunctionChild, port: Int) {
        self.child = child
        self.port = port
    }

    /// Starts the broker on a free loopback port with `data` as its data directory and waits
    /// until it listens (or fails, with its output in the error).
    static func start(data: URL, config: URL? = nil) async throws -> JunctionBrokerProcess {
        var arguments = ["broker", "--host", "127.0.0.1", "--port", "0", "--data", data.path, "--log-level", "info"]
        if let config { arguments += ["--config", config.path] }
        return try await launch(arguments)
    }

    /// Starts `junction arguments...` (e.g. `broker --port 0` or `run ...` with a broker listener
    /// on port 0) and waits until its broker listens.
    static func launch(_ arguments: [String]) async throws -> JunctionBrokerProcess {
        let child = try JunctionChild(arguments)
        return JunctionBrokerProcess(child, port: try await child.brokerPort())
    }

    /// Runs the broker expecting it to refuse to start; returns its exit status and standard error.
    static func runRefused(data: URL) async throws -> (status: Int32, stderr: String) {
        let child = try JunctionChild(["broker", "--host", "127.0.0.1", "--port", "0", "--data", data.path])
        guard let status = await child.waitForExit(timeout: .seconds(20)) else {
            child.kill()
            throw ChildError("junction broker did not exit; stderr: \(child.errorOutput)")
        }
        return (status, child.errorOutput)
    }

    /// Whether the child has not exited.
    var isRunning: Bool { child.isRunning }

    /// Everything the child wrote to standard error so far.
    var errorOutput: String { child.errorOutput }

    /// Waits (bounded) for a line of standard error containing `marker`.
    func waitForLine(containing marker: String) async throws {
        try await child.waitForLine(containing: marker)
    }

    /// SIGKILL, and waits (at most 10 s) for the exit.
    func kill() { child.kill() }
}

/// A fresh temporary directory, removed by `body`'s end whatever happens.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("junction-durable-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url)
}
