import Foundation
import Junction
import NIOCore
import NIOPosix
import Synchronization
import TestSupport

/// A real Mosquitto (`/usr/sbin/mosquitto`) as the external broker of the forwarding tests, on a
/// loopback port chosen up front so it can be started late, stopped and started again on the
/// same port. Persistence is on (in a temporary directory, written at SIGTERM), so a persistent
/// session and its queued messages survive a stop. ``stop()`` always kills it and removes the
/// directory; tests call it in a `defer`-like path even when they fail.
final class UpstreamMosquitto: Sendable {
    let port: Int
    let directory: URL
    private let child = Mutex<SpawnedChild?>(nil)

    private init(port: Int, directory: URL) {
        self.port = port
        self.directory = directory
    }

    /// Chooses a free port and writes the configuration; does not start it.
    static func prepare(extraConfiguration: [String] = []) async throws -> UpstreamMosquitto {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/mosquitto") else {
            throw ProcessError(message: "mosquitto is not installed: install the Debian package mosquitto (make test-deps does)", permanent: true)
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("junction-upstream-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        // Outside the range port-0 listeners draw from, so no other test's listener takes it
        // while this mosquitto is stopped (see LoopbackPort).
        let port = try LoopbackPort.pick()
        var lines = ["listener \(port) 127.0.0.1", "allow_anonymous true", "persistence true",
                     "persistence_location \(directory.path)/", "autosave_interval 0", "log_dest none"]
        if geteuid() == 0 { lines.append("user root") }  // else mosquitto drops to a user that cannot write here
        lines += extraConfiguration.map { $0.replacingOccurrences(of: "$DIR", with: directory.path) }
        try (lines.joined(separator: "\n") + "\n").write(to: directory.appendingPathComponent("mosquitto.conf"), atomically: true, encoding: .utf8)
        return UpstreamMosquitto(port: port, directory: directory)
    }

    var url: String { "mqtt://127.0.0.1:\(port)" }

    /// Starts it and waits (up to 10 s) until the port accepts connections.
    func start() async throws {
        let input = SpawnedChild.devNull()
        let output = SpawnedChild.devNull(writing: true)
        defer {
            close(input)
            close(output)
        }
        // posix_spawn, not Foundation's Process (see SpawnedChild): no signal blocked (SIGTERM
        // must reach it), killed at exit at the latest.
        let process = try SpawnedChild("/usr/sbin/mosquitto", ["-c", directory.appendingPathComponent("mosquitto.conf").path],
                                       stdin: input, stdout: output, stderr: output)
        child.withLock { $0 = process }
        // Started once this mosquitto (not another program on the port) listens on it.
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if LoopbackPort.isListening(pid: process.pid, port: port) { return }
            guard process.isRunning else { throw ProcessError(message: "mosquitto exited at start (port \(port))", permanent: true) }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ProcessError(message: "mosquitto did not listen on port \(port) within 20 s", permanent: true)
    }

    /// SIGTERM (mosquitto writes its database) and waits for the exit, killing it after 10 s.
    func terminate() async {
        guard let process = child.withLock({ process in defer { process = nil }; return process }) else { return }
        process.send(SIGTERM)
        let deadline = ContinuousClock.now + .seconds(20)
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        process.send(SIGKILL)
        await Self.waitForExit(process)
    }

    /// Waits (at most 5 s after a SIGKILL) without blocking a thread of the test runner's pool.
    private static func waitForExit(_ process: SpawnedChild) async {
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(10)) }
    }

    /// Kills it and removes its directory.
    func stop() async {
        if let process = child.withLock({ process in defer { process = nil }; return process }) {
            process.send(SIGKILL)
            await Self.waitForExit(process)
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Runs `body` with a prepared (not started) Mosquitto, always stopping it afterwards.
/// `$DIR` in a configuration line stands for its directory.
func withUpstreamMosquitto<T>(extraConfiguration: [String] = [], _ body: (UpstreamMosquitto) async throws -> T) async throws -> T {
    let mosquitto = try await UpstreamMosquitto.prepare(extraConfiguration: extraConfiguration)
    do {
        let result = try await body(mosquitto)
        await mosquitto.stop()
        return result
    } catch {
        await mosquitto.stop()
        throw error
    }
}
