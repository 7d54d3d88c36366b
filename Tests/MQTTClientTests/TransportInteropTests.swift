import Foundation
import MQTTBroker
import MQTTClient
import MQTTCore
import NIOCore
import TestSupport
import Testing

/// Other clients over our broker's TLS and WebSocket listeners: mosquitto_pub / mosquitto_sub
/// with `--cafile`, `--cert`, `--key`, and Eclipse Paho for Python (paho-mqtt 2.x) over TLS,
/// WebSocket and WSS. Missing tools fail the tests (`make test-deps` installs them).
@Suite("transport interop", .timeLimit(.minutes(2)))
struct TransportInteropTests {
    @Test("mosquitto_pub --cafile publishes over TLS; mosquitto_sub --cafile --cert --key receives from a listener requiring client certificates")
    func mosquittoClientsOverTLS() async throws {
        let listeners: [BrokerListener] = [.test(), .test(tls: try TestCertificates.listener()),
                                           .test(tls: try TestCertificates.listener(clientCertificates: .required))]
        try await withBroker(listeners: listeners) { ports in
            let (plain, tls, strict) = (ports[0], ports[1], ports[2])
            let ca = try TestCertificates.pem("ca")
            let topic = unique("tls-interop")
            try await MQTTClient.withConnection(.test(port: plain)) { client in
                let inbox = Inbox()
                let task = try await client.feed(inbox, [MQTTSubscription(topicFilter: topic, qos: .atLeastOnce)])
                let pub = try await ChildProcess.run(try Tools.mosquittoPub(), [
                    "-h", "localhost", "-p", "\(tls)", "--cafile", ca, "-q", "1", "-t", topic, "-m", "from mosquitto_pub over TLS",
                ])
                #expect(pub.status == 0, "\(pub.summary)")
                try await inbox.waitForDistinct(1)
                #expect(await inbox.payloads == ["from mosquitto_pub over TLS"])
                task.cancel()

                let sub = try ChildProcess(try installedTool("stdbuf", package: "coreutils"), ["-oL", try Tools.mosquittoSub().path,
                    "-h", "127.0.0.1", "-p", "\(strict)", "--cafile", ca, "--cert", try TestCertificates.pem("client"),
                    "--key", try TestCertificates.key("client"), "-q", "1", "-t", topic, "-C", "1", "-W", "15", "-d"])
                guard await sub.waitForOutput(containing: "received SUBACK", timeout: .seconds(10)) else {
                    throw TestFailure("mosquitto_sub did not subscribe over TLS: \(await sub.finish(timeout: .seconds(1)).summary)")
                }
                try await client.publish(to: topic, string: "to mosquitto_sub over TLS", qos: .atLeastOnce)
                let outcome = await sub.finish()
                #expect(outcome.status == 0 && outcome.stdoutText.contains("to mosquitto_sub over TLS"), "\(outcome.summary)")
            }
        }
    }

    @Test("mosquitto_pub is refused without a client certificate, with one from another CA, and when it trusts another CA")
    func mosquittoRefusals() async throws {
        try await withBroker(listeners: [.test(tls: try TestCertificates.listener(clientCertificates: .required))]) { ports in
            let base = ["-h", "localhost", "-p", "\(ports[0])", "-t", "refused", "-m", "x", "-q", "1"]
            let cases: [(String, [String])] = [
                ("no client certificate", ["--cafile", try TestCertificates.pem("ca")]),
                ("client certificate from another CA", ["--cafile", try TestCertificates.pem("ca"), "--cert", try TestCertificates.pem("other-client"),
                                                         "--key", try TestCertificates.key("other-client")]),
                ("expired client certificate", ["--cafile", try TestCertificates.pem("ca"), "--cert", try TestCertificates.pem("expired-client"),
                                                 "--key", try TestCertificates.key("expired-client")]),
                ("trusting another CA", ["--cafile", try TestCertificates.pem("other-ca"), "--cert", try TestCertificates.pem("client"),
                                         "--key", try TestCertificates.key("client")]),
            ]
            for (name, arguments) in cases {
                let outcome = try await ChildProcess.run(try Tools.mosquittoPub(), base + arguments, timeout: .seconds(10))
                #expect(outcome.status != 0 && !outcome.timedOut, "\(name): \(outcome.summary)")
            }
            let accepted = try await ChildProcess.run(try Tools.mosquittoPub(), base + [
                "--cafile", try TestCertificates.pem("ca"), "--cert", try TestCertificates.pem("client"), "--key", try TestCertificates.key("client"),
            ])
            #expect(accepted.status == 0, "\(accepted.summary)")
        }
    }

    static let pahoScript = #"""
    import ssl, sys, threading
    import paho.mqtt.client as mqtt
    transport, host, port, version, topic = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    ca = sys.argv[6] if len(sys.argv) > 6 else None
    protocol = mqtt.MQTTv5 if version == "5" else mqtt.MQTTv311
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-" + topic[-8:], protocol=protocol,
                         transport="websockets" if transport.startswith("ws") else "tcp")
    if transport.startswith("ws"):
        client.ws_set_options(path="/mqtt")
    if ca:
        client.tls_set(ca_certs=ca)
    payloads = [b"small", bytes(range(256)) * 300]
    received = []
    done = threading.Event()
    def on_connect(c, userdata, flags, reason, properties):
        c.subscribe(topic, qos=1)
    def on_subscribe(c, userdata, mid, reasons, properties):
        for p in payloads:
            c.publish(topic, p, qos=1)
    def on_message(c, userdata, message):
        received.append(message.payload)
        if len(received) == len(payloads):
            done.set()
    client.on_connect, client.on_subscribe, client.on_message = on_connect, on_subscribe, on_message
    client.connect(host, port, keepalive=30)
    client.loop_start()
    ok = done.wait(15)
    client.disconnect()
    client.loop_stop()
    print("OK" if ok and received == payloads else "FAIL %r" % [len(p) for p in received])
    """#

    @Test("paho-mqtt over TLS, WebSocket and WSS: subscribe, then QoS 1 messages (one of 76 KB) come back, 3.1.1 and 5.0",
          arguments: ["tls", "ws", "wss"], MQTTProtocolVersion.allCases)
    func paho(transport: String, version: MQTTProtocolVersion) async throws {
        let python = try installedTool("python3")
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("junction-paho-transport-\(UUID().uuidString.prefix(8)).py")
        try Data(Self.pahoScript.utf8).write(to: script)
        defer { try? FileManager.default.removeItem(at: script) }
        let tls = transport == "ws" ? nil : try TestCertificates.listener()
        try await withBroker(listeners: [.test(tls: tls, webSocketPath: transport.hasPrefix("ws") ? "/mqtt" : nil)]) { ports in
            var arguments = [script.path, transport, "localhost", "\(ports[0])", version == .v5 ? "5" : "311", unique("paho")]
            if tls != nil { arguments.append(try TestCertificates.pem("ca")) }
            let outcome = try await ChildProcess.run(python, arguments, timeout: .seconds(30))
            #expect(outcome.status == 0 && outcome.stdoutText.contains("OK"), "\(outcome.summary)")
        }
    }
}
