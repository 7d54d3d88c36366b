import MQTTCore
import NIOCore

/// What the broker state tells the journal, one call per kind of change.
extension BrokerJournal {
    /// A session got an endpoint: a session with an expiry is persistent from here on; one
    /// resumed with expiry 0 ends with its connection, so its stored copy goes now.
    func attached(_ session: Session) {
        session.disconnectedAt = nil
        if session.expiryInterval > 0 {
            session.journal = self
            touch(session)
        } else if session.journal != nil {
            record(.deleteSession(session.clientID))
            session.journal = nil
        }
    }

    /// The endpoint went: the session's expiry starts now (the interval may have changed at DISCONNECT).
    func detached(_ session: Session) {
        guard session.journal != nil else { return }
        session.disconnectedAt = WallClock.currentMilliseconds()
        touch(session)
    }

    func ended(_ session: Session) {
        guard session.journal != nil else { return }
        record(.deleteSession(session.clientID))
        session.journal = nil
    }

    func subscribed(_ session: Session, _ filter: String, _ options: SubscriptionOptions) {
        record(.upsertSubscription(StoredSubscription(clientID: session.clientID, filter: filter, qos: options.qos,
                                                      noLocal: options.noLocal, retainAsPublished: options.retainAsPublished,
                                                      identifier: options.identifier)))
    }

    /// A retained message was set or cleared (`$SYS` topics are regenerated, never stored).
    func retained(_ message: BrokerMessage) {
        guard !message.topic.hasPrefix("$SYS/") else { return }
        if message.payload.readableBytes == 0 {
            record(.setRetained(topic: message.topic, nil))
        } else {
            let clock = message.expiry == nil ? WallClock(wallNow: 0, deadlineNow: .uptimeNanoseconds(0)) : WallClock()
            record(.setRetained(topic: message.topic, StoredMessage(message, clock: clock)))
        }
    }
}
