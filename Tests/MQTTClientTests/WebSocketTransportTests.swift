import Foundation
import MQTTBroker
import MQTTClient
import MQTTCore
import NIOCore
import TestSupport
import Testing

/// MQTT over WebSocket (`ws://`, `wss://`): the broker's WebSocket listeners with our client, and
/// hand-made frames that split packets across frames and put several packets in one frame.
@Suite("WebSocket transport", .timeLimit(.minutes(2)))
struct WebSocketTransportTests {
    @Test("ws and wss: the client talks to WebSocket listeners (default and custom path), 3.1.1 and 5.0",
          arguments: MQTTProtocolVersion.allCases)
    func webSocketRoundTrip(version: MQTTProtocolVersion) async throws {
        let tls = try TestCertificates.listener()
        try await withBroker(listeners: [.test(webSocketPath: "/mqtt"), .test(tls: tls, webSocketPath: "/mqtt"),
                                         .test(webSocketPath: "/custom/ws")]) { ports in
            try await roundTrip(.test(port: ports[0], transport: .webSocket, version: version))
            try await roundTrip(.test(port: ports[1], transport: .webSocketTLS, host: "localhost", tls: try TestCertificates.client(), version: version))
            try await roundTrip(.test(port: ports[2], transport: .webSocket, path: "/custom/ws", version: version))
            // A packet far larger than a default 16 KB WebSocket frame.
            try await roundTrip(.test(port: ports[0], transport: .webSocket, version: version), payload: String(repeating: "x", count: 200_000))
        }
    }

    @Test("ws URLs parse with their default ports and paths")
    func urls() throws {
        let ws = try #require(MQTTServer(url: "ws://broker.example"))
        #expect(ws.transport == .webSocket && ws.port == 80 && ws.path == "/mqtt")
        let wss = try #require(MQTTServer(url: "wss://broker.example:8084/ws/mqtt"))
        #expect(wss.transport == .webSocketTLS && wss.port == 8084 && wss.path == "/ws/mqtt")
        let mqtts = try #require(MQTTServer(url: "mqtts://[::1]"))
        #expect(mqtts.transport == .tls && mqtts.port == 8883 && mqtts.host == "::1")
        #expect(wss.description == "wss://broker.example:8084/ws/mqtt")
        #expect(MQTTServer(url: "mqtt://host/path") == nil)
        #expect(MQTTServer(url: "https://host") == nil)
    }

    @Test("the client refuses a WebSocket path the broker does not serve")
    func wrongPathRefused() async throws {
        try await withBroker(listeners: [.test(webSocketPath: "/mqtt")]) { ports in
            let error = await connectionError(.test(port: ports[0], transport: .webSocket, path: "/elsewhere"))
            guard case .connectionFailed(_, let description)? = error else {
                Issue.record("expected a refused upgrade, got \(String(describing: error))")
                return
            }
            #expect(description.contains("404") || description.lowercased().contains("upgrade"), "\(description)")
        }
    }

    @Test("raw frames: CONNECT split over three frames (and a fragmented message); SUBSCRIBE, PUBLISH and PINGREQ in one frame")
    func splitAndCoalescedPackets() async throws {
        try await withBroker(listeners: [.test(webSocketPath: "/mqtt")]) { ports in
            let socket = try await RawWebSocket.open(port: ports[0])
            let connect = try RawWebSocket.encode(.connect(MQTTConnectPacket(protocolVersion: .v5, clientIdentifier: unique("raw"))))
            // Three separate binary messages, the middle one a single byte.
            try await socket.send(RawWebSocket.frame(RawWebSocket.binary, Array(connect[..<3])))
            try await socket.send(RawWebSocket.frame(RawWebSocket.binary, [connect[3]]))
            try await socket.send(RawWebSocket.frame(RawWebSocket.binary, Array(connect[4...])))
            guard case .connack(let connack) = try await RawWebSocket.readPackets(socket, count: 1).first else {
                throw TestFailure("expected CONNACK")
            }
            #expect(connack.reasonCode == .success)

            let topic = unique("raw")
            var batch = try RawWebSocket.encode(.subscribe(MQTTSubscribePacket(packetIdentifier: 1, subscriptions: [MQTTSubscription(topicFilter: topic, qos: .atLeastOnce)])))
            batch += try RawWebSocket.encode(.publish(MQTTPublishPacket(topic: topic, payload: ByteBuffer(string: "hello"), qos: .atLeastOnce, packetIdentifier: 2)))
            batch += try RawWebSocket.encode(.pingreq)
            // One fragmented message: a first frame without FIN, then a continuation.
            let cut = batch.count / 2
            try await socket.send(RawWebSocket.frame(RawWebSocket.binary, Array(batch[..<cut]), fin: false) +
                                  RawWebSocket.frame(RawWebSocket.continuation, Array(batch[cut...])))
            let packets = try await RawWebSocket.readPackets(socket, count: 4)
            var seen: [String] = []
            for packet in packets {
                switch packet {
                case .suback(let suback): seen.append("suback \(suback.reasonCodes == [.grantedQoS1])")
                case .puback(let ack): seen.append("puback \(ack.packetIdentifier)")
                case .publish(let publish): seen.append("publish \(String(buffer: publish.payload))")
                case .pingresp: seen.append("pingresp")
                default: seen.append("unexpected \(packet.type)")
                }
            }
            #expect(seen.sorted() == ["pingresp", "puback 2", "publish hello", "suback true"])
            await socket.close()
        }
    }

    @Test("raw frames: a ping is answered with a pong carrying its data; a close frame is answered and the connection ends")
    func pingAndClose() async throws {
        try await withBroker(listeners: [.test(webSocketPath: "/mqtt")]) { ports in
            let socket = try await RawWebSocket.open(port: ports[0])
            try await socket.send(RawWebSocket.frame(RawWebSocket.ping, Array("are you there".utf8)))
            #expect(try await RawWebSocket.readFrame(socket) == .init(fin: true, opcode: RawWebSocket.pong, payload: Array("are you there".utf8)))
            try await socket.send(RawWebSocket.frame(RawWebSocket.close, [0x03, 0xE8]))
            let close = try await RawWebSocket.readFrame(socket)
            #expect(close.opcode == RawWebSocket.close && close.payload.prefix(2) == [0x03, 0xE8])
            #expect(await socket.waitForClose())
            await socket.close()
        }
    }

    @Test("raw frames: a text frame breaks the MQTT binding: close 1003 and the connection ends")
    func textFrameRefused() async throws {
        try await withBroker(listeners: [.test(webSocketPath: "/mqtt")]) { ports in
            let socket = try await RawWebSocket.open(port: ports[0])
            try await socket.send(RawWebSocket.frame(RawWebSocket.text, Array("CONNECT".utf8)))
            let close = try await RawWebSocket.readFrame(socket)
            #expect(close.opcode == RawWebSocket.close && close.payload.prefix(2) == [0x03, 0xEB])
            #expect(await socket.waitForClose())
            await socket.close()
        }
    }

    @Test("upgrade refused: wrong path 404, no mqtt subprotocol 400, no upgrade at all 426",
          arguments: [("/other", "mqtt", "404"), ("/mqtt", nil, "400"), ("/mqtt", "chat", "400")] as [(String, String?, String)])
    func refusedUpgrades(path: String, protocols: String?, status: String) async throws {
        try await withBroker(listeners: [.test(webSocketPath: "/mqtt")]) { ports in
            let socket = try await RawSocket.connect(port: ports[0])
            try await socket.send(RawWebSocket.upgradeRequest(path: path, protocols: protocols))
            let head = try await RawWebSocket.readResponseHead(socket)
            #expect(head.hasPrefix("HTTP/1.1 \(status)"), "\(head)")
            #expect(await socket.waitForClose())
            await socket.close()

            let plain = try await RawSocket.connect(port: ports[0])
            try await plain.send(Array("GET /mqtt HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
            #expect(try await RawWebSocket.readResponseHead(plain).hasPrefix("HTTP/1.1 426"))
            await plain.close()
        }
    }

    @Test("subprotocol negotiation: mqtt is chosen when offered (also among others); old clients offering only mqttv3.1 get mqttv3.1",
          arguments: [("mqtt", "mqtt"), ("chat, mqttv3.1, mqtt", "mqtt"), ("mqttv3.1", "mqttv3.1")])
    func subprotocolNegotiation(offered: String, chosen: String) async throws {
        try await withBroker(listeners: [.test(webSocketPath: "/mqtt")]) { ports in
            let socket = try await RawSocket.connect(port: ports[0])
            try await socket.send(RawWebSocket.upgradeRequest(path: "/mqtt", protocols: offered))
            let head = try await RawWebSocket.readResponseHead(socket)
            #expect(head.hasPrefix("HTTP/1.1 101"), "\(head)")
            let answered = head.split(separator: "\r\n").filter { $0.lowercased().hasPrefix("sec-websocket-protocol:") }
            #expect(answered.map { $0.split(separator: ":", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces) } == [chosen], "\(head)")
            await socket.close()
        }
    }

    @Test("wss: a server certificate from another CA is refused before the upgrade; plain ws:// to a WSS listener fails")
    func wssRefusals() async throws {
        try await withBroker(listeners: [.test(tls: try TestCertificates.listener("other-server"), webSocketPath: "/mqtt")]) { ports in
            let error = await connectionError(.test(port: ports[0], transport: .webSocketTLS, tls: try TestCertificates.client()))
            guard case .connectionFailed(_, let description)? = error else {
                Issue.record("expected the TLS handshake to fail, got \(String(describing: error))")
                return
            }
            #expect(description.contains("CERTIFICATE_VERIFY_FAILED") || description.lowercased().contains("verify"), "\(description)")
            var plain = MQTTClientConfiguration.test(port: ports[0], transport: .webSocket)
            plain.connectTimeout = .seconds(2)
            #expect(await connectionError(plain) != nil)
        }
    }
}
