import Foundation
import Synchronization

/// The children (mosquitto) the engine tests started and have not yet seen exit: killed when
/// the test process exits, so a failed or ended run leaves no process behind. Every launcher
/// also kills its child on each exit path of its test; this is the last resort.
enum ChildReaper {
    private static let live = Mutex<Set<Int32>>([])
    private static let installed: Void = {
        atexit {
            for pid in ChildReaper.live.withLock({ $0 }) { kill(pid, SIGKILL) }
        }
    }()

    /// Runs `process` (with no signal blocked: the test runner's threads block SIGTERM and others
    /// and a child inherits that mask) and records it until it exits.
    static func run(_ process: Process) throws {
        installed
        let previous = process.terminationHandler
        process.terminationHandler = { process in
            _ = live.withLock { $0.remove(process.processIdentifier) }
            previous?(process)
        }
        var none = sigset_t()
        var saved = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        try process.run()
        let pid = process.processIdentifier
        if process.isRunning { _ = live.withLock { $0.insert(pid) } }
    }
}
