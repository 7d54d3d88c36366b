import Foundation
import MQTTCore
import NIOCore
import TestSupport
import Testing

/// Real clients against the in-process broker: Mosquitto's command line clients
/// (Debian mosquitto-clients) and Eclipse Paho for Python (paho-mqtt 2.x). `make test` installs
/// both; a missing one fails the test, it is not skipped.
@Suite("interop", .timeLimit(.minutes(2)))
struct InteropTests {
    static func mosquittoPub() throws -> URL { try installedTool("mosquitto_pub", package: "mosquitto-clients") }
    static func mosquittoSub() throws -> URL { try installedTool("mosquitto_sub", package: "mosquitto-clients") }

    static func versionFlag(_ version: MQTTProtocolVersion) -> String { version == .v5 ? "mqttv5" : "mqttv311" }

    /// Every byte value, then a run that is not valid UTF-8, then a larger block.
    static let binaryPayload: [UInt8] = Array(0...255) + [0xC3, 0x28, 0xFF, 0xFE, 0x00, 0x00] + (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }

    static func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func temporaryFile(_ name: String, _ contents: Data) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("junction-\(UUID().uuidString)-\(name)")
        try contents.write(to: url)
        return url
    }

    /// Starts mosquitto_sub for `count` messages and waits until its subscription is acknowledged.
    static func startSubscriber(port: Int, version: MQTTProtocolVersion, topic: String, qos: MQTTQoS,
                                count: Int = 1) async throws -> ChildProcess {
        // mosquitto_sub's debug lines go through stdio, block-buffered into a pipe: stdbuf makes
        // them line-buffered so the SUBACK line can be seen as it happens.
        let stdbuf = try installedTool("stdbuf", package: "coreutils")
        let sub = try ChildProcess(stdbuf, ["-oL", try mosquittoSub().path,
            "-h", "127.0.0.1", "-p", "\(port)", "-V", versionFlag(version), "-q", "\(qos.rawValue)", "-t", topic,
            "-i", unique("msub"), "-C", "\(count)", "-W", "15", "-d", "-F", "MSG %t %q %r %x",
        ])
        guard await sub.waitForOutput(containing: "received SUBACK", timeout: .seconds(20)) else {
            let outcome = await sub.finish(timeout: .seconds(1))
            throw RawClientError(description: "mosquitto_sub did not subscribe: \(outcome.summary)")
        }
        return sub
    }

    /// The `MSG topic qos retain hex` lines mosquitto_sub printed.
    static func messages(_ outcome: ChildProcess.Outcome) -> [[Substring]] {
        outcome.stdoutText.split(separator: "\n").filter { $0.hasPrefix("MSG ") }.map { $0.split(separator: " ", omittingEmptySubsequences: false) }
    }

    @Test("mosquitto_pub → broker → subscriber, QoS 0/1/2", arguments: MQTTProtocolVersion.allCases, MQTTQoS.allCases)
    func mosquittoPublishes(version: MQTTProtocolVersion, qos: MQTTQoS) async throws {
        let pub = try Self.mosquittoPub()
        try await withBroker { port in
            let topic = unique("interop") + "/pub"
            let subscriber = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("sub"))
            try await subscriber.subscribe(topic, qos: .exactlyOnce)
            let outcome = try await ChildProcess.run(pub, [
                "-h", "127.0.0.1", "-p", "\(port)", "-V", Self.versionFlag(version), "-q", "\(qos.rawValue)",
                "-t", topic, "-m", "héllo from mosquitto_pub", "-i", unique("mpub"),
            ])
            #expect(outcome.status == 0 && !outcome.timedOut, "\(outcome.summary)")
            let message = try await subscriber.receivePublish()
            #expect(message.payloadString == "héllo from mosquitto_pub")
            #expect(message.qos == qos)
            try await subscriber.acknowledge(message)
        }
    }

    @Test("broker → mosquitto_sub, QoS 0/1/2", arguments: MQTTProtocolVersion.allCases, MQTTQoS.allCases)
    func mosquittoSubscribes(version: MQTTProtocolVersion, qos: MQTTQoS) async throws {
        try await withBroker { port in
            let topic = unique("interop") + "/sub"
            let sub = try await Self.startSubscriber(port: port, version: version, topic: topic, qos: qos, count: 3)
            let publisher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("pub"))
            for n in 1...3 { try await publisher.publish(topic, "m\(n)", qos: .exactlyOnce) }
            let outcome = await sub.finish()
            #expect(outcome.status == 0 && !outcome.timedOut, "\(outcome.summary)")
            let lines = Self.messages(outcome)
            #expect(lines.map { $0.last.map(String.init) } == ["m1", "m2", "m3"].map { Self.hex($0.utf8) }, "\(outcome.summary)")
            #expect(lines.allSatisfy { $0.count == 5 && $0[1] == Substring(topic) && $0[2] == Substring("\(qos.rawValue)") })
        }
    }

    @Test("retained: mosquitto_pub -r is delivered retained; a retained message reaches mosquitto_sub with RETAIN",
          arguments: MQTTProtocolVersion.allCases)
    func retained(version: MQTTProtocolVersion) async throws {
        let pub = try Self.mosquittoPub()
        try await withBroker { port in
            let topic = unique("interop") + "/retained"
            let outcome = try await ChildProcess.run(pub, [
                "-h", "127.0.0.1", "-p", "\(port)", "-V", Self.versionFlag(version), "-q", "1", "-r",
                "-t", topic, "-m", "kept", "-i", unique("mpub"),
            ])
            #expect(outcome.status == 0, "\(outcome.summary)")
            let late = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("late"))
            try await late.subscribe(topic, qos: .atLeastOnce)
            let stored = try await late.receivePublish()
            #expect(stored.payloadString == "kept" && stored.retain)

            let sub = try await Self.startSubscriber(port: port, version: version, topic: topic, qos: .atLeastOnce)
            let subOutcome = await sub.finish()
            #expect(subOutcome.status == 0, "\(subOutcome.summary)")
            #expect(Self.messages(subOutcome).map { "\($0[3]) \($0[4])" } == ["1 \(Self.hex("kept".utf8))"], "\(subOutcome.summary)")
        }
    }

    @Test("binary payloads travel byte for byte: mosquitto_pub -f → broker → mosquitto_sub and a raw subscriber",
          arguments: MQTTProtocolVersion.allCases)
    func binaryPayload(version: MQTTProtocolVersion) async throws {
        let pub = try Self.mosquittoPub()
        try await withBroker { port in
            let topic = unique("interop") + "/binary"
            let file = try Self.temporaryFile("payload.bin", Data(Self.binaryPayload))
            defer { try? FileManager.default.removeItem(at: file) }
            let raw = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("raw"))
            try await raw.subscribe(topic, qos: .exactlyOnce)
            let sub = try await Self.startSubscriber(port: port, version: version, topic: topic, qos: .exactlyOnce)

            let outcome = try await ChildProcess.run(pub, [
                "-h", "127.0.0.1", "-p", "\(port)", "-V", Self.versionFlag(version), "-q", "2",
                "-t", topic, "-f", file.path, "-i", unique("mpub"),
            ])
            #expect(outcome.status == 0, "\(outcome.summary)")

            let message = try await raw.receivePublish()
            #expect(Array(message.payload.readableBytesView) == Self.binaryPayload)
            try await raw.acknowledge(message)
            let subOutcome = await sub.finish()
            #expect(subOutcome.status == 0, "\(subOutcome.summary)")
            let hex = Self.messages(subOutcome).first?.last.map(String.init)
            #expect(hex == Self.hex(Self.binaryPayload), "mosquitto_sub received \(hex?.count ?? 0) hex digits")
        }
    }

    @Test("paho-mqtt (Python) publishes and subscribes at QoS 0/1/2, binary and retained", arguments: MQTTProtocolVersion.allCases)
    func paho(version: MQTTProtocolVersion) async throws {
        let python = try installedTool("python3")
        let check = try await ChildProcess.run(python, ["-c", "import paho.mqtt, paho.mqtt.client; print(paho.mqtt.__version__)"])
        guard check.status == 0 else {
            Issue.record("python3 cannot import paho.mqtt.client: pip install 'paho-mqtt>=2,<3' (make test-deps does). \(check.summary)")
            return
        }
        #expect(check.stdoutText.hasPrefix("2."), "paho-mqtt 2.x expected, found \(check.stdoutText)")
        let script = try Self.temporaryFile("paho_interop.py", Data(PahoScript.source.utf8))
        defer { try? FileManager.default.removeItem(at: script) }
        try await withBroker { port in
            let outcome = try await ChildProcess.run(python, [script.path, "\(port)", version == .v5 ? "5" : "311", unique("paho")],
                                                        timeout: .seconds(75))
            #expect(outcome.status == 0 && outcome.stdoutText.contains("OK"), "\(outcome.summary)")
        }
    }
}
