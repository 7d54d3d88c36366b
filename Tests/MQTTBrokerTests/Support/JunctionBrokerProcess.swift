import Foundation
import Logging
import MQTTBroker
import Synchronization

/// `junction broker --port 0 --data DIR` as a child process, for tests that SIGKILL the broker.
/// The port is read from its "broker listening" log line. It is always killed: by ``kill()``,
/// or at the latest when the object goes away.
final class JunctionBrokerProcess: @unchecked Sendable {
    private let process = Process()
    private let stderr = Mutex(Data())
    private(set) var port = 0

    /// The `junction` executable built next to this test bundle (`swift build --build-tests`).
    static func executable() throws -> URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let candidates = [
            beside.appendingPathComponent("junction"),
            beside.deletingLastPathComponent().appendingPathComponent("junction"),
            URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".build/debug/junction"),
        ]
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        throw RawClientError(description: "the junction executable is not built (looked at \(candidates.map(\.path))): run `swift build --build-tests`")
    }

    /// Starts the broker on a free loopback port with `data` as its data directory and waits
    /// until it listens (or fails, with its output in the error).
    static func start(data: URL, config: URL? = nil) async throws -> JunctionBrokerProcess {
        let child = JunctionBrokerProcess()
        var arguments = ["broker", "--host", "127.0.0.1", "--port", "0", "--data", data.path, "--log-level", "info"]
        if let config { arguments += ["--config", config.path] }
        try child.launch(try executable(), arguments)
        child.port = try await child.waitForPort()
        return child
    }

    /// Runs the broker expecting it to refuse to start; returns its exit status and standard error.
    static func runRefused(data: URL) async throws -> (status: Int32, stderr: String) {
        let child = JunctionBrokerProcess()
        try child.launch(try executable(), ["broker", "--host", "127.0.0.1", "--port", "0", "--data", data.path])
        let deadline = ContinuousClock.now + .seconds(20)
        while child.process.isRunning {
            guard ContinuousClock.now < deadline else {
                child.kill()
                throw RawClientError(description: "junction broker did not exit; stderr: \(child.errorOutput)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return (child.process.terminationStatus, child.errorOutput)
    }

    private func launch(_ executable: URL, _ arguments: [String]) throws {
        process.executableURL = executable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        let handle = pipe.fileHandleForReading
        Thread.detachNewThread { [weak self] in
            while true {
                let data = handle.availableData
                if data.isEmpty { return }
                self?.stderr.withLock { $0.append(data) }
            }
        }
        // The test runner's threads block some signals and a child inherits the mask: start it
        // with nothing blocked, as a shell would.
        var none = sigset_t()
        var saved = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        try process.run()
    }

    var errorOutput: String { stderr.withLock { String(decoding: $0, as: UTF8.self) } }

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
            guard process.isRunning else {
                throw RawClientError(description: "junction broker exited with \(process.terminationStatus): \(text)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        kill()
        throw RawClientError(description: "junction broker did not listen within 20 s: \(errorOutput)")
    }

    /// SIGKILL, and waits for the exit.
    func kill() {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
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
