import Foundation
import NIOCore
import Synchronization

/// A message moving through a process (docs/design.md, "One message, end to end"): made at Listen,
/// changed by steps, sent by endpoints.
///
/// The payload is bytes and stays exactly as received unless a `map` step replaces it. When a
/// step needs it as JSON, ``json()`` parses it once; copies of a document share that parse
/// until one of them gets a new payload.
public struct Document: Sendable {
    /// The id given at Listen; tracking events carry it.
    public var id: String
    /// The MQTT topic, or `nil` for a document that did not come from (or go to) MQTT yet.
    public var topic: String?
    /// The payload bytes. Assigning a new payload drops the cached JSON parse.
    public var payload: ByteBuffer {
        didSet { cache = JSONCache() }
    }
    /// User-visible properties: `qos`, `retain`, `dup`, `clientId`, MQTT 5 user properties,
    /// `contentType`..., and whatever `set` steps add.
    public var properties: [String: String]
    /// The tracked fields written with every tracking event.
    public var tracked: [String: String]
    /// When the document was received at Listen.
    public let receivedAt: Date

    private var cache = JSONCache()

    public init(
        id: String = DocumentID.make(), topic: String? = nil, payload: ByteBuffer,
        properties: [String: String] = [:], tracked: [String: String] = [:], receivedAt: Date = Date()
    ) {
        self.id = id
        self.topic = topic
        self.payload = payload
        self.properties = properties
        self.tracked = tracked
        self.receivedAt = receivedAt
    }

    /// A document whose payload is the UTF-8 bytes of `payload`.
    public init(
        id: String = DocumentID.make(), topic: String? = nil, payload: String,
        properties: [String: String] = [:], tracked: [String: String] = [:], receivedAt: Date = Date()
    ) {
        self.init(id: id, topic: topic, payload: ByteBuffer(string: payload), properties: properties,
                  tracked: tracked, receivedAt: receivedAt)
    }

    /// The payload as JSON, or `nil` when it is not JSON (see ``JSONPayload/parse(_:)``).
    /// Parsed at most once per payload value, also when copies of the document ask concurrently.
    public func json() -> JSONPayload? {
        cache.value(parsing: payload)
    }

    /// The payload as text: its UTF-8 decoding, invalid bytes replaced by U+FFFD.
    public var payloadText: String {
        String(buffer: payload)
    }
}

/// The lazily parsed JSON of one payload value. A reference so that copies of a document share
/// the parse; a new one is made whenever the payload is assigned.
private final class JSONCache: Sendable {
    private enum State: Sendable {
        case unparsed
        case parsed(JSONPayload?)
    }

    private let state = Mutex(State.unparsed)

    func value(parsing payload: ByteBuffer) -> JSONPayload? {
        state.withLock { state in
            if case .parsed(let value) = state { return value }
            let value = JSONPayload.parse(payload)
            state = .parsed(value)
            return value
        }
    }
}
