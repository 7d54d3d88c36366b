import Foundation
import NIOCore
import NIOPosix
import TestSupport

/// A real Mosquitto (`/usr/sbin/mosquitto`, Debian package `mosquitto`) on a free loopback
/// port, no persistence, for the engine's external-broker tests.
///
/// A trimmed copy of `Tests/MQTTClientTests/Support/Mosquitto.swift` and `ChildProcess.swift`
/// (a test target cannot import another's files). Unlike those, the output goes to a log file
/// instead of pipes, so nothing has to drain them and no reader thread can keep a test alive;
/// every wait has a deadline, and ``withMosquitto(_:)`` always kills the child.
final class MosquittoProcess: @unchecked Sendable {
    let port: Int
    let directory: URL
    private let process: SpawnedChild

    private init(port: Int, directory: URL, process: SpawnedChild) {
        self.port = port
        self.directory = directory
        self.process = process
    }

    var log: String { (try? String(contentsOf: directory.appendingPathComponent("mosquitto.log"), encoding: .utf8)) ?? "" }

    static func start() async throws -> MosquittoProcess {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/mosquitto") else {
            throw StartFailure(message: "mosquitto is not installed: install the Debian package mosquitto (make test-deps does)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("engine-mosquitto-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var failure = "mosquitto did not start"
        for _ in 0..<5 {  // a probed free port can be taken before mosquitto binds it: try another
            let port = try await freePort()
            var lines = ["listener \(port) 127.0.0.1", "allow_anonymous true", "persistence false", "log_dest stderr",
                         "log_type error", "log_type warning", "log_type notice"]
            if geteuid() == 0 { lines.append("user root") }
            let config = directory.appendingPathComponent("mosquitto.conf")
            try (lines.joined(separator: "\n") + "\n").write(to: config, atomically: true, encoding: .utf8)
            let logFile = directory.appendingPathComponent("mosquitto.log")
            FileManager.default.createFile(atPath: logFile.path, contents: nil)
            let output = open(logFile.path, O_WRONLY | O_APPEND | O_CLOEXEC)
            let input = SpawnedChild.devNull()
            defer {
                close(output)
                close(input)
            }
            // posix_spawn, not Foundation's Process (see SpawnedChild): no signal blocked, killed
            // at exit at the latest.
            let process = try SpawnedChild("/usr/sbin/mosquitto", ["-c", config.path], stdin: input, stdout: output, stderr: output)
            let mosquitto = MosquittoProcess(port: port, directory: directory, process: process)
            // Started once this mosquitto (not another program that took the port) listens on it.
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline && process.isRunning {
                if LoopbackPort.isListening(pid: process.pid, port: port) { return mosquitto }
                try await Task.sleep(for: .milliseconds(20))
            }
            failure = "mosquitto did not listen on \(port): \(mosquitto.log)"
            await mosquitto.kill()
        }
        try? FileManager.default.removeItem(at: directory)
        throw StartFailure(message: failure)
    }

    /// SIGKILL, then waits (at most 5 s) until the child is gone.
    func kill() async {
        process.send(SIGKILL)
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    func stop() async {
        await kill()
        try? FileManager.default.removeItem(at: directory)
    }

    /// A free port outside the range port-0 listeners draw from (see ``LoopbackPort``).
    static func freePort() async throws -> Int {
        try LoopbackPort.pick()
    }

    static func accepts(port: Int) async -> Bool {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(500)).connect(host: "127.0.0.1", port: port).get()
            try? await channel.close()
            return true
        } catch {
            return false
        }
    }

    struct StartFailure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }
}

/// Runs `body` with a started Mosquitto, always killing it afterwards.
func withMosquitto<T>(_ body: (MosquittoProcess) async throws -> T) async throws -> T {
    let mosquitto = try await MosquittoProcess.start()
    do {
        let result = try await body(mosquitto)
        await mosquitto.stop()
        return result
    } catch {
        await mosquitto.stop()
        throw error
    }
}
