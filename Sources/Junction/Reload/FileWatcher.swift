import Foundation
import Logging
import ServiceLifecycle

/// Watches one file and calls `onChange` with its new contents after it was saved: a
/// `Service` that polls the file's modification time and size (portable, and cheap at one
/// `stat` per interval). A file saved twice within one interval is reported once.
public struct FileWatcher: Service {
    public let path: String
    public let interval: Duration
    private let onChange: @Sendable (Data) async -> Void
    /// The file as it was when the watcher was made: changes are reported relative to it.
    private let baseline: String?

    public init(path: String, interval: Duration = .seconds(1), onChange: @escaping @Sendable (Data) async -> Void) {
        self.path = path
        self.interval = interval
        self.onChange = onChange
        self.baseline = Self.signature(of: path)
    }

    private static func signature(of path: String) -> String? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let size = (attributes[.size] as? NSNumber)?.intValue ?? -1
        return "\(modified)/\(size)"
    }

    public func run() async throws {
        var last = baseline
        while !Task.isCancelledOrShuttingDown {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            let current = Self.signature(of: path)
            guard current != last, let current else { continue }
            last = current
            if let data = FileManager.default.contents(atPath: path) { await onChange(data) }
        }
    }
}

extension Task where Success == Never, Failure == Never {
    static var isCancelledOrShuttingDown: Bool { Task.isCancelled || Task.isShuttingDownGracefully }
}
