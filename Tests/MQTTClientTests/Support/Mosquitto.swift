import Foundation
import NIOCore
import NIOPosix
import Synchronization
import TestSupport

/// A real Mosquitto (the Debian package's `/usr/sbin/mosquitto`) on a free loopback port, with
/// persistence in a temporary directory. Started with a deadline on its port accepting
/// connections, killed and removed by ``stop()``; ``kill()`` and ``restart()`` keep the port and
/// the persistence directory.
final class Mosquitto: Sendable {
    let port: Int
    let directory: URL
    private let configFile: URL
    private let child: Mutex<ChildProcess?>

    private init(port: Int, directory: URL, configFile: URL) {
        self.port = port
        self.directory = directory
        self.configFile = configFile
        self.child = Mutex(nil)
    }

    var databaseFile: URL { directory.appendingPathComponent("mosquitto.db") }

    /// The mosquitto executable, or a failure naming the package to install.
    static func executable() throws -> URL {
        if FileManager.default.isExecutableFile(atPath: "/usr/sbin/mosquitto") { return URL(fileURLWithPath: "/usr/sbin/mosquitto") }
        guard let found = ChildProcess.find("mosquitto") else {
            throw TestFailure("mosquitto is not installed: install the Debian package mosquitto (make test-deps does)")
        }
        return found
    }

    /// Starts mosquitto with `autosave_interval` seconds (0: the database is written only on
    /// SIGUSR1 and at a clean exit) and any extra configuration lines.
    static func start(autosaveInterval: Int = 1, extraConfiguration: [String] = []) async throws -> Mosquitto {
        let executable = try executable()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("junction-mosquitto-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var lastError: (any Error)?
        for _ in 0..<5 {  // a free port can be taken between probing and binding: try another
            let port = try await freePort()
            var lines = [
                "listener \(port) 127.0.0.1",
                "allow_anonymous true",
                "persistence true",
                "persistence_location \(directory.path)/",
                "autosave_interval \(autosaveInterval)",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "log_type notice",
                "log_type information",
            ]
            if geteuid() == 0 { lines.append("user root") }  // else mosquitto drops to a user that cannot write here
            lines += extraConfiguration
            let configFile = directory.appendingPathComponent("mosquitto.conf")
            try (lines.joined(separator: "\n") + "\n").write(to: configFile, atomically: true, encoding: .utf8)
            let broker = Mosquitto(port: port, directory: directory, configFile: configFile)
            do {
                try await broker.launch(executable)
                return broker
            } catch {
                lastError = error
                await broker.kill()
            }
        }
        try? FileManager.default.removeItem(at: directory)
        throw lastError ?? TestFailure("mosquitto did not start")
    }

    /// Starts the child and waits until it (not some other program that took the port) listens
    /// on the port: a launch that lost the port to another program fails instead of handing the
    /// test someone else's server.
    private func launch(_ executable: URL) async throws {
        let process = try ChildProcess(executable, ["-c", configFile.path])
        child.withLock { $0 = process }
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if LoopbackPort.isListening(pid: process.processIdentifier, port: port) { return }
            if !process.isRunning {
                let outcome = await process.finish(timeout: .seconds(2))
                throw TestFailure("mosquitto exited at start: \(outcome.summary)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw TestFailure("mosquitto did not listen on port \(port) within 20 s; log: \(process.stderrSoFar)")
    }

    /// Starts mosquitto again on the same port with the same persistence directory.
    func restart() async throws {
        do {
            try await launch(try Self.executable())
        } catch {
            await kill()
            throw error
        }
    }

    /// SIGKILL: no chance to write the database; waits for the exit.
    func kill() async {
        guard let process = child.withLock({ process in defer { process = nil }; return process }) else { return }
        await process.signal(SIGKILL)
    }

    /// Makes mosquitto write its database now (SIGUSR1) and waits until the new file is in place
    /// (mosquitto writes a new file and renames it over the old one, so the inode changes).
    func checkpoint() async throws {
        let before = inode()
        guard let pid = child.withLock({ $0?.processIdentifier }) else { throw TestFailure("mosquitto is not running") }
        Foundation.kill(pid, SIGUSR1)
        do {
            try await poll(timeout: .seconds(20), "mosquitto writing its database") { () -> Bool? in
                let now = inode()
                return now != nil && now != before ? true : nil
            }
        } catch {
            let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
            let signals = status.split(separator: "\n").filter { $0.hasPrefix("Sig") }.joined(separator: "; ")
            throw TestFailure("mosquitto did not write its database on SIGUSR1 (\(signals)); log: \(log)")
        }
    }

    private func inode() -> UInt64? {
        var info = stat()
        guard stat(databaseFile.path, &info) == 0 else { return nil }
        return UInt64(info.st_ino)
    }

    /// Whether this mosquitto (not another program) listens on `port` (one of its listeners).
    func listens(on port: Int) -> Bool {
        guard let pid = child.withLock({ $0?.processIdentifier }) else { return false }
        return LoopbackPort.isListening(pid: pid, port: port)
    }

    /// What mosquitto logged so far.
    var log: String { child.withLock { $0?.stderrSoFar ?? "(not running)" } }

    /// Kills mosquitto and removes its directory.
    func stop() async {
        await kill()
        try? FileManager.default.removeItem(at: directory)
    }

    /// A port nothing listens on right now, outside the range port-0 listeners draw from (see
    /// ``LoopbackPort``), so no other test's listener takes it by chance.
    static func freePort() async throws -> Int {
        try LoopbackPort.pick()
    }

    /// Whether a TCP connection to 127.0.0.1:`port` is accepted.
    static func accepts(port: Int) async -> Bool {
        do {
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(500))
                .connect(host: "127.0.0.1", port: port).get()
            try? await channel.close()
            return true
        } catch {
            return false
        }
    }
}

/// Runs `body` with a started mosquitto, always stopping it.
func withMosquitto<T>(autosaveInterval: Int = 1, extraConfiguration: [String] = [], _ body: (Mosquitto) async throws -> T) async throws -> T {
    let mosquitto = try await Mosquitto.start(autosaveInterval: autosaveInterval, extraConfiguration: extraConfiguration)
    do {
        let result = try await body(mosquitto)
        await mosquitto.stop()
        return result
    } catch {
        await mosquitto.stop()
        throw error
    }
}
