import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// Bad input never harms anyone else: a crowd of connections that never send CONNECT,
/// send garbage or oversized packets, while a well-behaved client keeps its QoS 1 stream.
@Suite("abusive connections", .timeLimit(.minutes(1)))
struct AbuseTests {
    @Test("1,000 idle, malformed and oversized connections leave a QoS 1 stream intact")
    func crowdOfBadConnections() async throws {
        try await withBroker(settings: .test.with { $0.maxPacketSize = 4096 }) { port in
            let good = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("good"))
            #expect(try await good.subscribe("stream/#", qos: .atLeastOnce) == [.grantedQoS1])

            // 400 never send anything, 300 send bytes that are no MQTT packet, 300 announce a huge packet.
            var bad: [RawMQTTClient] = []
            for index in 0..<1000 {
                let client = try await RawMQTTClient.open(port: port, version: .v5)
                switch index % 10 {
                case 0..<4: break
                case 4..<7: try await client.sendRaw([0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F])
                default: try await client.sendRaw([0x10, 0xFF, 0xFF, 0xFF, 0x7F])  // CONNECT of 268 MB
                }
                bad.append(client)
            }

            let publisher = try await RawMQTTClient.connected(port: port, version: .v311, clientID: unique("pub"))
            for i in 0..<100 {
                #expect(try await publisher.publish("stream/\(i)", "m\(i)", qos: .atLeastOnce) == .success)
            }
            for i in 0..<100 {
                let message = try await good.receivePublish()
                #expect(message.topic == "stream/\(i)" && message.payloadString == "m\(i)")
                try await good.acknowledge(message)
            }
            try await good.expectNothingPending()

            // The malformed and oversized ones were closed; the idle ones are still waiting for CONNECT.
            for (index, client) in bad.enumerated() where index % 50 == 5 || index % 50 == 8 {
                _ = try await client.expectClosed(timeout: .seconds(15))
            }
            for client in bad { await client.closeAbruptly() }
        }
    }
}
