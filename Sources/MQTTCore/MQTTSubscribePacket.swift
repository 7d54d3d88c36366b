import NIOCore

/// SUBSCRIBE (MQTT 5 §3.8).
///
/// Topic filters are kept as received (validated UTF-8): a filter that breaks the wildcard rules
/// is refused per filter in the SUBACK (0x8F / 0x80), not by closing the connection.
public struct MQTTSubscribePacket: Sendable, Hashable {
    public var packetIdentifier: UInt16
    public var subscriptions: [MQTTSubscription]
    /// 5.0: Subscription Identifier and User Properties.
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, subscriptions: [MQTTSubscription], properties: MQTTProperties = []) {
        self.packetIdentifier = packetIdentifier
        self.subscriptions = subscriptions
        self.properties = properties
    }
}

/// One topic filter of a SUBSCRIBE with its options (MQTT 5 §3.8.3.1).
public struct MQTTSubscription: Sendable, Hashable {
    /// When retained messages are sent for a new subscription (5.0).
    public enum RetainHandling: UInt8, Sendable, Hashable {
        /// Send retained messages at the time of the subscribe.
        case sendOnSubscribe = 0
        /// Send them only if the subscription did not exist.
        case sendOnNewSubscribe = 1
        /// Do not send them.
        case doNotSend = 2
    }

    public var topicFilter: String
    /// The maximum QoS the subscriber accepts.
    public var qos: MQTTQoS
    /// 5.0: do not send the subscriber's own publications back to it.
    public var noLocal: Bool
    /// 5.0: keep the RETAIN flag of forwarded messages as published.
    public var retainAsPublished: Bool
    public var retainHandling: RetainHandling

    public init(topicFilter: String, qos: MQTTQoS = .atMostOnce, noLocal: Bool = false,
                retainAsPublished: Bool = false, retainHandling: RetainHandling = .sendOnSubscribe) {
        self.topicFilter = topicFilter
        self.qos = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
    }

    var optionsByte: UInt8 {
        qos.rawValue | (noLocal ? 0x04 : 0) | (retainAsPublished ? 0x08 : 0) | (retainHandling.rawValue << 4)
    }
}

/// UNSUBSCRIBE (MQTT 5 §3.10).
public struct MQTTUnsubscribePacket: Sendable, Hashable {
    public var packetIdentifier: UInt16
    public var topicFilters: [String]
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, topicFilters: [String], properties: MQTTProperties = []) {
        self.packetIdentifier = packetIdentifier
        self.topicFilters = topicFilters
        self.properties = properties
    }
}

/// SUBACK and UNSUBACK (MQTT 5 §3.9, §3.11): one reason code per filter of the request.
/// A 3.1.1 UNSUBACK carries no reason codes; a 3.1.1 SUBACK maps failures onto 0x80.
public struct MQTTSubAckPacket: Sendable, Hashable {
    public var packetIdentifier: UInt16
    public var reasonCodes: [MQTTReasonCode]
    public var properties: MQTTProperties

    public init(packetIdentifier: UInt16, reasonCodes: [MQTTReasonCode], properties: MQTTProperties = []) {
        self.packetIdentifier = packetIdentifier
        self.reasonCodes = reasonCodes
        self.properties = properties
    }
}

extension MQTTSubscribePacket {
    static func read(from body: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTDecodeError) -> MQTTSubscribePacket {
        let id = try body.readMQTTUInt16(field: "packet identifier")
        guard id != 0 else { throw .packetIdentifierZero(.subscribe) }
        let properties = version == .v5 ? try MQTTProperties.read(from: &body, context: .subscribe) : []
        var subscriptions: [MQTTSubscription] = []
        while body.readableBytes > 0 {
            let filter = try body.readMQTTString(field: "topic filter")
            let options = try body.readMQTTByte(field: "subscription options")
            guard options & (version == .v5 ? 0xC0 : 0xFC) == 0 else { throw .invalidSubscriptionOptions(options) }
            guard let qos = MQTTQoS(rawValue: options & 0x03) else { throw .invalidQoS(options & 0x03) }
            guard let retainHandling = MQTTSubscription.RetainHandling(rawValue: (options >> 4) & 0x03) else {
                throw .invalidRetainHandling((options >> 4) & 0x03)
            }
            subscriptions.append(MQTTSubscription(topicFilter: filter, qos: qos, noLocal: options & 0x04 != 0,
                                                  retainAsPublished: options & 0x08 != 0, retainHandling: retainHandling))
        }
        guard !subscriptions.isEmpty else { throw .noTopicFilters(.subscribe) }
        return MQTTSubscribePacket(packetIdentifier: id, subscriptions: subscriptions, properties: properties)
    }

    func bodyLength(version: MQTTProtocolVersion) -> Int {
        var length = 2 + subscriptions.reduce(0) { $0 + mqttStringLength($1.topicFilter) + 1 }
        if version == .v5 { length += properties.encodedLength }
        return length
    }

    func writeBody(to buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTEncodeError) {
        buffer.writeInteger(packetIdentifier)
        if version == .v5 { try properties.write(to: &buffer) }
        for subscription in subscriptions {
            try buffer.writeMQTTString(subscription.topicFilter, field: "topic filter")
            buffer.writeInteger(version == .v5 ? subscription.optionsByte : subscription.qos.rawValue)
        }
    }
}

extension MQTTUnsubscribePacket {
    static func read(from body: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTDecodeError) -> MQTTUnsubscribePacket {
        let id = try body.readMQTTUInt16(field: "packet identifier")
        guard id != 0 else { throw .packetIdentifierZero(.unsubscribe) }
        let properties = version == .v5 ? try MQTTProperties.read(from: &body, context: .unsubscribe) : []
        var filters: [String] = []
        while body.readableBytes > 0 { filters.append(try body.readMQTTString(field: "topic filter")) }
        guard !filters.isEmpty else { throw .noTopicFilters(.unsubscribe) }
        return MQTTUnsubscribePacket(packetIdentifier: id, topicFilters: filters, properties: properties)
    }

    func bodyLength(version: MQTTProtocolVersion) -> Int {
        var length = 2 + topicFilters.reduce(0) { $0 + mqttStringLength($1) }
        if version == .v5 { length += properties.encodedLength }
        return length
    }

    func writeBody(to buffer: inout ByteBuffer, version: MQTTProtocolVersion) throws(MQTTEncodeError) {
        buffer.writeInteger(packetIdentifier)
        if version == .v5 { try properties.write(to: &buffer) }
        for filter in topicFilters { try buffer.writeMQTTString(filter, field: "topic filter") }
    }
}

extension MQTTSubAckPacket {
    static func read(from body: inout ByteBuffer, type: MQTTPacketType, version: MQTTProtocolVersion) throws(MQTTDecodeError) -> MQTTSubAckPacket {
        let id = try body.readMQTTUInt16(field: "packet identifier")
        guard id != 0 else { throw .packetIdentifierZero(type) }
        if version == .v311 && type == .unsuback { return MQTTSubAckPacket(packetIdentifier: id, reasonCodes: []) }
        let properties = version == .v5 ? try MQTTProperties.read(from: &body, context: MQTTPropertyContext(type)) : []
        var codes: [MQTTReasonCode] = []
        codes.reserveCapacity(body.readableBytes)
        while let code = body.readInteger(as: UInt8.self) {
            let allowed = version == .v5 ? MQTTReasonCode.isAllowed(code, in: type) : (code <= 2 || code == 0x80)
            guard allowed else { throw .invalidReasonCode(code, in: type) }
            codes.append(MQTTReasonCode(rawValue: code))
        }
        return MQTTSubAckPacket(packetIdentifier: id, reasonCodes: codes, properties: properties)
    }

    func bodyLength(type: MQTTPacketType, version: MQTTProtocolVersion) -> Int {
        switch version {
        case .v311: type == .unsuback ? 2 : 2 + reasonCodes.count
        case .v5: 2 + properties.encodedLength + reasonCodes.count
        }
    }

    func writeBody(to buffer: inout ByteBuffer, type: MQTTPacketType, version: MQTTProtocolVersion) throws(MQTTEncodeError) {
        buffer.writeInteger(packetIdentifier)
        switch version {
        case .v311:
            guard type == .suback else { return }
            for code in reasonCodes { buffer.writeInteger(code.isFailure ? 0x80 : code.rawValue) }
        case .v5:
            try properties.write(to: &buffer)
            for code in reasonCodes { buffer.writeInteger(code.rawValue) }
        }
    }
}
