import Foundation
import ServiceLifecycle

/// Watches the broker definition and the files its `auth` section names (password file, ACL
/// file): saving any of them reloads the definition, so `junction passwd` takes effect on a
/// running broker. The auth files watched are those of the definition the daemon started with;
/// changes are seen relative to the files as they were when the watcher was made.
public struct BrokerFilesWatcher: Service {
    private let watchers: [FileWatcher]

    init(reloader: BrokerReloader, interval: Duration) {
        var watchers = [FileWatcher(path: reloader.file, interval: interval) { data in await reloader.reload(data) }]
        for file in reloader.authFiles {
            watchers.append(FileWatcher(path: file, interval: interval) { _ in
                guard let definition = FileManager.default.contents(atPath: reloader.file) else { return }
                await reloader.reload(definition)
            })
        }
        self.watchers = watchers
    }

    public func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            for watcher in watchers { group.addTask { try await watcher.run() } }
        }
    }
}
