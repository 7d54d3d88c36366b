import Foundation
import TestSupport
import Testing

/// `junction run` as a child process stopped the way a service manager stops it.
@Suite("junction run: SIGTERM", .timeLimit(.minutes(1)))
struct RunShutdownTests {
    @Test("SIGTERM stops the broker, the process and the admin API gracefully, and junction run exits 0", arguments: 0..<5)
    func sigtermExitsZero(round: Int) async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("junction-sigterm-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        for folder in ["Processes", "Connectors"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(folder), withIntermediateDirectories: true)
        }
        try Data(#"{"type": "mqtt-broker", "listeners": [{"host": "127.0.0.1", "port": 0}], "mqtt": {"sysInterval": "off"}}"#.utf8)
            .write(to: root.appendingPathComponent("Connectors/local.json"))
        try Data(#"{"listen": {"connector": "local", "topic": "in/#", "qos": 1}, "steps": [{"send": {"connector": "local", "topic": "out", "qos": 1}}]}"#.utf8)
            .write(to: root.appendingPathComponent("Processes/relay.json"))
        let child = try JunctionChild(["run", "--processes", "Processes", "--connectors", "Connectors", "--data", ".junction",
                                       "--admin-port", "\(try LoopbackPort.pick())", "--log-format", "json"], directory: root)
        defer { child.kill() }
        try await child.waitForLine(containing: "admin API listening")
        try await child.waitForLine(containing: "process started")
        let status = await child.terminate()
        #expect(status == 0, "round \(round): exit \(String(describing: status)): \(child.errorOutput)")
        #expect(!child.errorOutput.contains("finished unexpectedly"), "\(child.errorOutput)")
        #expect(child.errorOutput.contains("process stopped"), "\(child.errorOutput)")
    }
}
