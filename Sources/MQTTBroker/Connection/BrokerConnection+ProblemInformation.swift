import MQTTCore
import NIOCore

extension BrokerConnection {
    /// The longest Reason String the broker writes, in UTF-8 bytes: a refusal quoting a client's
    /// topic (up to 65,535 bytes) or many of them must still fit the string field and the
    /// client's Maximum Packet Size.
    static let reasonStringLimit = 512

    /// `reason` cut to ``reasonStringLimit`` bytes on a character boundary, `…` marking the cut.
    static func boundedReason(_ reason: String) -> String {
        guard reason.utf8.count > reasonStringLimit else { return reason }
        var cut = ""
        var bytes = 0
        for character in reason {
            let size = character.utf8.count
            guard bytes + size <= reasonStringLimit - 3 else { break }
            cut.append(character)
            bytes += size
        }
        return cut + "…"
    }

    /// A Reason String for the refusals of one acknowledgement, when the client accepts one.
    func problemProperties(_ problems: [String]) -> MQTTProperties {
        guard version == .v5, sendsProblemInformation, !problems.isEmpty else { return [] }
        return [.reasonString(Self.boundedReason(problems.joined(separator: "; ")))]
    }

    /// `packet` without its Reason String and User Properties, which the server leaves out
    /// rather than exceed the client's Maximum Packet Size (MQTT-3.1.2-25, MQTT-3.2.2-19/20);
    /// nil for a packet that has nothing to leave out.
    static func withoutProblemInformation(_ packet: MQTTPacket) -> MQTTPacket? {
        func strip(_ properties: inout MQTTProperties) -> Bool {
            let before = properties.elements.count
            properties.elements.removeAll {
                if case .reasonString = $0 { return true }
                if case .userProperty = $0 { return true }
                return false
            }
            return properties.elements.count != before
        }
        switch packet {
        case .puback(var ack):
            return strip(&ack.properties) ? .puback(ack) : nil
        case .pubrec(var ack):
            return strip(&ack.properties) ? .pubrec(ack) : nil
        case .pubrel(var ack):
            return strip(&ack.properties) ? .pubrel(ack) : nil
        case .pubcomp(var ack):
            return strip(&ack.properties) ? .pubcomp(ack) : nil
        case .suback(var ack):
            return strip(&ack.properties) ? .suback(ack) : nil
        case .unsuback(var ack):
            return strip(&ack.properties) ? .unsuback(ack) : nil
        case .disconnect(var disconnect):
            return strip(&disconnect.properties) ? .disconnect(disconnect) : nil
        case .connack(var connack):
            return strip(&connack.properties) ? .connack(connack) : nil
        case .auth(var auth):
            return strip(&auth.properties) ? .auth(auth) : nil
        case .publish, .connect, .subscribe, .unsubscribe, .pingreq, .pingresp:
            return nil
        }
    }
}
