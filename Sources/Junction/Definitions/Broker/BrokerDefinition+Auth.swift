import Foundation
import MQTTBroker
import NIOCore

/// The access part of an `mqtt-broker` definition: the `auth` section, a listener's
/// `allowAnonymous`, and the limits of the `mqtt` section.
///
/// ```json
/// "auth": {"passwordFile": "passwords", "aclFile": "acl.json"}
/// ```
/// Files are relative to the definition's folder and read at load (and at every reload).
extension BrokerDefinition {
    /// `auth`: reads the password file and appends the ACL file's rules to `acl`.
    static func parseAuth(_ value: JSONValue?, into definition: inout BrokerDefinition, reader: DefinitionReader) {
        guard let auth = reader.object(value, "auth", BrokerKeys.auth) else { return }
        if let name = reader.string(auth["passwordFile"], "auth.passwordFile") {
            let path = resolve(name, reader)
            definition.passwordFile = path
            do {
                definition.settings.passwords = try BrokerPasswordFile.load(path: path)
            } catch {
                for problem in error.problems { reader.problem("auth.passwordFile", "\(path): \(problem)") }
            }
        }
        if let name = reader.string(auth["aclFile"], "auth.aclFile") {
            let path = resolve(name, reader)
            definition.aclFile = path
            let aclReader = DefinitionReader(file: path)
            guard let data = FileManager.default.contents(atPath: path) else {
                return reader.problem("auth.aclFile", "\(path): cannot be read")
            }
            let json = aclReader.parse(data)
            if let rules = aclReader.array(json, "") {
                definition.settings.acl += rules.enumerated().compactMap { index, value in parseRule(value, "[\(index)]", aclReader) }
            } else if json != nil, aclReader.problems.isEmpty {
                aclReader.problem("", "expected an array of rules")
            }
            for problem in aclReader.problems {
                reader.problem("auth.aclFile", "\(path): \(problem.path.isEmpty ? "" : problem.path + ": ")\(problem.message)")
            }
        }
    }

    /// The limits of the `mqtt` section.
    static func parseLimits(_ mqtt: [String: JSONValue], into s: inout BrokerSettings, reader: DefinitionReader) {
        if let v = reader.integer(mqtt["maxSubscriptions"], "mqtt.maxSubscriptions", in: BrokerKeys.mqtt.range("maxSubscriptions")) { s.maxSubscriptions = v }
        if let v = rate(mqtt["maxConnectionRate"], "mqtt.maxConnectionRate", reader) { s.maxConnectionRate = v }
        if let v = rate(mqtt["maxMessageRate"], "mqtt.maxMessageRate", reader) { s.maxMessageRate = v }
        if let v = reader.integer(mqtt["maxAuthFailures"], "mqtt.maxAuthFailures", in: BrokerKeys.mqtt.range("maxAuthFailures")) { s.maxAuthFailures = v }
        if let v = reader.duration(mqtt["authFailureBlock"], "mqtt.authFailureBlock") { s.authFailureBlock = .milliseconds(max(1, v)) }
    }

    /// A rate: an integer per second, or `"N/duration"` such as `"100/1s"` or `"600/1m"`.
    static func rate(_ value: JSONValue?, _ path: String, _ reader: DefinitionReader) -> BrokerRate? {
        guard let value else { return nil }
        let expected = "expected a positive integer per second or a rate like \"100/1s\" or \"600/1m\""
        switch value {
        case .integer(let count) where count > 0:
            return BrokerRate(count: count, per: .seconds(1))
        case .string(let text):
            let parts = text.split(separator: "/")
            if parts.count == 2, let count = Int(parts[0].trimmingCharacters(in: .whitespaces)), count > 0,
               let millis = Units.milliseconds(String(parts[1])), millis > 0 {
                return BrokerRate(count: count, per: .milliseconds(millis))
            }
            reader.problem(path, "\(expected), found \"\(text)\"")
        default:
            reader.problem(path, "\(expected), found \(value.kind)")
        }
        return nil
    }

    private static func resolve(_ name: String, _ reader: DefinitionReader) -> String {
        name.hasPrefix("/") ? name : URL(fileURLWithPath: reader.file).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// What is allowed but probably a mistake: anonymous clients on a listener other hosts can
    /// reach, or a listener that needs user names with no password file to check them.
    public var accessWarnings: [String] {
        listeners.enumerated().compactMap { index, listener in
            if listener.allowAnonymous == true && !listener.isLoopback {
                return "listeners[\(index)].allowAnonymous: anonymous clients may connect to \(listener.host):\(listener.port), which is not a loopback address"
            }
            if !listener.anonymousAllowed && settings.passwords == nil {
                return "listeners[\(index)]: \(listener.host) is not a loopback address, so clients must authenticate, but no auth.passwordFile is configured: every client will be refused"
            }
            return nil
        }
    }
}

extension Definitions {
    /// Warnings about the embedded broker's access settings, as `file: path: message` lines.
    public var accessWarnings: [String] {
        guard let broker, case .mqttBroker(let definition) = broker.kind else { return [] }
        return definition.accessWarnings.map { "\(broker.file): \($0)" }
    }
}
