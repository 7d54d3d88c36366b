import MQTTCore
import NIOCore

extension MQTTClient {
    /// Publishes a message and returns when its QoS flow completed: at once for QoS 0 (written),
    /// on PUBACK for QoS 1, on PUBCOMP for QoS 2.
    ///
    /// QoS 1/2 publishes respect the broker's Receive Maximum (and
    /// ``MQTTClientConfiguration/maximumInflight``): beyond it they wait their turn. While the
    /// client is disconnected and reconnecting, publishes wait in the offline queue, and an
    /// unfinished one is sent again after the reconnect, so the call spans the outage.
    ///
    /// - Parameters:
    ///   - topic: A topic name (no wildcards).
    ///   - properties: 5.0 properties: Payload Format Indicator, Message Expiry Interval,
    ///     Content Type, Response Topic, Correlation Data, User Properties (ignored on 3.1.1).
    /// - Throws: ``MQTTClientError/publishFailed(reasonCode:reasonString:)`` when the broker
    ///   refuses it, ``MQTTClientError/packetTooLarge(size:maximum:)``,
    ///   ``MQTTClientError/offlineQueueFull(limit:)``, ``MQTTClientError/clientClosed``...
    @discardableResult
    public func publish(to topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false,
                        properties: MQTTProperties = []) async throws(MQTTClientError) -> MQTTPublishResult {
        try await startPublish(to: topic, payload: payload, qos: qos, retain: retain, properties: properties).result()
    }

    /// Publishes UTF-8 text; see ``publish(to:payload:qos:retain:properties:)``.
    @discardableResult
    public func publish(to topic: String, string: String, qos: MQTTQoS = .atMostOnce, retain: Bool = false,
                        properties: MQTTProperties = []) async throws(MQTTClientError) -> MQTTPublishResult {
        try await publish(to: topic, payload: ByteBuffer(string: string), qos: qos, retain: retain, properties: properties)
    }
}

/// A publish handed to the client by ``MQTTClient/startPublish(to:payload:qos:retain:properties:)``,
/// whose QoS flow may still be under way.
public struct MQTTPublishInProgress: Sendable {
    let future: EventLoopFuture<MQTTPublishResult>

    /// Waits until the QoS flow completed, as ``MQTTClient/publish(to:payload:qos:retain:properties:)`` does.
    public func result() async throws(MQTTClientError) -> MQTTPublishResult {
        do {
            return try await future.get()
        } catch let error as MQTTClientError {
            throw error
        } catch {
            throw .connectionClosed(description: "\(error)")
        }
    }
}

extension MQTTClient {
    /// Hands a message to the client and returns at once: publishes started one after another
    /// are sent in that order, several in flight at a time (up to the broker's Receive Maximum),
    /// so a caller that must keep order need not wait a round trip per message. Await
    /// ``MQTTPublishInProgress/result()`` for the outcome; the rules are those of
    /// ``publish(to:payload:qos:retain:properties:)``.
    public func startPublish(to topic: String, payload: ByteBuffer, qos: MQTTQoS = .atMostOnce, retain: Bool = false,
                             properties: MQTTProperties = []) -> MQTTPublishInProgress {
        let packet = MQTTPublishPacket(topic: topic, payload: payload, qos: qos, retain: retain,
                                       properties: configuration.version == .v5 ? properties : [])
        let box = self.box
        // `flatSubmit` queues on the loop at once: calls ordered in time reach the loop in that order.
        return MQTTPublishInProgress(future: loop.flatSubmit { box.value.publish(packet) })
    }
}
