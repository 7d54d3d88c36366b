import MQTTCore

/// How received QoS 1/2 messages are acknowledged.
public enum MQTTAcknowledgement: Sendable, Hashable {
    /// The application calls ``MQTTMessage/ack()`` when it is done with each message.
    case manual
    /// Each message is acknowledged as the subscription hands it out.
    case automatic
}

/// The messages of one ``MQTTClient/subscribe(to:properties:acknowledgement:unsubscribeOnExit:isolation:_:)``,
/// in the order they arrived. The sequence survives reconnections; it ends when the
/// subscription's closure returns, and throws when the client closes for good.
public struct MQTTClientSubscription: AsyncSequence, Sendable {
    public typealias Element = MQTTMessage
    public typealias Failure = MQTTClientError

    /// The subscriptions as requested.
    public let subscriptions: [MQTTSubscription]
    /// The SUBACK's reason code per filter: the QoS granted.
    public let grantedReasonCodes: [MQTTReasonCode]
    /// The Subscription Identifier the messages are routed by (5.0), if any.
    public let subscriptionIdentifier: UInt32?
    let stream: AsyncThrowingStream<MQTTMessage, any Error>
    let acknowledgement: MQTTAcknowledgement

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator(), acknowledgement: acknowledgement)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Failure = MQTTClientError
        var base: AsyncThrowingStream<MQTTMessage, any Error>.AsyncIterator
        let acknowledgement: MQTTAcknowledgement

        public mutating func next() async throws(MQTTClientError) -> MQTTMessage? {
            try await next(isolation: nil)
        }

        public mutating func next(isolation actor: isolated (any Actor)?) async throws(MQTTClientError) -> MQTTMessage? {
            let message: MQTTMessage?
            do {
                message = try await base.next(isolation: actor)
            } catch let error as MQTTClientError {
                throw error
            } catch {
                throw .connectionClosed(description: "\(error)")
            }
            guard let message else { return nil }
            if acknowledgement == .automatic, let acknowledger = message.acknowledger, acknowledger.claim() {
                try await acknowledger.acknowledge()
            }
            return message
        }
    }
}
