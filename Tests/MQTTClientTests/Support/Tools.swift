import Foundation
import MQTTBroker

/// The command-line programs the tool tests run.
enum Tools {
    /// The `junction` executable built next to this test bundle (`swift build --build-tests`
    /// builds it with the tests), or `.build/debug/junction` under the package.
    static func junction() throws -> URL {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let candidates = [
            beside.appendingPathComponent("junction"),
            beside.deletingLastPathComponent().appendingPathComponent("junction"),
            URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent(".build/debug/junction"),
        ]
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        throw TestFailure("the junction executable is not built (looked at \(candidates.map(\.path))): run `swift build --build-tests`")
    }

    static func mosquittoPub() throws -> URL { try tool("mosquitto_pub") }
    static func mosquittoSub() throws -> URL { try tool("mosquitto_sub") }

    private static func tool(_ name: String) throws -> URL {
        guard let url = ChildProcess.find(name) else {
            throw TestFailure("\(name) is not installed: install the Debian package mosquitto-clients (make test-deps does)")
        }
        return url
    }
}

/// Which broker a tool test runs against.
enum BrokerKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case junction, mosquitto
    var description: String { rawValue }
}

/// Runs `body` with the port of a fresh broker of `kind`, stopped afterwards.
func withBroker<T>(_ kind: BrokerKind, settings: BrokerSettings = .clientTest, _ body: (_ port: Int) async throws -> T) async throws -> T {
    switch kind {
    case .junction: try await withBroker(settings: settings, body)
    case .mosquitto: try await withMosquitto { try await body($0.port) }
    }
}
