import Foundation
import MQTTCore
import MQTTTransport

/// A connector definition (`Connectors/<name>.json`): where processes listen and send.
public struct ConnectorDefinition: Sendable, Hashable {
    /// The file stem.
    public var name: String
    public var file: String
    public var kind: Kind

    public enum Kind: Sendable, Hashable {
        /// The embedded broker.
        case mqttBroker(BrokerDefinition)
        /// An external broker reached with the MQTT client.
        case mqtt(MQTTConnectorDefinition)
        /// Outbound HTTP through libcurl.
        case http(HTTPConnectorDefinition)
        /// Inbound HTTP.
        case httpListener(HTTPListenerDefinition)
        /// A directory.
        case file(FileConnectorDefinition)
    }

    /// The `type` value of each kind.
    public var typeName: String {
        switch kind {
        case .mqttBroker: "mqtt-broker"
        case .mqtt: "mqtt"
        case .http: "http"
        case .httpListener: "http-listener"
        case .file: "file"
        }
    }

    /// Whether a process may start from this connector.
    public var canListen: Bool {
        switch kind {
        case .mqttBroker, .mqtt, .httpListener, .file: true
        case .http: false
        }
    }

    /// Whether a `send` step may use this connector.
    public var canSend: Bool {
        switch kind {
        case .mqttBroker, .mqtt, .http, .file: true
        case .httpListener: false
        }
    }

    /// Whether this connector speaks MQTT (embedded or external).
    public var isMQTT: Bool {
        switch kind {
        case .mqttBroker, .mqtt: true
        default: false
        }
    }
}

/// TLS files and verification for an outbound connection.
public struct TLSDefinition: Sendable, Hashable {
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?
    /// Verify the peer's certificate and host name (on unless set false).
    public var verify: Bool = true

    static func parse(_ value: JSONValue?, _ path: String, _ reader: DefinitionReader) -> TLSDefinition? {
        guard let object = reader.object(value, path, ConnectorKeys.tls) else { return nil }
        var tls = TLSDefinition()
        for (key, keyPath) in [("caFile", \TLSDefinition.caFile), ("certFile", \.certFile), ("keyFile", \.keyFile)] {
            guard let file = reader.string(object[key], "\(path).\(key)") else { continue }
            let resolved = file.hasPrefix("/") ? file
                : URL(fileURLWithPath: reader.file).deletingLastPathComponent().appendingPathComponent(file).path
            if !FileManager.default.isReadableFile(atPath: resolved) {
                reader.problem("\(path).\(key)", "cannot read \(resolved)")
            }
            tls[keyPath: keyPath] = resolved
        }
        if let verify = reader.bool(object["verify"], "\(path).verify") { tls.verify = verify }
        if (tls.certFile == nil) != (tls.keyFile == nil) {
            reader.problem(path, "certFile and keyFile go together")
        }
        return tls
    }
}

/// An external MQTT broker (`type: "mqtt"`).
public struct MQTTConnectorDefinition: Sendable, Hashable {
    /// `mqtt://`, `mqtts://`, `ws://` or `wss://` URLs, tried in turn (failover).
    public var urls: [URL]
    public var clientID: String?
    public var protocolVersion: MQTTProtocolVersion = .v5
    public var username: Secret?
    public var password: Secret?
    public var keepAliveSeconds: UInt16 = 60
    public var sessionExpirySeconds: UInt32 = 3600
    public var tls: TLSDefinition?
    /// The durable outbox of sends to this broker (on by default).
    public var storeAndForward = StoreAndForwardDefinition()
}

/// Outbound HTTP (`type: "http"`).
public struct HTTPConnectorDefinition: Sendable, Hashable {
    public var baseURL: URL
    public var method: String = "POST"
    /// Header values may hold secrets (`Authorization: Bearer ${env:TOKEN}`).
    public var headers: [String: Secret] = [:]
    public var timeoutMilliseconds: Int64 = 30_000
    public var retries: Int = 0
    public var tls: TLSDefinition?
}

/// Inbound HTTP (`type: "http-listener"`).
public struct HTTPListenerDefinition: Sendable, Hashable {
    public var host: String = "127.0.0.1"
    public var port: Int
    /// A bearer token requests must carry, if set.
    public var token: Secret?
    /// HTTPS: certificate, key, and optionally a CA and client certificates.
    public var tls: ListenerTLS?
}

/// A directory (`type: "file"`); relative paths are relative to the daemon's working directory.
public struct FileConnectorDefinition: Sendable, Hashable {
    public var directory: String
}
