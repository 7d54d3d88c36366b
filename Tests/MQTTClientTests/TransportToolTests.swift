import Foundation
import MQTTBroker
import MQTTClient
import MQTTCore
import TestSupport
import Testing

/// `junction pub` / `junction sub` over TLS and WebSocket (`--cafile`, `--cert`, `--key`,
/// `--insecure`, `-L mqtts://`, `-L ws://`), and `junction validate`'s transport warnings; the
/// built executable runs as a child process.
@Suite("junction tools over TLS and WebSocket", .timeLimit(.minutes(2)))
struct TransportToolTests {
    @Test("junction sub --cafile --cert --key and junction pub --cafile over TLS; pub -L ws:// and -L mqtts://")
    func toolsOverTLS() async throws {
        let junction = try Tools.junction()
        let ca = try TestCertificates.pem("ca")
        let listeners: [BrokerListener] = [.test(tls: try TestCertificates.listener(clientCertificates: .required)),
                                           .test(tls: try TestCertificates.listener()), .test(webSocketPath: "/mqtt")]
        try await withBroker(listeners: listeners) { ports in
            let topic = unique("tools")
            // A retained marker: once junction sub prints it, its subscription is in place.
            let marker = try await ChildProcess.run(junction, ["pub", "-L", "ws://127.0.0.1:\(ports[2])/mqtt", "-t", topic, "-m", "ready", "-r", "-q", "1"])
            #expect(marker.status == 0, "\(marker.summary)")
            let sub = try ChildProcess(junction, ["sub", "-h", "localhost", "-p", "\(ports[0])", "--cafile", ca,
                                                  "--cert", try TestCertificates.pem("client"), "--key", try TestCertificates.key("client"),
                                                  "-t", topic, "-q", "1", "-C", "4", "-W", "20"])
            guard await sub.waitForOutput(containing: "ready", timeout: .seconds(10)) else {
                throw TestFailure("junction sub did not subscribe over TLS: \(await sub.finish(timeout: .seconds(1)).summary)")
            }
            let runs: [[String]] = [
                ["-h", "localhost", "-p", "\(ports[1])", "--cafile", ca],
                ["-L", "mqtts://localhost:\(ports[1])", "--cafile", ca],
                ["-L", "ws://127.0.0.1:\(ports[2])/mqtt"],
            ]
            for (index, connection) in runs.enumerated() {
                let pub = try await ChildProcess.run(junction, ["pub"] + connection + ["-t", topic, "-q", "1", "-m", "m\(index)"])
                #expect(pub.status == 0, "\(connection): \(pub.summary)")
            }
            let outcome = await sub.finish()
            #expect(outcome.status == 0 && outcome.stdoutText == "ready\nm0\nm1\nm2\n", "\(outcome.summary)")
        }
    }

    @Test("junction pub refuses a certificate for another host unless --insecure; without a client certificate the listener refuses")
    func toolRefusals() async throws {
        let junction = try Tools.junction()
        let ca = try TestCertificates.pem("ca")
        try await withBroker(listeners: [.test(tls: try TestCertificates.listener("wrong-host")),
                                         .test(tls: try TestCertificates.listener(clientCertificates: .required))]) { ports in
            let base = ["pub", "-h", "127.0.0.1", "--cafile", ca, "-t", "t", "-m", "x"]
            let wrongHost = try await ChildProcess.run(junction, base + ["-p", "\(ports[0])"])
            #expect(wrongHost.status == 1, "\(wrongHost.summary)")
            let insecure = try await ChildProcess.run(junction, base + ["-p", "\(ports[0])", "--insecure"])
            #expect(insecure.status == 0, "\(insecure.summary)")
            let noCertificate = try await ChildProcess.run(junction, base + ["-p", "\(ports[1])"])
            #expect(noCertificate.status == 1, "\(noCertificate.summary)")
            let halfPair = try await ChildProcess.run(junction, base + ["-p", "\(ports[1])", "--cert", try TestCertificates.pem("client")])
            #expect(halfPair.status != 0 && halfPair.stderr.contains("--cert and --key"), "\(halfPair.summary)")
        }
    }

    @Test("junction validate prints transport warnings and still exits 0")
    func validateWarnings() async throws {
        let junction = try Tools.junction()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("junction-validate-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let connectors = root.appendingPathComponent("Connectors")
        try FileManager.default.createDirectory(at: connectors, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("Processes"), withIntermediateDirectories: true)
        let (cert, key) = (try TestCertificates.pem("server"), try TestCertificates.key("server"))
        try Data(#"{"type": "mqtt-broker", "listeners": [{"port": 8883, "tls": {"certificate": "\#(cert)", "key": "\#(key)", "clientCertificates": "required"}}]}"#.utf8)
            .write(to: connectors.appendingPathComponent("broker.json"))
        try Data(#"{"type": "mqtt", "url": "mqtts://broker.example", "tls": {"verify": false}}"#.utf8)
            .write(to: connectors.appendingPathComponent("remote.json"))
        let outcome = try await ChildProcess.run(junction, ["validate", "--processes", root.appendingPathComponent("Processes").path,
                                                            "--connectors", connectors.path])
        #expect(outcome.status == 0, "\(outcome.summary)")
        #expect(outcome.stdoutText.contains("valid: 0 processes, 2 connectors"))
        #expect(outcome.stderr.contains("warning: \(connectors.appendingPathComponent("broker.json").path): listeners[0].tls.ca: client certificates are required"),
                "\(outcome.stderr)")
        #expect(outcome.stderr.contains("remote.json: tls.verify: false turns off"), "\(outcome.stderr)")
    }
}
