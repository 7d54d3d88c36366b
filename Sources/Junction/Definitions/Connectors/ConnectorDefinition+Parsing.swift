import Foundation
import MQTTCore

extension ConnectorDefinition {
    static let types = ConnectorKeys.kinds.map(\.type)

    /// Parses one connector file's JSON; problems go to `reader`, nil when unusable.
    public static func parse(name: String, _ json: JSONValue?, reader: DefinitionReader) -> ConnectorDefinition? {
        guard case .object(let root) = json else {
            if let json { reader.problem("", "expected an object, found \(json.kind)") }
            return nil
        }
        guard let type = reader.string(root["type"], "type") else {
            if root["type"] == nil { reader.problem("type", "is required: one of \(types.joined(separator: ", "))") }
            return nil
        }
        let kind: Kind?
        switch type {
        case "mqtt-broker": kind = .mqttBroker(BrokerDefinition.parse(json, reader: reader))
        case "mqtt": kind = parseMQTT(root, reader).map(Kind.mqtt)
        case "http": kind = parseHTTP(root, reader).map(Kind.http)
        case "http-listener": kind = parseHTTPListener(root, reader).map(Kind.httpListener)
        case "file": kind = parseFile(root, reader).map(Kind.file)
        default:
            reader.problem("type", "expected one of \(types.joined(separator: ", ")), found \"\(type)\"")
            kind = nil
        }
        return kind.map { ConnectorDefinition(name: name, file: reader.file, kind: $0) }
    }

    private static func parseMQTT(_ root: [String: JSONValue], _ reader: DefinitionReader) -> MQTTConnectorDefinition? {
        _ = reader.object(.object(root), "", ConnectorKeys.mqtt)
        var texts: [(String, String)] = []
        if let url = reader.string(root["url"], "url") { texts.append((url, "url")) }
        if let urls = reader.array(root["urls"], "urls") {
            for (index, value) in urls.enumerated() {
                if let url = reader.string(value, "urls[\(index)]") { texts.append((url, "urls[\(index)]")) }
            }
        }
        if texts.isEmpty { reader.problem("url", "is required: e.g. \"mqtt://broker.example:1883\"") }
        let urls = texts.compactMap { text, path -> URL? in
            guard let url = URL(string: text), let scheme = url.scheme, ["mqtt", "mqtts", "ws", "wss"].contains(scheme),
                  url.host != nil
            else {
                reader.problem(path, "expected an mqtt://, mqtts://, ws:// or wss:// URL with a host, found \"\(text)\"")
                return nil
            }
            return url
        }
        var definition = MQTTConnectorDefinition(urls: urls)
        definition.clientID = reader.string(root["clientId"], "clientId")
        if let version = root["protocolVersion"] {
            switch version {
            case .string("3.1.1"), .integer(4): definition.protocolVersion = .v311
            case .string("5"), .string("5.0"), .integer(5): definition.protocolVersion = .v5
            default: reader.problem("protocolVersion", "expected \"3.1.1\" or \"5\"")
            }
        }
        definition.username = reader.secret(root["username"], "username")
        definition.password = reader.secret(root["password"], "password")
        if let keepAlive = reader.duration(root["keepAlive"], "keepAlive") {
            if keepAlive > 65_535_000 { reader.problem("keepAlive", "expected at most 65535s") }
            definition.keepAliveSeconds = UInt16(clamping: keepAlive / 1000)
        }
        if let expiry = reader.duration(root["sessionExpiry"], "sessionExpiry") {
            definition.sessionExpirySeconds = UInt32(clamping: expiry / 1000)
        }
        definition.tls = TLSDefinition.parse(root["tls"], "tls", reader)
        definition.storeAndForward = StoreAndForwardDefinition.parse(root["storeAndForward"], "storeAndForward", reader)
        return urls.isEmpty ? nil : definition
    }

    private static func parseHTTP(_ root: [String: JSONValue], _ reader: DefinitionReader) -> HTTPConnectorDefinition? {
        _ = reader.object(.object(root), "", ConnectorKeys.http)
        var url: URL?
        if let text = reader.string(root["baseUrl"], "baseUrl") {
            if let parsed = URL(string: text), let scheme = parsed.scheme, ["http", "https"].contains(scheme), parsed.host != nil {
                url = parsed
            } else {
                reader.problem("baseUrl", "expected an http:// or https:// URL with a host, found \"\(text)\"")
            }
        } else if root["baseUrl"] == nil {
            reader.problem("baseUrl", "is required: e.g. \"https://api.example.com\"")
        }
        var definition = HTTPConnectorDefinition(baseURL: url ?? URL(fileURLWithPath: "/"))
        if let method = reader.string(root["method"], "method") {
            if HTTPMethod.allowed.contains(method) { definition.method = method } else {
                reader.problem("method", "expected one of \(HTTPMethod.allowed.joined(separator: ", ")), found \"\(method)\"")
            }
        }
        if let headers = reader.object(root["headers"], "headers", allowed: nil) {
            for (name, value) in headers {
                if let secret = reader.secret(value, "headers.\(name)") { definition.headers[name] = secret }
            }
        }
        if let timeout = reader.duration(root["timeout"], "timeout") { definition.timeoutMilliseconds = timeout }
        if let retries = reader.integer(root["retries"], "retries", in: ConnectorKeys.http.range("retries")) { definition.retries = retries }
        definition.tls = TLSDefinition.parse(root["tls"], "tls", reader)
        return url == nil ? nil : definition
    }

    private static func parseHTTPListener(_ root: [String: JSONValue], _ reader: DefinitionReader) -> HTTPListenerDefinition? {
        _ = reader.object(.object(root), "", ConnectorKeys.httpListener)
        guard let port = reader.integer(root["port"], "port", in: ConnectorKeys.httpListener.range("port")) else {
            if root["port"] == nil { reader.problem("port", "is required: the TCP port to listen on") }
            return nil
        }
        var definition = HTTPListenerDefinition(port: port)
        if let host = reader.string(root["host"], "host") { definition.host = host }
        definition.token = reader.secret(root["token"], "token")
        definition.tls = ListenerTLSDefinition.parse(root["tls"], "tls", reader, allowsUsername: false)
        return definition
    }

    private static func parseFile(_ root: [String: JSONValue], _ reader: DefinitionReader) -> FileConnectorDefinition? {
        _ = reader.object(.object(root), "", ConnectorKeys.file)
        guard let directory = reader.string(root["directory"], "directory") else {
            if root["directory"] == nil { reader.problem("directory", "is required: the folder files are read from or written to") }
            return nil
        }
        guard !directory.isEmpty else {
            reader.problem("directory", "expected a folder path, found an empty string")
            return nil
        }
        return FileConnectorDefinition(directory: directory)
    }
}

/// HTTP methods a definition may name.
public enum HTTPMethod {
    public static let allowed = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]
}
