import Foundation
import Logging
import ServiceLifecycle

/// Purges what outlived its retention (docs/design.md): archived documents of every `archiving` with a
/// `retention` (payload and `.meta.json` sidecar together), and tracking day files older than the
/// tracking retention. Runs once at start, then every `interval`, until graceful shutdown.
struct RetentionService: Service {
    /// An archive folder and how long its documents are kept.
    struct Archive: Hashable, Sendable {
        var directory: URL
        var retentionMilliseconds: Int64
    }

    /// The archives of the processes running now (they change when definitions reload).
    let archives: @Sendable () -> [Archive]
    let tracking: TrackingLog
    let trackingRetentionMilliseconds: Int64?
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            purgeOnce()
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// One pass over every archive and the tracking folder.
    func purgeOnce(now: Date = Date()) {
        for archive in Set(archives()) {
            let removed = Archiver(directory: archive.directory).purge(olderThan: archive.retentionMilliseconds, now: now)
            if removed > 0 {
                logger.info("archive retention purged files", metadata: [
                    "archive.directory": "\(archive.directory.path)", "archive.removed": "\(removed)",
                ])
            }
        }
        if let trackingRetentionMilliseconds {
            let removed = tracking.purge(olderThan: trackingRetentionMilliseconds, now: now)
            if !removed.isEmpty {
                logger.info("tracking retention purged files", metadata: ["tracking.removed": "\(removed.joined(separator: ", "))"])
            }
        }
    }

    /// The archives with a retention that `processes` write to, resolved against `base`.
    static func archives(of processes: [ProcessDefinition], base: URL) -> [Archive] {
        var found: [Archive] = []
        func add(_ options: OperationOptions) {
            guard let archiving = options.archiving, let retention = archiving.retentionMilliseconds else { return }
            let path = archiving.directory
            found.append(Archive(directory: path.hasPrefix("/") ? URL(fileURLWithPath: path) : base.appendingPathComponent(path),
                                 retentionMilliseconds: retention))
        }
        func walk(_ steps: [StepDefinition]) {
            for step in steps {
                switch step {
                case .send(let send): add(send.options)
                case .route(let cases, let otherwise):
                    for (_, nested) in cases { walk(nested) }
                    walk(otherwise)
                default: break
                }
            }
        }
        for process in processes {
            switch process.listen {
            case .mqtt(let listen): add(listen.options)
            case .http(let listen): add(listen.options)
            case .file(let listen): add(listen.options)
            }
            walk(process.steps)
        }
        return found
    }
}
