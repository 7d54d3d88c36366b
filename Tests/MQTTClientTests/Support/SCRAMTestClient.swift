import MQTTClient
import MQTTCore
import Synchronization

/// What a test client reported through `onEvent`, in order.
final class ClientEvents: Sendable {
    private let events = Mutex<[MQTTClientEvent]>([])

    func record(_ event: MQTTClientEvent) { events.withLock { $0.append(event) } }

    var all: [MQTTClientEvent] { events.withLock { $0 } }

    /// The errors of the `disconnected` events.
    var disconnections: [MQTTClientError] { all.compactMap { if case .disconnected(let error) = $0 { error } else { nil } } }

    /// How many `connected` events came.
    var connections: Int { all.filter { if case .connected = $0 { true } else { false } }.count }
}

extension MQTTClientConfiguration {
    /// A client of the test broker on `port` signing in with SCRAM-SHA-256 as `username`: 15 s to
    /// connect (the whole suite in parallel slows the exchange), no reconnects unless `reconnect`,
    /// its events into `events`. Also returns the mechanism, for ``MQTTClient/reauthenticate(data:)``.
    static func scramTest(port: Int, username: String, password: String, clientID: String = unique("client"),
                          reconnect: Bool = false, events: ClientEvents? = nil) -> (MQTTClientConfiguration, MQTTSCRAMAuthentication) {
        var configuration = MQTTClientConfiguration.test(port: port, clientID: clientID)
        configuration.connectTimeout = .seconds(15)
        if !reconnect { configuration.reconnect = .disabled }
        let scram = MQTTSCRAMAuthentication(username: username, password: password)
        configuration.authentication = scram.authentication
        if let events { configuration.onEvent = { events.record($0) } }
        return (configuration, scram)
    }
}
