import MQTTCore
import NIOCore

/// What the fuzzer knows of one client id's session: its subscriptions as the broker granted
/// them, and the messages it is owed.
final class FuzzSessionModel {
    struct Subscription {
        var qos: MQTTQoS
        var noLocal: Bool
        var filter: String
        var shared: Bool
    }

    /// A message the broker acknowledged to its publisher whose topic matched one of this
    /// session's subscriptions: it must reach the subscriber (or wait in its queue) unless the
    /// queue limit dropped something, and until the subscriber acknowledges it.
    struct Obligation {
        var qos: MQTTQoS
        var topic: String
        var filter: String
        var publisher: String
        /// The broker session's drop counter when it was owed.
        var droppedBaseline: Int
        var delivered: Bool
    }

    let clientID: String
    var subscriptions: [String: Subscription] = [:]
    var obligations: [UInt32: Obligation] = [:]
    /// Every filter granted since the session started: a queued message may still arrive after
    /// its subscription went, but never one that no subscription ever matched.
    var everSubscribed: Set<String> = []
    /// Our QoS 2 packet ids the broker PUBRECed and whose PUBREL we have not sent.
    var awaitingRelease: Set<UInt16> = []
    /// The slot of the client connection attached, nil while offline.
    var attached: Int?
    /// Seconds it outlives its connection, as the client asked.
    var expiry: UInt32 = 0
    /// Raw bytes reached it (or a garbage CONNECT may have replaced it): not modelled until a new session starts.
    var tainted = false
    /// When the connection closed (virtual time), while offline.
    var detachedAt: NIODeadline?

    init(clientID: String) { self.clientID = clientID }

    /// Forgets everything: the broker said the session is new.
    func reset() {
        subscriptions.removeAll()
        obligations.removeAll()
        everSubscribed.removeAll()
        awaitingRelease.removeAll()
        tainted = false
    }
}

/// A will the fuzzer sent with a CONNECT, by message number.
struct WillRecord {
    var clientID: String
    var delay: UInt32
    var expiry: UInt32
    /// When its connection closed without DISCONNECT (virtual time).
    var closedAt: NIODeadline?
    /// Why it must never be published, if it must not.
    var forbidden: String?
}
