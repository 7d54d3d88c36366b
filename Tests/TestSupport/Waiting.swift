import Foundation

/// Why a test's expectation about timing or a peer failed.
public struct TestFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Repeats `attempt` until it returns a value, `interval` apart; fails with `what` once `timeout`
/// passed. For facts that only time makes true (an expiry) or state with no event to await.
@discardableResult
public func poll<T>(timeout: Duration = .seconds(20), interval: Duration = .milliseconds(20), _ what: String,
                    _ attempt: () async throws -> T?) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while true {
        if let value = try await attempt() { return value }
        guard ContinuousClock.now + interval < deadline else { throw TestFailure("\(what) did not happen within \(timeout)") }
        try await Task.sleep(for: interval)
    }
}

/// Polls `condition` every 20 ms until it holds, failing after `timeout` (state that has no
/// event to await).
public func waitUntil(_ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw TestFailure("timed out waiting for \(what)") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

/// Runs `body`, giving up (nil) after `timeout`.
public func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async -> T?) async -> T? {
    await withTaskGroup(of: T?.self) { group in
        group.addTask { await body() }
        group.addTask { try? await Task.sleep(for: timeout); return nil }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}

/// Fails with `what` unless `body` finishes within `timeout`.
public func within<T: Sendable>(_ timeout: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            return nil
        }
        guard let first = try await group.next(), let value = first else {
            group.cancelAll()
            throw TestFailure("\(what) did not happen within \(timeout)")
        }
        group.cancelAll()
        return value
    }
}

/// A unique client id or topic per call (`prefix-1a2b3c4d`), so tests never collide.
public func unique(_ prefix: String) -> String {
    "\(prefix)-\(UUID().uuidString.prefix(8))"
}

/// The program `name` on PATH (a real peer a test talks to); fails, naming the Debian package
/// that has it when given, if it is missing (`make test-deps` installs them all).
public func installedTool(_ name: String, package: String? = nil) throws -> URL {
    guard let url = ChildProcess.find(name) else {
        let source = package.map { "install the Debian package \($0)" } ?? "install it"
        throw TestFailure("\(name) is not on PATH: \(source) (make test-deps does)")
    }
    return url
}
