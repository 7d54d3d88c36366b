import Foundation
import Synchronization

/// The `junction` executable built next to the test bundle (`swift build --build-tests` builds
/// it with the tests), or `.build/debug/junction` under the package.
public func builtJunctionExecutable() throws -> URL {
    let beside = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    let candidates = [
        beside.appendingPathComponent("junction"),
        beside.deletingLastPathComponent().appendingPathComponent("junction"),
        URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".build/debug/junction"),
    ]
    for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    throw SpawnedChild.SpawnFailure(
        description: "the junction executable is not built (looked at \(candidates.map(\.path))): run `swift build --build-tests`")
}

extension SpawnedChild {
    /// Starts `executable arguments...` with standard input and output on /dev/null and hands
    /// every chunk of its standard error to `stderr` (read on a thread of its own).
    public static func collectingStandardError(_ executable: String, _ arguments: [String],
                                               _ stderr: @escaping @Sendable (Data) -> Void) throws -> SpawnedChild {
        let err = try pipe()
        let input = devNull()
        let output = devNull(writing: true)
        defer {
            close(err.write)
            close(input)
            close(output)
        }
        let child: SpawnedChild
        do {
            child = try SpawnedChild(executable, arguments, stdin: input, stdout: output, stderr: err.write)
        } catch {
            close(err.read)
            throw error
        }
        drain(err.read, stderr)
        return child
    }
}

/// Bytes a child wrote, collected from its reader thread.
public final class CollectedOutput: Sendable {
    private let data = Mutex(Data())

    public init() {}

    public func append(_ chunk: Data) { data.withLock { $0.append(chunk) } }

    /// Everything so far, decoded as UTF-8.
    public var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
}
