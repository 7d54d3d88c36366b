import Foundation
import Junction
import Logging
import MQTTBroker
import MQTTClient
import MQTTCore
import NIOCore
import Synchronization
import Testing

/// The repository's own `Processes/` and `Connectors/`, loaded as `junction run` loads them.
enum ShippedExamples {
    /// The repository root: this file is `Tests/JunctionTests/Support/ShippedExamples.swift`.
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The shipped definitions with only the addresses overridden: the embedded broker and the
    /// `ingest` HTTP listener on free loopback ports, the `ops-api` connector pointed at a test
    /// server on `opsAPIPort`. Relative directories land under the harness's temporary root.
    static func load(opsAPIPort: Int) throws -> Definitions {
        var definitions = DefinitionLoader.load(processes: repository.appendingPathComponent("Processes").path,
                                                connectors: repository.appendingPathComponent("Connectors").path)
        guard definitions.problems.isEmpty else { throw DefinitionError(problems: definitions.problems) }
        try definitions.overrideBrokerListeners([BrokerListener(host: "127.0.0.1", port: 0)])
        try definitions.overrideHTTPListener("ingest", host: "127.0.0.1", port: 0)
        try definitions.overrideHTTPBaseURL("ops-api", try #require(URL(string: "http://127.0.0.1:\(opsAPIPort)")))
        return definitions
    }
}

extension EngineHarness {
    /// An engine over already loaded definitions; data, archives and file connectors with
    /// relative directories go to `root` (default: a fresh temporary folder, removed after `run`).
    /// `listeners` replace the broker definition's (`[]`: in-process only, no socket).
    init(definitions: Definitions, root: URL? = nil, listeners: [BrokerListener]? = nil, trackingRetention: Int64? = nil,
         retentionInterval: Duration = .seconds(3600), watch: DefinitionDirectories? = nil) throws {
        self.root = root ?? FileManager.default.temporaryDirectory.appendingPathComponent("engine-\(UUID())")
        try FileManager.default.createDirectory(at: self.root, withIntermediateDirectories: true)
        engine = Engine(definitions: definitions, dataDirectory: self.root.appendingPathComponent(".junction"), baseDirectory: self.root,
                        logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), listeners: listeners,
                        trackingRetention: trackingRetention, retentionInterval: retentionInterval, watch: watch)
        broker = try #require(engine.broker)
    }

    /// Whether every process listens: embedded MQTT sessions connected, HTTP routes served,
    /// file directories created. (External MQTT listens are the caller's to check.)
    func everyProcessListening() async throws -> Bool {
        for runner in engine.runners {
            switch runner.context.definition.listen {
            case .mqtt(let listen):
                guard case .mqttBroker? = runner.context.connectors[listen.connector]?.kind else { continue }
                if try await broker.session(clientID: runner.clientID)?.connected != true { return false }
            case .http(let listen):
                if !engine.resources.http.routes(of: listen.connector).contains("\(listen.method) \(listen.path)") { return false }
            case .file(let listen):
                guard case .file(let file)? = runner.context.connectors[listen.connector]?.kind else { return false }
                if !FileManager.default.fileExists(atPath: root.appendingPathComponent(file.directory).path) { return false }
            }
        }
        return true
    }

    /// The TCP port of the embedded broker's first listener.
    func mqttPort() async throws -> Int {
        try #require(try await engine.brokerAddresses().first?.port, "the embedded broker bound no port")
    }
}

/// A client connected over TCP to 127.0.0.1:`port` for the length of `body`.
func withMQTTClient<T>(port: Int, version: MQTTProtocolVersion = .v5, _ body: (MQTTClient) async throws -> T) async throws -> T {
    var configuration = MQTTClientConfiguration(host: "127.0.0.1", port: port, version: version, clientID: "test-\(UUID().uuidString.prefix(8))")
    configuration.reconnect = .disabled
    return try await MQTTClient.withConnection(configuration, body)
}

/// The messages a client subscription received, in order, each acknowledged as it arrives.
final class ReceivedMessages: Sendable {
    private let stream: AsyncStream<MQTTMessage>
    private let sink: AsyncStream<MQTTMessage>.Continuation

    init() { (stream, sink) = AsyncStream.makeStream(of: MQTTMessage.self) }

    func push(_ message: MQTTMessage) { sink.yield(message) }
    func finish() { sink.finish() }

    /// The next message, failing after `timeout`.
    func next(timeout: Duration = .seconds(20)) async throws -> MQTTMessage {
        let stream = self.stream
        return try #require(await withTimeout(timeout) { await stream.first { _ in true } }, "no message within \(timeout)")
    }
}

/// Subscribes `client` to `subscriptions` and runs `body` with what arrives (acknowledged
/// automatically); unsubscribes when `body` ends unless `unsubscribeOnExit` is false.
func withMessages<T>(_ client: MQTTClient, _ subscriptions: [MQTTSubscription], unsubscribeOnExit: Bool = true,
                     _ body: (ReceivedMessages) async throws -> T) async throws -> T {
    try await client.subscribe(to: subscriptions, acknowledgement: .automatic, unsubscribeOnExit: unsubscribeOnExit) { messages in
        let received = ReceivedMessages()
        let feeder = Task {
            do {
                for try await message in messages { received.push(message) }
            } catch {}
            received.finish()
        }
        defer { feeder.cancel() }
        return try await body(received)
    }
}
