import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// `$SYS/broker/...` statistics (Mosquitto's $SYS hierarchy).
@Suite("$SYS", .timeLimit(.minutes(1)))
struct SysTopicTests {
    static let settings = BrokerSettings.test.with { $0.sysInterval = .milliseconds(100) }

    @Test("$SYS/broker/clients/connected is published and follows the connections", arguments: MQTTProtocolVersion.allCases)
    func clientsConnected(version: MQTTProtocolVersion) async throws {
        try await withBroker(settings: Self.settings) { port in
            let watcher = try await RawMQTTClient.connected(port: port, version: version, clientID: unique("watch"))
            try await watcher.subscribe("$SYS/broker/clients/connected")
            let first = try await watcher.receivePublish()
            #expect(first.topic == "$SYS/broker/clients/connected")
            #expect(Int(first.payloadString) != nil, "payload \(first.payloadString)")

            let others = [try await RawMQTTClient.connected(port: port, version: version, clientID: unique("o1")),
                          try await RawMQTTClient.connected(port: port, version: version, clientID: unique("o2"))]
            // Published every 100 ms: read them until the count includes the two new clients.
            let deadline = ContinuousClock.now + .seconds(15)
            var last = first.payloadString
            while last != "3" && ContinuousClock.now < deadline {
                last = try await watcher.receivePublish().payloadString
            }
            #expect(last == "3")
            _ = others
        }
    }

    @Test("the $SYS tree carries the usual statistics, retained")
    func sysTree() async throws {
        try await withBroker(settings: Self.settings) { port in
            let publisher = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("pub"))
            try await publisher.publish(unique("retained"), "r", retain: true)
            // Wait for one publication round, so the values are stored before the subscription below.
            let ticker = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("ticker"))
            try await ticker.subscribe("$SYS/broker/uptime")
            _ = try await ticker.receivePublish()
            let client = try await RawMQTTClient.connected(port: port, version: .v5, clientID: unique("sys"))
            try await client.subscribe("$SYS/#")
            var topics: Set<String> = []
            var retainedSeen = false
            let wanted: Set<String> = ["version", "uptime", "clients/connected", "messages/received", "messages/sent",
                                       "subscriptions/count", "retained messages/count"].reduce(into: []) { $0.insert("$SYS/broker/" + $1) }
            let deadline = ContinuousClock.now + .seconds(15)
            while !wanted.isSubset(of: topics) && ContinuousClock.now < deadline {
                let message = try await client.receivePublish()
                topics.insert(message.topic)
                retainedSeen = retainedSeen || message.retain
            }
            #expect(wanted.isSubset(of: topics), "missing \(wanted.subtracting(topics).sorted())")
            #expect(retainedSeen, "$SYS values are retained: a new subscriber gets them at once")
        }
    }
}
