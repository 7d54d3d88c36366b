import Foundation
import MQTTCore
import NIOCore
import Testing

/// Receives PUBLISHes and completes each one's QoS flow (PUBACK; PUBREC, then PUBCOMP for the
/// PUBREL) until `done` holds for the payloads received, then until the session is settled: a
/// PINGREQ answered with nothing else sent before its PINGRESP and no QoS 2 exchange open (the
/// broker answers in order, so nothing more is on its way). A QoS 2 PUBLISH repeated with a
/// packet id still awaiting PUBREL is the same delivery, not a new one.
func collectDeliveries(_ client: RawMQTTClient, timeout: Duration = .seconds(10),
                       until done: ([String]) -> Bool) async throws -> [String] {
    var payloads: [String] = []
    var open = Set<UInt16>()
    var pinged = false
    var quiet = true
    let deadline = ContinuousClock.now + timeout
    while true {
        if !pinged && open.isEmpty && done(payloads) {
            try await client.send(.pingreq)
            pinged = true
            quiet = true
        }
        let left = deadline - ContinuousClock.now
        guard left > .zero else { throw RawClientError(description: "deliveries incomplete after \(timeout): got \(payloads.count)") }
        let packet = try await client.receive(timeout: left, "PUBLISH, PUBREL or PINGRESP (have \(payloads.count))")
        switch packet {
        case .publish(let publish):
            quiet = false
            guard let id = publish.packetIdentifier else { payloads.append(publish.payloadString); continue }
            if publish.qos == .atLeastOnce {
                payloads.append(publish.payloadString)
                try await client.send(.puback(MQTTPublishAckPacket(packetIdentifier: id)))
            } else {
                if !open.contains(id) { payloads.append(publish.payloadString) }
                open.insert(id)
                try await client.send(.pubrec(MQTTPublishAckPacket(packetIdentifier: id)))
            }
        case .pubrel(let release):
            quiet = false
            open.remove(release.packetIdentifier)
            try await client.send(.pubcomp(MQTTPublishAckPacket(packetIdentifier: release.packetIdentifier)))
        case .pingresp:
            pinged = false
            if quiet && open.isEmpty && done(payloads) { return payloads }
        default:
            throw RawClientError.unexpected(packet, expected: "PUBLISH, PUBREL or PINGRESP")
        }
    }
}

/// Opens a persistent session (3.1.1, clean session off) subscribed to `filter` and leaves it offline.
func parkPersistentSubscriber(port: Int, clientID: String, filter: String) async throws {
    let client = try await RawMQTTClient.connected(port: port, version: .v311, clientID: clientID, cleanStart: false)
    #expect(try await client.subscribe(filter, qos: .exactlyOnce) == [.grantedQoS2])
    try await client.disconnect()
}

@Suite("Durable broker state across SIGKILL (junction broker --data)", .serialized)
struct DurabilityKillTests {
    @Test("Acknowledged QoS 1 and QoS 2 messages, subscriptions and retained messages survive kill -9")
    func acknowledgedMessagesSurvive() async throws {
        try await withTemporaryDirectory { data in
            let count = 60
            let first = try await JunctionBrokerProcess.start(data: data)
            defer { first.kill() }
            let subscriber = unique("durable-sub")
            let session: MQTTProperties = [.sessionExpiryInterval(3600)]
            do {
                let client = try await RawMQTTClient.connected(port: first.port, version: .v5, clientID: subscriber, properties: session)
                #expect(try await client.subscribe("durable/#", qos: .exactlyOnce) == [.grantedQoS2])
                try await client.disconnect()
            }
            let publisher = try await RawMQTTClient.connected(port: first.port, version: .v311, clientID: unique("durable-pub"))
            for i in 0..<count {
                #expect(try await publisher.publish("durable/one", "q1-\(i)", qos: .atLeastOnce) == .success)
                #expect(try await publisher.publish("durable/two", "q2-\(i)", qos: .exactlyOnce) == .success)
            }
            #expect(try await publisher.publish("kept/a", "retained-a", qos: .atLeastOnce, retain: true) == .success)
            first.kill()
            await publisher.closeAbruptly()

            let second = try await JunctionBrokerProcess.start(data: data)
            defer { second.kill() }
            let client = try await RawMQTTClient.open(port: second.port, version: .v5)
            let connack = try await client.connect(clientID: subscriber, cleanStart: false, properties: session)
            #expect(connack.reasonCode == .success && connack.sessionPresent)
            let received = try await collectDeliveries(client) { $0.count >= 2 * count }
            #expect(received.filter { $0.hasPrefix("q1-") } == (0..<count).map { "q1-\($0)" })
            #expect(received.filter { $0.hasPrefix("q2-") } == (0..<count).map { "q2-\($0)" }, "QoS 2: each exactly once, in order")

            // The subscription itself survived: a message published now is routed to the session.
            let late = try await RawMQTTClient.connected(port: second.port, version: .v311, clientID: unique("durable-late"))
            try await late.publish("durable/late", "after restart", qos: .atLeastOnce)
            #expect(try await collectDeliveries(client) { $0.count == 1 } == ["after restart"])
            // And the retained message.
            let reader = try await RawMQTTClient.connected(port: second.port, version: .v311, clientID: unique("durable-reader"))
            try await reader.subscribe("kept/#", qos: .atLeastOnce)
            let retained = try await reader.receivePublish()
            #expect(retained.topic == "kept/a" && retained.payloadString == "retained-a" && retained.retain)
        }
    }

    @Test("Killed at a random point while publishing, every acknowledged message is delivered after restart",
          arguments: 0..<3)
    func killWhilePublishing(round: Int) async throws {
        try await withTemporaryDirectory { data in
            let first = try await JunctionBrokerProcess.start(data: data)
            defer { first.kill() }
            let subscriber = unique("random-sub")
            try await parkPersistentSubscriber(port: first.port, clientID: subscriber, filter: "random/#")

            // Publish with up to 20 messages outstanding, QoS 1 and 2 alternating; kill the broker
            // once a random number of them was acknowledged (PUBACK, or PUBREC for QoS 2).
            let killAfter = Int.random(in: 5...400)
            let publisher = try await RawMQTTClient.connected(port: first.port, version: .v311, clientID: unique("random-pub"))
            var acknowledged: [String] = []
            var payloadByID: [UInt16: String] = [:]
            var sent = 0
            publishing: while sent < 1000 {
                while payloadByID.count < 20 && sent < 1000 {
                    let id = publisher.packetID()
                    let payload = "m-\(sent)"
                    payloadByID[id] = payload
                    try await publisher.send(.publish(MQTTPublishPacket(topic: "random/\(sent % 3)", payload: ByteBuffer(string: payload),
                                                                        qos: sent % 2 == 0 ? .atLeastOnce : .exactlyOnce, packetIdentifier: id)))
                    sent += 1
                }
                let packet: MQTTPacket
                do { packet = try await publisher.receive(timeout: .seconds(10)) } catch { break publishing }
                switch packet {
                case .puback(let ack):
                    if let payload = payloadByID.removeValue(forKey: ack.packetIdentifier) { acknowledged.append(payload) }
                case .pubrec(let ack):
                    if let payload = payloadByID[ack.packetIdentifier] { acknowledged.append(payload) }
                    try? await publisher.send(.pubrel(MQTTPublishAckPacket(packetIdentifier: ack.packetIdentifier)))
                case .pubcomp(let ack):
                    payloadByID.removeValue(forKey: ack.packetIdentifier)
                default:
                    Issue.record("unexpected \(packet.brief)")
                }
                if acknowledged.count >= killAfter { first.kill(); break publishing }
            }
            first.kill()
            await publisher.closeAbruptly()
            #expect(acknowledged.count >= min(killAfter, 1))

            let second = try await JunctionBrokerProcess.start(data: data)
            defer { second.kill() }
            let client = try await RawMQTTClient.open(port: second.port, version: .v311)
            #expect(try await client.connect(clientID: subscriber, cleanStart: false).sessionPresent)
            let wanted = Set(acknowledged)
            let received = try await collectDeliveries(client) { wanted.isSubset(of: $0) }
            let missing = wanted.subtracting(received)
            #expect(missing.isEmpty, "round \(round): killed after \(acknowledged.count) acks, lost \(missing.sorted())")
            let qos2 = received.filter { Int($0.dropFirst(2)).map { $0 % 2 == 1 } ?? false }
            #expect(qos2.count == Set(qos2).count, "QoS 2 messages delivered twice: \(qos2.count - Set(qos2).count)")
        }
    }

    @Test("Killed while an online subscriber acknowledges as fast as messages come (groups held back), every acknowledged message arrives",
          arguments: 0..<2)
    func killWhileFlowing(round: Int) async throws {
        try await withTemporaryDirectory { data in
            let first = try await JunctionBrokerProcess.start(data: data)
            defer { first.kill() }
            let subscriberID = unique("flow-sub")
            let subscriber = try await RawMQTTClient.connected(port: first.port, version: .v311, clientID: subscriberID, cleanStart: false)
            #expect(try await subscriber.subscribe("flow/#", qos: .atLeastOnce) == [.grantedQoS1])
            // The subscriber acknowledges everything at once until the broker is killed.
            let receiving = Task { () -> [String] in
                var payloads: [String] = []
                while true {
                    guard case .publish(let publish)? = try? await subscriber.receive(timeout: .seconds(10)) else { return payloads }
                    payloads.append(publish.payloadString)
                    guard let id = publish.packetIdentifier else { continue }
                    do { try await subscriber.send(.puback(MQTTPublishAckPacket(packetIdentifier: id))) } catch { return payloads }
                }
            }
            let killAfter = Int.random(in: 50...600)
            let publisher = try await RawMQTTClient.connected(port: first.port, version: .v311, clientID: unique("flow-pub"))
            var acknowledged: [String] = []
            var payloadByID: [UInt16: String] = [:]
            var sent = 0
            publishing: while sent < 2000 {
                while payloadByID.count < 20 && sent < 2000 {
                    let id = publisher.packetID()
                    payloadByID[id] = "f-\(sent)"
                    try await publisher.send(.publish(MQTTPublishPacket(topic: "flow/x", payload: ByteBuffer(string: "f-\(sent)"),
                                                                        qos: .atLeastOnce, packetIdentifier: id)))
                    sent += 1
                }
                guard case .puback(let ack)? = try? await publisher.receive(timeout: .seconds(10)) else { break publishing }
                if let payload = payloadByID.removeValue(forKey: ack.packetIdentifier) { acknowledged.append(payload) }
                if acknowledged.count >= killAfter { first.kill(); break publishing }
            }
            first.kill()
            await publisher.closeAbruptly()
            let before = await receiving.value
            #expect(acknowledged.count >= min(killAfter, 1))

            let second = try await JunctionBrokerProcess.start(data: data)
            defer { second.kill() }
            let client = try await RawMQTTClient.open(port: second.port, version: .v311)
            #expect(try await client.connect(clientID: subscriberID, cleanStart: false).sessionPresent)
            let wanted = Set(acknowledged).subtracting(before)
            let received = try await collectDeliveries(client) { wanted.isSubset(of: $0) }
            let missing = wanted.subtracting(received)
            #expect(missing.isEmpty, "round \(round): killed after \(acknowledged.count) acks, \(before.count) received before, lost \(missing.sorted())")
        }
    }

    @Test("A store that is not a database stops junction broker with a message naming the file, which is left as it was")
    func corruptStoreRefusedByExecutable() async throws {
        try await withTemporaryDirectory { data in
            let file = data.appendingPathComponent("broker.sqlite")
            let garbage = Data(String(repeating: "this is not an SQLite database. ", count: 200).utf8)
            try garbage.write(to: file)
            let (status, stderr) = try await JunctionBrokerProcess.runRefused(data: data)
            #expect(status == 2)
            #expect(stderr.contains("broker store \(file.path)") && stderr.contains("refusing to start"), "\(stderr)")
            #expect(try Data(contentsOf: file) == garbage)
        }
    }
}
