import MQTTBroker
import MQTTTransport

extension Definitions {
    /// What loads but weakens security, each with its file and key path: `junction validate`
    /// prints these as warnings (its exit status stays 0) and `junction run` logs them.
    ///
    /// - a TLS listener asking for client certificates without a `ca` (they are then checked
    ///   against the system's trust roots, so any publicly issued certificate passes);
    /// - `"verify": false` on an outbound connector's `tls` (no certificate or host name check);
    /// - `tls` on an `mqtt` connector none of whose urls is `mqtts://` or `wss://`.
    public var warnings: [DefinitionProblem] {
        var warnings: [DefinitionProblem] = []
        func checkListenerTLS(_ tls: ListenerTLS?, file: String, path: String) {
            guard let tls, tls.clientCertificates != .none, tls.caFile == nil else { return }
            warnings.append(DefinitionProblem(file: file, path: path + "ca",
                message: "client certificates are \(tls.clientCertificates.rawValue) but no \"ca\" is given: they are checked against the system's trust roots"))
        }
        for connector in connectors.values {
            switch connector.kind {
            case .mqttBroker(let broker):
                for (index, listener) in broker.listeners.enumerated() {
                    checkListenerTLS(listener.tls, file: connector.file, path: "listeners[\(index)].tls.")
                }
            case .httpListener(let listener):
                checkListenerTLS(listener.tls, file: connector.file, path: "tls.")
            case .mqtt(let mqtt):
                guard let tls = mqtt.tls else { break }
                if !tls.verify {
                    warnings.append(DefinitionProblem(file: connector.file, path: "tls.verify",
                        message: "false turns off the broker's certificate and host name checks: anyone in between can read and change the traffic"))
                }
                if !mqtt.urls.contains(where: { ["mqtts", "wss"].contains($0.scheme?.lowercased() ?? "") }) {
                    warnings.append(DefinitionProblem(file: connector.file, path: "tls",
                        message: "has no effect: no url is mqtts:// or wss://"))
                }
            case .http(let http) where http.tls?.verify == false:
                warnings.append(DefinitionProblem(file: connector.file, path: "tls.verify",
                    message: "false turns off the server's certificate and host name checks: anyone in between can read and change the traffic"))
            default:
                break
            }
        }
        return warnings.sorted { ($0.file, $0.path) < ($1.file, $1.path) }
    }
}
