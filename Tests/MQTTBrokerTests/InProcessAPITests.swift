import Logging
import MQTTBroker
import MQTTCore
import NIOCore
import Testing

/// The engine's in-process access: publish, subscribe as an AsyncSequence, explicit ack.
@Suite("In-process publish/subscribe with explicit acknowledgement")
struct InProcessAPITests {
    func makeBroker(_ configure: (inout BrokerSettings) -> Void = { _ in }) -> MQTTBroker {
        var settings = BrokerSettings()
        settings.sysInterval = nil
        configure(&settings)
        return MQTTBroker(listeners: [], settings: settings, logger: Logger(label: "test"))
    }

    func payload(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test("QoS 1 deliveries beyond the receive maximum wait until an ack")
    func ackReleasesWindow() async throws {
        let broker = makeBroker()
        let subscription = try await broker.subscribe(
            clientID: "engine", subscriptions: [MQTTSubscription(topicFilter: "plant/+/t", qos: .atLeastOnce)],
            cleanStart: true, receiveMaximum: 2)
        for i in 1...3 {
            let matched = try await broker.publish(topic: "plant/\(i)/t", payload: payload("m\(i)"), qos: .atLeastOnce)
            #expect(matched == 1)
        }
        var iterator = subscription.makeAsyncIterator()
        let first = try #require(await iterator.next())
        let second = try #require(await iterator.next())
        #expect([first.topic, second.topic] == ["plant/1/t", "plant/2/t"])
        var info = try #require(try await broker.session(clientID: "engine"))
        #expect(info.inflight == 2 && info.queued == 1)

        await first.ack()
        let third = try #require(await iterator.next())
        #expect(third.topic == "plant/3/t" && third.payload == payload("m3") && third.qos == .atLeastOnce)
        info = try #require(try await broker.session(clientID: "engine"))
        #expect(info.inflight == 2 && info.queued == 0)
        await second.ack()
        await third.ack()
        info = try #require(try await broker.session(clientID: "engine"))
        #expect(info.inflight == 0)
        await subscription.close()
    }

    @Test("Unacknowledged deliveries come again, marked dup, when the session resumes")
    func redeliveryOnResume() async throws {
        let broker = makeBroker()
        let filters = [MQTTSubscription(topicFilter: "orders/#", qos: .exactlyOnce)]
        let first = try await broker.subscribe(clientID: "proc", subscriptions: filters, cleanStart: true)
        try await broker.publish(topic: "orders/1", payload: payload("a"), qos: .exactlyOnce)
        try await broker.publish(topic: "orders/2", payload: payload("b"), qos: .atLeastOnce)
        var iterator = first.makeAsyncIterator()
        let a = try #require(await iterator.next())
        #expect(a.qos == .exactlyOnce && !a.dup)
        await a.ack()
        let b = try #require(await iterator.next())
        #expect(b.topic == "orders/2")
        await first.close()  // b never acknowledged: the process "died"
        #expect(await iterator.next() == nil)

        let resumed = try await broker.subscribe(clientID: "proc", subscriptions: filters, cleanStart: false)
        var again = resumed.makeAsyncIterator()
        let redelivered = try #require(await again.next())
        #expect(redelivered.topic == "orders/2" && redelivered.dup && redelivered.payload == payload("b"))
        await redelivered.ack()
        let info = try #require(try await broker.session(clientID: "proc"))
        #expect(info.inflight == 0 && info.subscriptions == ["orders/#"])
        await resumed.close()
    }

    @Test("Retained messages reach a new in-process subscription; QoS is the lower of both")
    func retainedAndDowngrade() async throws {
        let broker = makeBroker()
        try await broker.publish(topic: "cfg/a", payload: payload("kept"), qos: .exactlyOnce, retain: true)
        let subscription = try await broker.subscribe(
            clientID: "reader", subscriptions: [MQTTSubscription(topicFilter: "cfg/#", qos: .atLeastOnce)], cleanStart: true)
        var iterator = subscription.makeAsyncIterator()
        let retained = try #require(await iterator.next())
        #expect(retained.retain && retained.qos == .atLeastOnce && retained.payload == payload("kept"))
        await retained.ack()
        await subscription.close()
    }

    @Test("Invalid topics are refused with a clear error")
    func invalidTopics() async throws {
        let broker = makeBroker()
        await #expect(throws: MQTTBrokerError.invalidTopicName("a/+")) {
            try await broker.publish(topic: "a/+", payload: ByteBuffer())
        }
        await #expect(throws: MQTTBrokerError.invalidTopicFilter("a/#/b")) {
            _ = try await broker.subscribe(clientID: "x", subscriptions: [MQTTSubscription(topicFilter: "a/#/b")])
        }
    }

    /// A process's session on `in/#` and a sink's, and the process's delivery of one QoS 1
    /// message published to `in/1` (the sink gets it too when its filter matches).
    func processAndSink(_ broker: MQTTBroker, sink filter: MQTTSubscription) async throws
        -> (process: BrokerSubscription, sink: BrokerSubscription, delivery: BrokerDelivery) {
        let process = try await broker.subscribe(
            clientID: "proc", subscriptions: [MQTTSubscription(topicFilter: "in/#", qos: .atLeastOnce)], cleanStart: true)
        let sink = try await broker.subscribe(clientID: "sink", subscriptions: [filter], cleanStart: true)
        try await broker.publish(topic: "in/1", payload: payload("doc"), qos: .atLeastOnce)
        var deliveries = process.makeAsyncIterator()
        return (process, sink, try #require(await deliveries.next()))
    }

    @Test("forward publishes what a delivery became, after what was published before, and acknowledges the delivery")
    func forwardPublishesThenAcknowledges() async throws {
        let broker = makeBroker()
        let (process, sink, delivery) = try await processAndSink(broker, sink: MQTTSubscription(topicFilter: "out/#", qos: .atLeastOnce))
        #expect(try await broker.session(clientID: "proc")?.inflight == 1)

        try await broker.publish(topic: "out/before", payload: payload("0"), qos: .atLeastOnce)
        try broker.forward([MQTTPublishPacket(topic: "out/a", payload: payload("1"), qos: .atLeastOnce),
                            MQTTPublishPacket(topic: "out/b", payload: payload("2"), qos: .atMostOnce)],
                           acknowledging: delivery)
        // The loop applies the forward before this later query.
        #expect(try await broker.session(clientID: "proc")?.inflight == 0)
        var received = sink.makeAsyncIterator()
        var topics: [String] = []
        for _ in 0..<3 {
            let message = try #require(await received.next())
            topics.append(message.topic)
            await message.ack()
        }
        #expect(topics == ["out/before", "out/a", "out/b"])
        await process.close()
        await sink.close()
    }

    @Test("forward with an invalid topic name queues nothing: the delivery stays unacknowledged")
    func forwardRefusesInvalidTopic() async throws {
        let broker = makeBroker()
        let (process, sink, delivery) = try await processAndSink(broker, sink: MQTTSubscription(topicFilter: "#", qos: .atMostOnce))
        #expect(throws: MQTTBrokerError.invalidTopicName("out/+")) {
            try broker.forward([MQTTPublishPacket(topic: "out/ok", payload: payload("1")),
                                MQTTPublishPacket(topic: "out/+", payload: payload("2"))], acknowledging: delivery)
        }
        #expect(try await broker.session(clientID: "proc")?.inflight == 1)
        try await broker.publish(topic: "marker", payload: payload("m"))
        var received = sink.makeAsyncIterator()
        // The sink saw the original message and then the marker: nothing of the refused forward.
        #expect(await received.next()?.topic == "in/1")
        #expect(await received.next()?.topic == "marker")
        await process.close()
        await sink.close()
    }
}
