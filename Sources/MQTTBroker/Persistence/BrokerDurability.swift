/// When the broker, given a data directory, answers PUBACK/PUBREC (and PUBREL, PUBCOMP, SUBACK...)
/// relative to writing the state change to its SQLite store.
///
/// Changes are collected on the event loop and committed in groups by one writer thread: one
/// transaction holds everything that arrived while the previous one was being written.
public enum BrokerDurability: String, Sendable, Hashable, CaseIterable {
    /// Acknowledgements wait for their group's commit, and every commit is fsynced
    /// (SQLite `synchronous = FULL`): nothing acknowledged is lost, even by power loss. The
    /// slowest mode: one fsync per group.
    case sync
    /// Acknowledgements wait for their group's commit into the write-ahead log (in the OS page
    /// cache), which is fsynced at most `durabilityMaxWait` later: a killed broker (`kill -9`, a
    /// crash) loses nothing acknowledged; an OS crash or power loss can lose the last
    /// `durabilityMaxWait` of them. The default.
    case batch
    /// State is written in the background and acknowledgements never wait: a killed broker loses
    /// what it acknowledged since the last commit (typically the last few milliseconds).
    case off
}

/// Why the broker's store cannot be used. The broker refuses to start and leaves the file as it is.
public struct BrokerStoreError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String {
        "broker store \(path): \(reason); refusing to start, the file is left unchanged"
    }
}
