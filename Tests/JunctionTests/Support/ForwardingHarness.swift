import Foundation
import Junction
import Logging
import MQTTBroker
import MQTTClient
import MQTTCore
import NIOCore
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing

/// Definitions in a temporary folder whose data directory outlives one engine run, so a second
/// engine can start on what the first left (outbox, persisted caches). ``remove()`` deletes it.
struct ForwardingHarness {
    let root: URL
    /// The tracking log of the engine running now: flushed before the files are read (it writes
    /// in batches at most 10 ms old).
    private let running = RunningLog()

    private final class RunningLog: Sendable {
        private let log = Mutex<TrackingLog?>(nil)
        func set(_ value: TrackingLog?) { log.withLock { $0 = value } }
        func flush() { log.withLock { $0 }?.flush() }
    }

    init(connectors: [String: String], processes: [String: String]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("forwarding-\(UUID())")
        for (folder, files) in [("Connectors", connectors), ("Processes", processes)] {
            let dir = root.appendingPathComponent(folder)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            for (name, json) in files { try Data(json.utf8).write(to: dir.appendingPathComponent("\(name).json")) }
        }
    }

    func remove() { try? FileManager.default.removeItem(at: root) }

    /// A fresh engine on the folder's definitions and data directory.
    func engine() throws -> Engine {
        let definitions = DefinitionLoader.load(processes: root.appendingPathComponent("Processes").path,
                                                connectors: root.appendingPathComponent("Connectors").path)
        guard definitions.problems.isEmpty else { throw DefinitionError(problems: definitions.problems) }
        return Engine(definitions: definitions, dataDirectory: root.appendingPathComponent(".junction"), baseDirectory: root,
                      logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), listeners: [])
    }

    /// Runs one engine around `body` (once `ready` holds), then shuts it down gracefully.
    func run(until ready: @escaping @Sendable (Engine) async throws -> Bool = { _ in true },
             _ body: @Sendable (Engine, MQTTBroker) async throws -> Void) async throws {
        let engine = try engine()
        let broker = try #require(engine.broker)
        running.set(engine.tracking)
        defer { running.set(nil) }
        let group = ServiceGroup(configuration: .init(services: engine.services, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                try await waitUntil("engine ready", timeout: .seconds(30)) { try await ready(engine) }
                try await body(engine, broker)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// Every tracking event written so far, by every run.
    func trackingEvents() throws -> [TrackingEvent] {
        running.flush()
        return try readTrackingEvents(in: root.appendingPathComponent(".junction/tracking"))
    }

    func count(_ kind: TrackingEvent.Kind) throws -> Int { try trackingEvents().filter { $0.event == kind }.count }
}

/// Messages a subscriber received, in order.
final class Received: Sendable {
    private let items = Mutex<[(topic: String, payload: String)]>([])

    func add(_ topic: String, _ payload: String) { items.withLock { $0.append((topic, payload)) } }
    var all: [(topic: String, payload: String)] { items.withLock { $0 } }
    var payloads: [String] { all.map(\.payload) }
    func count(_ topic: String) -> Int { all.filter { $0.topic == topic }.count }

    /// Waits until `count` payloads arrived (deadline `timeout`).
    func wait(for count: Int, timeout: Duration = .seconds(20)) async throws {
        try await waitUntil("\(count) messages (have \(payloads))", timeout: timeout) { self.payloads.count >= count }
    }
}

/// A persistent-session subscriber on the upstream Mosquitto (reconnecting across its restarts)
/// collecting what arrives on `filter`; `body` runs while it is subscribed.
func withUpstreamSubscriber(_ mosquitto: TestMosquitto, clientID: String = "checker", filter: String,
                            _ body: @Sendable (MQTTClient, Received) async throws -> Void) async throws {
    var configuration = MQTTClientConfiguration(host: "127.0.0.1", port: mosquitto.port, clientID: clientID)
    configuration.cleanStart = false
    configuration.sessionExpiryInterval = 3600
    configuration.reconnect = MQTTReconnectPolicy(initialDelay: .milliseconds(50), maximumDelay: .milliseconds(300))
    let received = Received()
    try await MQTTClient.withConnection(configuration) { client in
        try await client.subscribe(to: [MQTTSubscription(topicFilter: filter, qos: .atLeastOnce)], acknowledgement: .automatic,
                                   unsubscribeOnExit: false) { messages in
            let reader = Task {
                for try await message in messages { received.add(message.topic, message.payloadString) }
            }
            defer { reader.cancel() }
            try await body(client, received)
        }
    }
}

/// Collects what an in-process subscription of the embedded broker receives, acknowledging it.
func collect(_ subscription: BrokerSubscription) -> (Received, Task<Void, Never>) {
    let received = Received()
    let task = Task {
        for await delivery in subscription {
            received.add(delivery.topic, String(buffer: delivery.payload))
            await delivery.ack()
        }
    }
    return (received, task)
}
