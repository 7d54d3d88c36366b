import Foundation
import Synchronization

/// A real Mosquitto (the Debian package's `/usr/sbin/mosquitto`) for the interop, bridge and
/// external-broker tests, the one launcher every test target uses.
///
/// ``prepare(persistence:extraConfiguration:)`` chooses a loopback port up front with
/// ``LoopbackPort/pick()`` and writes the configuration into a temporary directory without
/// starting anything, so a test can start it late, stop it and start it again on the same port
/// with the same persistence directory; ``start(persistence:extraConfiguration:)`` prepares and
/// starts at once (trying another port when a launch fails). A launch counts once this child
/// itself listens on the port (see ``LoopbackPort/isListening(pid:port:)``), not when some other
/// program on it accepts a connection. Standard output and error go to `mosquitto.log` in its
/// directory (``log``), so no pipe has to be drained. Every wait has a deadline;
/// ``stop()`` kills it and removes the directory, and the `with...` helpers always call it.
/// Started with `posix_spawn` through ``SpawnedChild`` (never Foundation's `Process`).
///
/// In the `TestSupport` target shared by every test target.
public final class TestMosquitto: Sendable {
    /// Whether mosquitto keeps its state in `mosquitto.db` in its directory.
    public enum Persistence: Sendable {
        /// No database: a restart forgets every session and retained message.
        case off
        /// A database written every `autosaveInterval` seconds (0: only on ``TestMosquitto/checkpoint()``
        /// (SIGUSR1) and at a clean exit, ``TestMosquitto/terminate()``).
        case on(autosaveInterval: Int)
    }

    /// The executable every instance runs.
    public static let executablePath = "/usr/sbin/mosquitto"

    /// The loopback port of its listener, the same across restarts.
    public let port: Int
    /// Its temporary directory: configuration, log, database and any files the test adds.
    public let directory: URL
    private let child = Mutex<SpawnedChild?>(nil)

    private init(port: Int, directory: URL) {
        self.port = port
        self.directory = directory
    }

    /// `mqtt://127.0.0.1:<port>`.
    public var url: String { "mqtt://127.0.0.1:\(port)" }
    /// Its configuration file.
    public var configurationFile: URL { directory.appendingPathComponent("mosquitto.conf") }
    /// Its database (with persistence on).
    public var databaseFile: URL { directory.appendingPathComponent("mosquitto.db") }
    /// The file its standard output and error go to.
    public var logFile: URL { directory.appendingPathComponent("mosquitto.log") }

    /// Everything it logged so far, over all its runs.
    public var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "(no log)" }

    /// The process id of the running child, nil when it is not running.
    public var pid: pid_t? { child.withLock { $0?.isRunning == true ? $0?.pid : nil } }

    /// Chooses a free loopback port and writes the configuration: a listener on 127.0.0.1:`port`,
    /// anonymous clients allowed, `persistence`, logging to ``logFile``, then
    /// `extraConfiguration` (in which `$DIR` stands for ``directory``). Does not start it.
    public static func prepare(persistence: Persistence = .off, extraConfiguration: [String] = []) throws -> TestMosquitto {
        guard FileManager.default.isExecutableFile(atPath: executablePath) else {
            throw Failure(description: "mosquitto is not installed: install the Debian package mosquitto (make test-deps does)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("junction-mosquitto-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let mosquitto: TestMosquitto
        do {
            mosquitto = TestMosquitto(port: try LoopbackPort.pick(), directory: directory)
            var lines = ["listener \(mosquitto.port) 127.0.0.1", "allow_anonymous true"]
            switch persistence {
            case .off:
                lines.append("persistence false")
            case .on(let autosaveInterval):
                lines += ["persistence true", "persistence_location \(directory.path)/", "autosave_interval \(autosaveInterval)"]
            }
            lines += ["log_dest stderr", "log_type error", "log_type warning", "log_type notice", "log_type information"]
            if geteuid() == 0 { lines.append("user root") }  // else mosquitto drops to a user that cannot write here
            lines += extraConfiguration.map { $0.replacingOccurrences(of: "$DIR", with: directory.path) }
            try (lines.joined(separator: "\n") + "\n").write(to: mosquitto.configurationFile, atomically: true, encoding: .utf8)
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        return mosquitto
    }

    /// Prepares and starts one (see ``prepare(persistence:extraConfiguration:)``); a launch that
    /// fails (another program took the port first) is retried on another port, up to 5 times.
    public static func start(persistence: Persistence = .off, extraConfiguration: [String] = []) async throws -> TestMosquitto {
        var lastError: (any Error)?
        for _ in 0..<5 {
            let mosquitto = try prepare(persistence: persistence, extraConfiguration: extraConfiguration)
            do {
                try await mosquitto.start()
                return mosquitto
            } catch {
                lastError = error
                await mosquitto.stop()
            }
        }
        throw lastError ?? Failure(description: "mosquitto did not start")
    }

    /// Starts it (again, after ``kill()`` or ``terminate()``: same port, same directory) and waits
    /// up to 20 s until it listens on ``port``; on failure it is killed and the error carries its log.
    public func start() async throws {
        guard pid == nil else { throw Failure(description: "mosquitto on port \(port) is already running") }
        let output = open(logFile.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw Failure(description: "cannot open \(logFile.path): \(String(cString: strerror(errno)))") }
        let input = SpawnedChild.devNull()
        defer {
            close(output)
            close(input)
        }
        // posix_spawn (see SpawnedChild): no signal blocked, so SIGTERM and SIGUSR1 reach it.
        let process = try SpawnedChild(Self.executablePath, ["-c", configurationFile.path], stdin: input, stdout: output, stderr: output)
        child.withLock { $0 = process }
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline && process.isRunning {
            if LoopbackPort.isListening(pid: process.pid, port: port) { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
        let outcome = process.isRunning ? "did not listen on port \(port) within 20 s" : "exited at start (status \(process.status ?? -1))"
        await kill()
        throw Failure(description: "mosquitto \(outcome); log: \(log)")
    }

    /// SIGTERM (mosquitto writes its database when persistence is on) and waits up to 20 s for
    /// the exit, then SIGKILL. Nothing happens when it is not running.
    public func terminate() async {
        guard let process = take() else { return }
        process.send(SIGTERM)
        await process.waitForExit(timeout: .seconds(20))
        process.send(SIGKILL)
        await process.waitForExit(timeout: .seconds(5))
    }

    /// SIGKILL: no chance to write the database; waits (at most 5 s) until the child is gone.
    public func kill() async {
        guard let process = take() else { return }
        process.send(SIGKILL)
        await process.waitForExit(timeout: .seconds(5))
    }

    /// Kills it (if running) and removes its directory.
    public func stop() async {
        await kill()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Makes mosquitto write its database now (SIGUSR1) and waits (up to 20 s) until the new file
    /// is in place: mosquitto writes a new file and renames it over the old one, so the inode changes.
    public func checkpoint() async throws {
        let before = databaseInode()
        guard let process = child.withLock({ $0 }), process.isRunning else {
            throw Failure(description: "mosquitto on port \(port) is not running")
        }
        process.send(SIGUSR1)
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let now = databaseInode(), now != before { return }
            try? await Task.sleep(for: .milliseconds(20))
        }
        let status = LoopbackPort.readAll("/proc/\(process.pid)/status")
        let signals = status.split(separator: "\n").filter { $0.hasPrefix("Sig") }.joined(separator: "; ")
        throw Failure(description: "mosquitto did not write its database on SIGUSR1 within 20 s (\(signals)); log: \(log)")
    }

    /// Whether this mosquitto (not another program) listens on `port`: ``port`` or one of the
    /// listeners of its extra configuration.
    public func listens(on port: Int) -> Bool {
        guard let pid else { return false }
        return LoopbackPort.isListening(pid: pid, port: port)
    }

    /// Whether a TCP connection to 127.0.0.1:`port` is accepted within 500 ms (see
    /// ``LoopbackPort/accepts(_:milliseconds:)``): any program on it counts, see ``listens(on:)``.
    public static func accepts(port: Int) -> Bool { LoopbackPort.accepts(port) }

    /// Why a launch or a wait failed.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private func take() -> SpawnedChild? {
        child.withLock { process in defer { process = nil }; return process }
    }

    private func databaseInode() -> UInt64? {
        var info = stat()
        guard stat(databaseFile.path, &info) == 0 else { return nil }
        return UInt64(info.st_ino)
    }
}

/// Runs `body` with a started mosquitto (see ``TestMosquitto/start(persistence:extraConfiguration:)``),
/// always stopping it afterwards.
public func withTestMosquitto<T>(persistence: TestMosquitto.Persistence = .off, extraConfiguration: [String] = [],
                                 _ body: (TestMosquitto) async throws -> T) async throws -> T {
    try await TestMosquitto.start(persistence: persistence, extraConfiguration: extraConfiguration).stopped(after: body)
}

/// Runs `body` with a prepared mosquitto that is not started yet (see
/// ``TestMosquitto/prepare(persistence:extraConfiguration:)``), always stopping it afterwards.
public func withPreparedMosquitto<T>(persistence: TestMosquitto.Persistence = .off, extraConfiguration: [String] = [],
                                     _ body: (TestMosquitto) async throws -> T) async throws -> T {
    try await TestMosquitto.prepare(persistence: persistence, extraConfiguration: extraConfiguration).stopped(after: body)
}

extension TestMosquitto {
    /// Runs `body`, then ``stop()``, whether `body` returned or threw.
    fileprivate func stopped<T>(after body: (TestMosquitto) async throws -> T) async throws -> T {
        do {
            let result = try await body(self)
            await stop()
            return result
        } catch {
            await stop()
            throw error
        }
    }
}
