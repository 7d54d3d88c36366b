import Foundation

/// One tracking event (docs/design.md): what happened to a document at one hop.
public struct TrackingEvent: Sendable, Codable, Hashable {
    public enum Kind: String, Sendable, Codable, Hashable {
        case received, step, sent, filtered, retried, failed, deadLettered = "dead-lettered", completed
    }

    public var time: Date
    public var event: Kind
    public var document: String
    public var process: String
    public var step: Int?
    public var connector: String?
    public var topic: String?
    public var qos: Int?
    public var bytes: Int?
    /// Milliseconds since the document was received.
    public var durationMs: Double?
    public var fields: [String: String]?
    public var error: String?

    public init(time: Date = Date(), event: Kind, document: String, process: String, step: Int? = nil,
                connector: String? = nil, topic: String? = nil, qos: Int? = nil, bytes: Int? = nil,
                durationMs: Double? = nil, fields: [String: String]? = nil, error: String? = nil) {
        self.time = time
        self.event = event
        self.document = document
        self.process = process
        self.step = step
        self.connector = connector
        self.topic = topic
        self.qos = qos
        self.bytes = bytes
        self.durationMs = durationMs
        self.fields = fields
        self.error = error
    }
}
