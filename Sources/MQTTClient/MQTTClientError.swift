import MQTTCore

/// Every way an ``MQTTClient`` operation can fail.
///
/// Where the broker said why (a CONNACK, PUBACK, PUBREC, SUBACK, UNSUBACK or DISCONNECT with a
/// failure reason code), the case carries its ``MQTTReasonCode`` and, on MQTT 5, its Reason
/// String.
public enum MQTTClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No TCP connection could be made to `server` (refused, unreachable, timed out).
    case connectionFailed(server: String, description: String)
    /// The broker answered CONNECT with a failure CONNACK.
    case connectionRefused(reasonCode: MQTTReasonCode, reasonString: String?)
    /// No CONNACK arrived within the connect timeout.
    case connectTimeout(server: String)
    /// The broker ended the connection with a DISCONNECT.
    case serverDisconnected(reasonCode: MQTTReasonCode, reasonString: String?)
    /// The connection ended without a DISCONNECT (socket closed or reset).
    case connectionClosed(description: String)
    /// No PINGRESP (or anything else) came back within the ping timeout: the connection is dead.
    case keepAliveTimeout
    /// The broker broke the protocol; the client sent DISCONNECT with `reasonCode` (5.0) and closed.
    case protocolViolation(reasonCode: MQTTReasonCode, description: String)
    /// Bytes from the broker were not a valid packet.
    case malformedPacket(MQTTDecodeError)
    /// A packet could not be encoded (a field longer than 65,535 bytes...).
    case encodingFailed(MQTTEncodeError)
    /// The broker refused a PUBLISH (PUBACK or PUBREC with a failure reason code).
    case publishFailed(reasonCode: MQTTReasonCode, reasonString: String?)
    /// The broker refused a topic filter in its SUBACK.
    case subscribeFailed(topicFilter: String, reasonCode: MQTTReasonCode, reasonString: String?)
    /// The broker refused a topic filter in its UNSUBACK.
    case unsubscribeFailed(topicFilter: String, reasonCode: MQTTReasonCode, reasonString: String?)
    /// The packet is larger than the broker's Maximum Packet Size (or the protocol's limit).
    case packetTooLarge(size: Int, maximum: Int)
    /// The broker's Maximum QoS is lower than the QoS asked for.
    case qosNotSupported(requested: MQTTQoS, maximum: MQTTQoS)
    /// The broker does not support retained messages.
    case retainNotSupported
    /// Not a valid topic name (empty, a wildcard, U+0000, too long).
    case invalidTopicName(String)
    /// Not a valid topic filter.
    case invalidTopicFilter(String)
    /// The client is disconnected and its offline queue already holds `limit` publishes.
    case offlineQueueFull(limit: Int)
    /// The client is disconnected, does not queue (offline queue limit 0) or does not reconnect.
    case notConnected
    /// All 65,535 packet identifiers are taken by unfinished messages and requests.
    case packetIdentifiersExhausted
    /// The broker did not resume the session, and with it lost a QoS 2 message it had already
    /// acknowledged with PUBREC: whether it was delivered is unknown.
    case sessionLost
    /// Enhanced authentication failed in the client's own hook or by protocol.
    case authenticationFailed(description: String)
    /// The client was shut down (or disconnected) before the operation completed.
    case clientClosed

    /// The broker's reason code, where the broker gave one.
    public var reasonCode: MQTTReasonCode? {
        switch self {
        case .connectionRefused(let code, _), .serverDisconnected(let code, _), .publishFailed(let code, _),
            .subscribeFailed(_, let code, _), .unsubscribeFailed(_, let code, _), .protocolViolation(let code, _):
            code
        case .malformedPacket(let error): error.reasonCode
        default: nil
        }
    }

    /// The broker's Reason String, where it sent one.
    public var reasonString: String? {
        switch self {
        case .connectionRefused(_, let text), .serverDisconnected(_, let text), .publishFailed(_, let text),
            .subscribeFailed(_, _, let text), .unsubscribeFailed(_, _, let text):
            text
        default: nil
        }
    }

    /// Whether the failure concerns the connection (and a reconnect may cure it) rather than
    /// one operation.
    public var isConnectionError: Bool {
        switch self {
        case .connectionFailed, .connectionRefused, .connectTimeout, .serverDisconnected, .connectionClosed,
            .keepAliveTimeout, .protocolViolation, .malformedPacket, .authenticationFailed:
            true
        default: false
        }
    }

    public var description: String {
        func reason(_ code: MQTTReasonCode, _ text: String?) -> String {
            "\(code)" + (text.map { " (\($0))" } ?? "")
        }
        switch self {
        case .connectionFailed(let server, let description): return "cannot connect to \(server): \(description)"
        case .connectionRefused(let code, let text): return "connection refused: \(reason(code, text))"
        case .connectTimeout(let server): return "no CONNACK from \(server) within the connect timeout"
        case .serverDisconnected(let code, let text): return "disconnected by the broker: \(reason(code, text))"
        case .connectionClosed(let description): return "connection closed: \(description)"
        case .keepAliveTimeout: return "keepalive timeout: no answer to PINGREQ"
        case .protocolViolation(let code, let description): return "protocol violation by the broker (\(code)): \(description)"
        case .malformedPacket(let error): return "malformed packet from the broker: \(error)"
        case .encodingFailed(let error): return "cannot encode packet: \(error)"
        case .publishFailed(let code, let text): return "publish refused: \(reason(code, text))"
        case .subscribeFailed(let filter, let code, let text): return "subscription to \"\(filter)\" refused: \(reason(code, text))"
        case .unsubscribeFailed(let filter, let code, let text): return "unsubscribe from \"\(filter)\" refused: \(reason(code, text))"
        case .packetTooLarge(let size, let maximum): return "packet of \(size) bytes exceeds the maximum packet size \(maximum)"
        case .qosNotSupported(let requested, let maximum): return "QoS \(requested) not supported (broker maximum \(maximum))"
        case .retainNotSupported: return "the broker does not support retained messages"
        case .invalidTopicName(let topic): return "invalid topic name \"\(topic)\""
        case .invalidTopicFilter(let filter): return "invalid topic filter \"\(filter)\""
        case .offlineQueueFull(let limit): return "offline queue full (\(limit) publishes waiting for the connection)"
        case .notConnected: return "not connected"
        case .packetIdentifiersExhausted: return "every packet identifier is in use"
        case .sessionLost: return "the broker did not resume the session; a QoS 2 message it had acknowledged may be lost"
        case .authenticationFailed(let description): return "authentication failed: \(description)"
        case .clientClosed: return "the client was closed"
        }
    }
}
