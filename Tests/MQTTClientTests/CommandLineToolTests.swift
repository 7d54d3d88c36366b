import Foundation
import MQTTBroker
import MQTTCore
import TestSupport
import Testing

/// `junction pub` and `junction sub`, the built executable run as a child process, against
/// Junction's broker and Mosquitto: output compared byte for byte with mosquitto_sub's, and the
/// exit statuses scripts rely on.
@Suite("junction pub / junction sub", .timeLimit(.minutes(2)))
struct CommandLineToolTests {
    /// Every byte value, newlines and NULs included.
    static let binary = Data((0...255).map { UInt8($0) } + (0...255).reversed().map { UInt8($0) })

    static func temporaryFile(_ data: Data) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("junction-payload-\(UUID().uuidString.prefix(8))")
        try data.write(to: url)
        return url
    }

    /// Starts a subscriber and waits until the retained marker on `base/ready` reached it: from
    /// then on its subscription is in place.
    static func startSubscriber(_ executable: URL, _ arguments: [String]) async throws -> ChildProcess {
        let process = try ChildProcess(executable, arguments)
        guard await process.waitForOutput(containing: "ready") else {
            let outcome = await process.finish(timeout: .seconds(1))
            throw TestFailure("\(process.command) did not get the retained marker: \(outcome.summary)")
        }
        return process
    }

    @Test("junction sub prints exactly what mosquitto_sub prints: payload, -v, -F with properties",
          arguments: BrokerKind.allCases, MQTTProtocolVersion.allCases)
    func subMatchesMosquittoSub(broker: BrokerKind, version: MQTTProtocolVersion) async throws {
        let junction = try Tools.junction()
        let mosquittoPub = try Tools.mosquittoPub()
        let mosquittoSub = try Tools.mosquittoSub()
        let file = try Self.temporaryFile(Self.binary)
        defer { try? FileManager.default.removeItem(at: file) }
        try await withBroker(broker) { port in
            let base = unique("cli")
            let v = version == .v5 ? "5" : "311"
            let common = ["-p", "\(port)", "-V", v]
            let marker = try await ChildProcess.run(mosquittoPub, common + ["-t", "\(base)/ready", "-m", "ready", "-r", "-q", "1"])
            #expect(marker.status == 0, "\(marker.summary)")
            let format = version == .v5 ? #"%t|%q|%r|%l|%C|%R|%P|%F|%S|%x\n%p"# : #"%t|%q|%r|%l|%x\t%p"#
            let variants: [[String]] = [[], ["-v"], ["-F", format], ["-N", "-v"]]
            var pairs: [(ChildProcess, ChildProcess)] = []
            var started: [ChildProcess] = []
            defer { for child in started { child.terminate() } }  // on every exit path, failures included
            for variant in variants {
                let arguments = common + ["-t", "\(base)/#", "-q", "2", "-C", "4"] + variant
                let ours = try await Self.startSubscriber(junction, ["sub"] + arguments)
                started.append(ours)
                let theirs = try await Self.startSubscriber(mosquittoSub, arguments)
                started.append(theirs)
                pairs.append((ours, theirs))
            }
            // The QoS 2 message last: libmosquitto hands one to mosquitto_sub at PUBREL, our client
            // to junction sub at PUBLISH, so a message arriving in between (on a loaded machine)
            // would be printed in a different order by the two.
            var publishes: [[String]] = [
                ["-t", "\(base)/bin", "-f", file.path, "-q", "1"],
                ["-t", "\(base)/empty", "-n", "-q", "0"],
                ["-t", "\(base)/text", "-m", "héllo wörld", "-q", "2"],
            ]
            if version == .v5 {
                publishes[2] += ["-D", "publish", "content-type", "text/plain", "-D", "publish", "response-topic", "\(base)/reply",
                                 "-D", "publish", "user-property", "k", "v1", "-D", "publish", "user-property", "k", "v2",
                                 "-D", "publish", "payload-format-indicator", "1"]
            }
            for publish in publishes {
                let outcome = try await ChildProcess.run(mosquittoPub, common + publish)
                #expect(outcome.status == 0, "\(outcome.summary)")
            }
            for (ours, theirs) in pairs {
                let mine = await ours.finish()
                let reference = await theirs.finish()
                #expect(mine.status == 0 && reference.status == 0, "\(ours.command): \(mine.summary)")
                #expect(mine.stdout == reference.stdout,
                        "\(ours.command)\n--- junction sub\n\(mine.stdoutText)\n--- mosquitto_sub\n\(reference.stdoutText)")
                #expect(mine.stdout.range(of: Self.binary) != nil || ours.command.contains("-F"))
            }
        }
    }

    @Test("junction pub: -m, -f, -l and -n arrive byte for byte, with -D properties, retain and QoS",
          arguments: BrokerKind.allCases, MQTTProtocolVersion.allCases)
    func pubDeliversExactly(broker: BrokerKind, version: MQTTProtocolVersion) async throws {
        let junction = try Tools.junction()
        let mosquittoPub = try Tools.mosquittoPub()
        let mosquittoSub = try Tools.mosquittoSub()
        let file = try Self.temporaryFile(Self.binary)
        defer { try? FileManager.default.removeItem(at: file) }
        try await withBroker(broker) { port in
            let base = unique("cli")
            let v = version == .v5 ? "5" : "311"
            let common = ["-p", "\(port)", "-V", v]
            _ = try await ChildProcess.run(mosquittoPub, common + ["-t", "\(base)/ready", "-m", "ready", "-r", "-q", "1"])
            let format = version == .v5 ? #"%t|%q|%r|%l|%C|%P|%F|%p"# : #"%t|%q|%r|%l|%p"#
            let subscriber = try await Self.startSubscriber(mosquittoSub, common + ["-t", "\(base)/#", "-q", "2", "-C", "7", "-F", format])
            defer { subscriber.terminate() }
            var properties: [String] = []
            if version == .v5 {
                properties = ["-D", "publish", "content-type", "application/octet-stream", "-D", "publish", "user-property", "from", "junction",
                              "-D", "publish", "payload-format-indicator", "0"]
            }
            let runs: [(arguments: [String], stdin: Data?)] = [
                (["-t", "\(base)/m", "-m", "plain text", "-q", "1"], nil),
                (["-t", "\(base)/f", "-f", file.path, "-q", "2"] + properties, nil),
                (["-t", "\(base)/l", "-l", "-q", "1"], Data("first line\n\nsecond line\nthird\n".utf8)),
                (["-t", "\(base)/n", "-n", "-q", "0"], nil),
                (["-t", "\(base)/r", "-m", "kept", "-r", "-q", "2"], nil),
            ]
            for run in runs {
                let outcome = try await ChildProcess.run(junction, ["pub"] + common + run.arguments, stdin: run.stdin)
                #expect(outcome.status == 0, "junction pub \(run.arguments): \(outcome.summary)")
            }
            let received = await subscriber.finish()
            #expect(received.status == 0, "\(received.summary)")
            var expected = Data("\(base)/ready|1|1|5|".utf8)
            if version == .v5 { expected += Data("|||".utf8) }
            expected += Data("ready\n".utf8)
            func line(_ topic: String, _ qos: Int, _ retain: Int, _ payload: Data, _ props: String = "||") -> Data {
                let head = version == .v5 ? "\(base)/\(topic)|\(qos)|\(retain)|\(payload.count)|\(props)|" : "\(base)/\(topic)|\(qos)|\(retain)|\(payload.count)|"
                return Data(head.utf8) + payload + Data("\n".utf8)
            }
            expected += line("m", 1, 0, Data("plain text".utf8))
            expected += line("f", 2, 0, Self.binary, "application/octet-stream|from:junction|0")
            expected += line("l", 1, 0, Data("first line".utf8))
            expected += line("l", 1, 0, Data("second line".utf8))
            expected += line("l", 1, 0, Data("third".utf8))
            expected += line("n", 0, 0, Data())
            #expect(received.stdout == expected, "--- got\n\(received.stdoutText)\n--- expected\n\(String(decoding: expected, as: UTF8.self))")
            // The retained message: a new subscriber gets it with RETAIN set.
            let retained = try await ChildProcess.run(mosquittoSub, common + ["-t", "\(base)/r", "-C", "1", "-F", "%r %p", "-W", "15"])
            #expect(retained.stdoutText == "1 kept\n", "\(retained.summary)")
        }
    }

    @Test("a persistent session with -c -i: messages published while away are printed on return", arguments: BrokerKind.allCases)
    func persistentSession(broker: BrokerKind) async throws {
        let junction = try Tools.junction()
        try await withBroker(broker) { port in
            let topic = unique("cli-session")
            let id = unique("tap")
            let subscribe = ["sub", "-p", "\(port)", "-V", "5", "-t", topic, "-q", "1", "-c", "-i", id]
            let first = try await ChildProcess.run(junction, subscribe + ["-E"])
            #expect(first.status == 0, "\(first.summary)")
            for text in ["while away 1", "while away 2"] {
                let outcome = try await ChildProcess.run(junction, ["pub", "-p", "\(port)", "-t", topic, "-m", text, "-q", "1"])
                #expect(outcome.status == 0, "\(outcome.summary)")
            }
            let back = try await ChildProcess.run(junction, subscribe + ["-C", "2", "-W", "20"])
            #expect(back.status == 0, "\(back.summary)")
            #expect(back.stdoutText == "while away 1\nwhile away 2\n")
        }
    }

    @Test("exit statuses: 0 done, 1 connection or broker refusal, 2 invalid arguments, 27 -W timeout, 64 unparseable")
    func exitStatuses() async throws {
        let junction = try Tools.junction()
        var settings = BrokerSettings.clientTest
        settings.acl = [BrokerACLRule(.deny, .publish, topic: "denied/#"), BrokerACLRule(.allow, .all, topic: "#")]
        try await withBroker(settings: settings) { port in
            let dead = try LoopbackPort.pick()
            let p = ["-p", "\(port)"]
            let cases: [(arguments: [String], status: Int32)] = [
                (["pub"] + p + ["-t", "ok", "-m", "x", "-q", "1"], 0),
                (["pub", "-p", "\(dead)", "-t", "x", "-m", "y"], 1),
                (["sub", "-p", "\(dead)", "-t", "x"], 1),
                (["pub"] + p + ["-V", "5", "-t", "denied/x", "-m", "y", "-q", "1"], 1),
                (["pub"] + p + ["-t", "x", "-m", "y", "-q", "3"], 2),
                (["pub"] + p + ["-t", "a/#", "-m", "y"], 2),
                (["pub"] + p + ["-t", "x"], 2),
                (["pub"] + p + ["-t", "x", "-m", "y", "-D", "publish", "content-type", "z"], 2),
                (["pub"] + p + ["-V", "5", "-t", "x", "-m", "y", "-D", "publish", "no-such-property", "1"], 2),
                (["sub"] + p + ["-t", "a/#/b"], 2),
                (["sub"] + p + ["-t", "x", "-c"], 2),
                (["sub"] + p + ["-t", unique("idle"), "-W", "1"], 27),
                (["pub", "--no-such-option"], 64),
            ]
            for (arguments, status) in cases {
                let outcome = try await ChildProcess.run(junction, arguments)
                #expect(outcome.status == status, "junction \(arguments.joined(separator: " ")): \(outcome.summary)")
            }
        }
    }
}
