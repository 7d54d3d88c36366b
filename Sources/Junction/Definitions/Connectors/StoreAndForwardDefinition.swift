import Foundation

/// Store-and-forward of an `mqtt` connector: sends to the external broker go through a
/// durable outbox (SQLite under the data directory) and are forwarded in order, so a send made
/// while the broker is unreachable is kept and delivered when the link returns.
///
/// ```json
/// "storeAndForward": {"maxMessages": 100000, "maxBytes": "100MB", "whenFull": "block"}
/// ```
/// `false` turns it off (a send then waits up to 10 s for the connection and fails after);
/// `true` or leaving it out keeps the defaults.
public struct StoreAndForwardDefinition: Sendable, Hashable {
    /// What a send does when the outbox holds `maxMessages` messages or `maxBytes` bytes.
    public enum WhenFull: String, Sendable, Hashable, CaseIterable {
        /// The send waits for room: the document stays unacknowledged, and the process's
        /// `maxInFlight` holds the rest back upstream.
        case block
        /// The send fails permanently, so the document goes to the process's dead letter.
        case deadLetter
    }

    public var enabled: Bool = true
    public var maxMessages: Int = 100_000
    public var maxBytes: Int = 100 << 20
    public var whenFull: WhenFull = .block

    public init(enabled: Bool = true, maxMessages: Int = 100_000, maxBytes: Int = 100 << 20, whenFull: WhenFull = .block) {
        self.enabled = enabled
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
        self.whenFull = whenFull
    }

    /// The connector key.
    static let connectorKey = "storeAndForward"

    /// Parses `storeAndForward` (an object, or true/false); problems go to `reader`.
    static func parse(_ value: JSONValue?, _ path: String, _ reader: DefinitionReader) -> StoreAndForwardDefinition {
        var definition = StoreAndForwardDefinition()
        guard let value else { return definition }
        if case .bool(let enabled) = value {
            definition.enabled = enabled
            return definition
        }
        guard case .object = value else {
            reader.problem(path, "expected an object like {\"maxMessages\": 100000, \"maxBytes\": \"100MB\", \"whenFull\": \"block\"}, or true/false, found \(value.kind)")
            return definition
        }
        guard let object = reader.object(value, path, ConnectorKeys.storeAndForward) else { return definition }
        if let count = reader.integer(object["maxMessages"], "\(path).maxMessages", in: ConnectorKeys.storeAndForward.range("maxMessages")) { definition.maxMessages = count }
        if let bytes = reader.size(object["maxBytes"], "\(path).maxBytes", in: ConnectorKeys.storeAndForward.range("maxBytes")) { definition.maxBytes = bytes }
        if let policy = reader.string(object["whenFull"], "\(path).whenFull") {
            if let parsed = WhenFull(rawValue: policy) {
                definition.whenFull = parsed
            } else {
                reader.problem("\(path).whenFull", "expected \"block\" or \"deadLetter\", found \"\(policy)\"")
            }
        }
        return definition
    }
}
