import Foundation
import MQTTBroker
import MQTTTransport

extension BrokerDefinition {
    /// Reads a listener's `tls` and `websocket` keys into `listener`:
    ///
    /// ```json
    /// {"host": "0.0.0.0", "port": 8883, "tls": {"certificate": "certs/server.pem", "key": "certs/server.key",
    ///  "ca": "certs/ca.pem", "clientCertificates": "required", "usernameFrom": "cn"}}
    /// {"port": 8083, "websocket": {"path": "/mqtt"}}       // or "websocket": true for /mqtt
    /// ```
    /// Both together are WSS. TLS files are relative to the definition's folder and must be readable.
    static func parseListenerTransport(_ object: [String: JSONValue], _ path: String, _ reader: DefinitionReader,
                                       into listener: inout BrokerListener) {
        listener.tls = ListenerTLSDefinition.parse(object["tls"], "\(path).tls", reader, allowsUsername: true)
        switch object["websocket"] {
        case nil, .bool(false)?:
            break
        case .bool(true)?:
            listener.webSocket = WebSocketListenerOptions()
        case .object?:
            guard let options = reader.object(object["websocket"], "\(path).websocket", BrokerKeys.webSocket) else { break }
            var webSocket = WebSocketListenerOptions()
            if let requestPath = reader.string(options["path"], "\(path).websocket.path") {
                if requestPath.hasPrefix("/") && !requestPath.contains("?") && !requestPath.contains(" ") {
                    webSocket.path = requestPath
                } else {
                    reader.problem("\(path).websocket.path", "expected a request path starting with \"/\", e.g. \"/mqtt\", found \"\(requestPath)\"")
                }
            }
            listener.webSocket = webSocket
        case let other?:
            reader.problem("\(path).websocket", "expected true, false or an object like {\"path\": \"/mqtt\"}, found \(other.kind)")
        }
    }
}

/// The `tls` object of a listener (`mqtt-broker` listeners, `http-listener` connectors).
enum ListenerTLSDefinition {
    /// Parses and checks `value`; the files must be readable and the certificate must match the
    /// key (the TLS context is built once to check). Problems go to `reader`.
    static func parse(_ value: JSONValue?, _ path: String, _ reader: DefinitionReader, allowsUsername: Bool) -> ListenerTLS? {
        let table = allowsUsername ? BrokerKeys.listenerTLS : BrokerKeys.httpListenerTLS
        guard let object = reader.object(value, path, table) else { return nil }
        let before = reader.problems.count
        func file(_ key: String, required: Bool) -> String? {
            guard let name = reader.string(object[key], "\(path).\(key)") else {
                if required && object[key] == nil { reader.problem("\(path).\(key)", "is required: a PEM file") }
                return nil
            }
            let resolved = name.hasPrefix("/") ? name
                : URL(fileURLWithPath: reader.file).deletingLastPathComponent().appendingPathComponent(name).path
            if !FileManager.default.isReadableFile(atPath: resolved) {
                reader.problem("\(path).\(key)", "cannot read \(resolved)")
            }
            return resolved
        }
        let certificate = file("certificate", required: true)
        let key = file("key", required: true)
        let ca = file("ca", required: false)
        var clientCertificates = ListenerTLS.ClientCertificates.none
        if let text = reader.string(object["clientCertificates"], "\(path).clientCertificates") {
            if let parsed = ListenerTLS.ClientCertificates(rawValue: text) { clientCertificates = parsed } else {
                reader.problem("\(path).clientCertificates", "expected \"none\", \"optional\" or \"required\", found \"\(text)\"")
            }
        }
        var usernameFrom: ListenerTLS.UsernameSource?
        if let text = reader.string(object["usernameFrom"], "\(path).usernameFrom") {
            usernameFrom = ListenerTLS.UsernameSource(rawValue: text)
            if usernameFrom == nil { reader.problem("\(path).usernameFrom", "expected \"cn\" or \"san\", found \"\(text)\"") }
            if clientCertificates == .none {
                reader.problem("\(path).usernameFrom", "needs \"clientCertificates\": \"optional\" or \"required\"")
            }
        }
        guard let certificate, let key, reader.problems.count == before else { return nil }
        let tls = ListenerTLS(certificateFile: certificate, keyFile: key, caFile: ca,
                              clientCertificates: clientCertificates, usernameFrom: usernameFrom)
        do {
            _ = try tls.makeServerContext()
        } catch {
            reader.problem(path, "cannot be used: \(error)")
            return nil
        }
        return tls
    }
}
