import Foundation
import Synchronization

/// A child started with `posix_spawn`, for the test launchers.
///
/// Not Foundation's `Process`: its `run()` in this toolchain reads `/proc/self/fd` entries past
/// their end and now and then crashes the whole test process with SIGSEGV, more often the more
/// descriptors are open (swift-corelibs-foundation PR #5472). And `FileHandle.availableData`
/// traps on EINTR. Here the child gets its three standard descriptors, every other one closed,
/// no signal blocked and default dispositions (the test runner's threads block SIGTERM, SIGUSR1...
/// and ignore SIGPIPE; a child would inherit that). Its exit is awaited on a thread of its own;
/// a child still running when the test process exits is killed then.
///
/// In the `TestSupport` target shared by every test target.
public final class SpawnedChild: Sendable {
    public let pid: pid_t
    private let exit = ExitStatus()

    /// Set once by the waiting thread, which may outlive this object; `exited` is left then.
    private final class ExitStatus: Sendable {
        let value = Mutex<Int32?>(nil)
        let exited = DispatchGroup()
    }

    /// Every child not yet seen to exit: killed when the test process exits.
    private static let live = Mutex<Set<pid_t>>([])
    private static let reaper: Void = {
        atexit {
            for pid in SpawnedChild.live.withLock({ $0 }) { kill(pid, SIGKILL) }
        }
    }()

    /// Starts `executable` with `arguments`, its standard input, output and error on the given
    /// descriptors (which stay open here: the caller closes its copies). `onExit` gets the exit
    /// status (or the signal number that ended it) once, on the waiting thread.
    public init(_ executable: String, _ arguments: [String], stdin: Int32, stdout: Int32, stderr: Int32,
         environment: [String: String]? = nil, onExit: @escaping @Sendable (Int32) -> Void = { _ in }) throws {
        Self.reaper
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, 3) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let envStrings = environment.map { $0.map { "\($0.key)=\($0.value)" } }
        let envp: [UnsafeMutablePointer<CChar>?]? = envStrings.map { $0.map { strdup($0) } + [nil] }
        defer { for pointer in envp ?? [] { free(pointer) } }

        var pid: pid_t = 0
        let result: Int32 = argv.withUnsafeBufferPointer { argvBuffer in
            if let envp {
                return envp.withUnsafeBufferPointer { envBuffer in
                    posix_spawn(&pid, executable, &actions, &attributes, argvBuffer.baseAddress!, envBuffer.baseAddress!)
                }
            }
            return posix_spawn(&pid, executable, &actions, &attributes, argvBuffer.baseAddress!, environ)
        }
        guard result == 0 else {
            throw SpawnFailure(description: "cannot start \(executable): \(String(cString: strerror(result)))")
        }
        let started = pid
        self.pid = started
        _ = Self.live.withLock { $0.insert(started) }
        let exit = self.exit
        exit.exited.enter()
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(started, &status, 0) < 0 && errno == EINTR {}
            // WIFEXITED: the exit code; else the number of the signal that ended it.
            let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : status & 0x7f
            _ = SpawnedChild.live.withLock { $0.remove(started) }
            exit.value.withLock { $0 = code }
            exit.exited.leave()
            onExit(code)
        }
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+; not in the Swift Glibc module),
    /// so the child gets no other descriptor of the test process.
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()

    /// The exit status (or ending signal), nil while it runs.
    public var status: Int32? { exit.value.withLock { $0 } }
    public var isRunning: Bool { status == nil }

    /// Blocks until the child exited or `timeout` passed; its exit status (or ending signal),
    /// nil if it still runs. For `deinit` and other synchronous code.
    @discardableResult
    public func blockUntilExit(timeout: Duration) -> Int32? {
        _ = exit.exited.wait(timeout: .now() + .nanoseconds(Int(timeout / .nanoseconds(1))))
        return status
    }

    /// Waits until the child exited or `timeout` passed (on a thread outside Swift's concurrency
    /// pool); its exit status (or ending signal), nil if it still runs.
    @discardableResult
    public func waitForExit(timeout: Duration) async -> Int32? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { [self] in
                blockUntilExit(timeout: timeout)
                continuation.resume()
            }
        }
        return status
    }

    /// SIGKILL unless it already exited, then waits (at most 10 s) until it is gone.
    public func killAndWait() {
        send(SIGKILL)
        blockUntilExit(timeout: .seconds(10))
    }

    /// Sends `signal` unless it already exited.
    public func send(_ signal: Int32) {
        exit.value.withLock { status in
            if status == nil { kill(pid, signal) }
        }
    }

    /// A pipe whose two ends are closed on exec (the child gets its end through dup2).
    public static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        guard Glibc.pipe(&fds) == 0 else { throw SpawnFailure(description: "pipe: \(String(cString: strerror(errno)))") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return (fds[0], fds[1])
    }

    /// /dev/null, opened for reading or writing, closed on exec.
    public static func devNull(writing: Bool = false) -> Int32 {
        open("/dev/null", (writing ? O_WRONLY : O_RDONLY) | O_CLOEXEC)
    }

    /// Reads `fd` to its end on a thread of its own, handing each chunk to `chunk` and an empty
    /// `Data` at the end; then closes it.
    public static func drain(_ fd: Int32, _ chunk: @escaping @Sendable (Data) -> Void) {
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { break }
                chunk(Data(buffer[0..<count]))
            }
            close(fd)
            chunk(Data())
        }
    }

    /// Writes `data` to `fd` on a thread of its own, then closes it.
    public static func feed(_ fd: Int32, _ data: Data) {
        Thread.detachNewThread {
            data.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let written = write(fd, raw.baseAddress! + offset, raw.count - offset)
                    if written < 0 { if errno == EINTR { continue }; break }
                    offset += written
                }
            }
            close(fd)
        }
    }

    public struct SpawnFailure: Error, CustomStringConvertible {
        public var description: String
    }
}
