import Foundation
import Logging
import MQTTBroker
import Synchronization
import TestSupport

/// `junction broker --port 0 --data DIR` as a child process, for tests that SIGKILL the broker.
/// The port is read from its "broker listening" log line. It is always killed: by ``kill()``,
/// or at the latest when the object goes away.
final class JunctionBrokerProcess: @unchecked Sendable {
    /// Started with `posix_spawn` (see ``SpawnedChild``), not Foundation's `Process`.
    private var child: SpawnedChild?
    private let stderr = CollectedOutput()
    private(set) var port = 0

    /// Starts the broker on a free loopback port with `data` as its data directory and waits
    /// until it listens (or fails, with its output in the error).
    static func start(data: URL, config: URL? = nil) async throws -> JunctionBrokerProcess {
        let child = JunctionBrokerProcess()
        var arguments = ["broker", "--host", "127.0.0.1", "--port", "0", "--data", data.path, "--log-level", "info"]
        if let config { arguments += ["--config", config.path] }
        try child.launch(try builtJunctionExecutable(), arguments)
        child.port = try await child.waitForPort()
        return child
    }

    /// Runs the broker expecting it to refuse to start; returns its exit status and standard error.
    static func runRefused(data: URL) async throws -> (status: Int32, stderr: String) {
        let child = JunctionBrokerProcess()
        try child.launch(try builtJunctionExecutable(), ["broker", "--host", "127.0.0.1", "--port", "0", "--data", data.path])
        let deadline = ContinuousClock.now + .seconds(20)
        while child.child?.isRunning == true {
            guard ContinuousClock.now < deadline else {
                child.kill()
                throw RawClientError(description: "junction broker did not exit; stderr: \(child.errorOutput)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return (child.child?.status ?? -1, child.errorOutput)
    }

    private func launch(_ executable: URL, _ arguments: [String]) throws {
        let collected = stderr
        child = try SpawnedChild.collectingStandardError(executable.path, arguments) { collected.append($0) }
    }

    var errorOutput: String { stderr.text }

    /// Waits (bounded) for the "broker listening" line and returns its port.
    private func waitForPort() async throws -> Int {
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            let text = errorOutput
            if let line = text.split(separator: "\n").first(where: { $0.contains("broker listening") }),
               let range = line.range(of: #"127\.0\.0\.1:[0-9]+"#, options: .regularExpression),
               let port = Int(line[range].split(separator: ":").last ?? "") {
                return port
            }
            guard child?.isRunning == true else {
                throw RawClientError(description: "junction broker exited with \(child?.status ?? -1): \(text)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill()
        throw RawClientError(description: "junction broker did not listen within 20 s: \(errorOutput)")
    }

    /// SIGKILL, and waits (at most 10 s) for the exit.
    func kill() {
        child?.killAndWait()
    }

    deinit { kill() }
}

/// A fresh temporary directory, removed by `body`'s end whatever happens.
func withTemporaryDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("junction-durable-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try await body(url)
}
