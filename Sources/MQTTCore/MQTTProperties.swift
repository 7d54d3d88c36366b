import NIOCore

/// The property list of an MQTT 5 packet or will, in wire order.
///
/// Empty on 3.1.1, where properties are neither encoded nor decoded. The typed accessors return
/// the first occurrence; ``userProperties`` and ``subscriptionIdentifiers`` return all.
public struct MQTTProperties: Sendable, Hashable, RandomAccessCollection, ExpressibleByArrayLiteral {
    public var elements: [MQTTProperty]

    public init(_ elements: [MQTTProperty] = []) { self.elements = elements }
    public init(arrayLiteral elements: MQTTProperty...) { self.elements = elements }

    public var startIndex: Int { elements.startIndex }
    public var endIndex: Int { elements.endIndex }
    public subscript(position: Int) -> MQTTProperty { elements[position] }

    /// Adds a property at the end.
    public mutating func append(_ property: MQTTProperty) { elements.append(property) }

    /// Removes every property with this identifier.
    public mutating func remove(_ identifier: MQTTProperty.Identifier) {
        elements.removeAll { $0.identifier == identifier }
    }

    /// Replaces every property with this identifier by `property` (or just removes them when nil).
    public mutating func set(_ identifier: MQTTProperty.Identifier, _ property: MQTTProperty?) {
        remove(identifier)
        if let property { elements.append(property) }
    }


    func first<T>(_ extract: (MQTTProperty) -> T?) -> T? {
        for element in elements { if let value = extract(element) { return value } }
        return nil
    }

    public var payloadFormat: MQTTPayloadFormat? { first { if case .payloadFormatIndicator(let v) = $0 { v } else { nil } } }
    public var messageExpiryInterval: UInt32? { first { if case .messageExpiryInterval(let v) = $0 { v } else { nil } } }
    public var contentType: String? { first { if case .contentType(let v) = $0 { v } else { nil } } }
    public var responseTopic: String? { first { if case .responseTopic(let v) = $0 { v } else { nil } } }
    public var correlationData: ByteBuffer? { first { if case .correlationData(let v) = $0 { v } else { nil } } }
    public var sessionExpiryInterval: UInt32? { first { if case .sessionExpiryInterval(let v) = $0 { v } else { nil } } }
    public var assignedClientIdentifier: String? { first { if case .assignedClientIdentifier(let v) = $0 { v } else { nil } } }
    public var serverKeepAlive: UInt16? { first { if case .serverKeepAlive(let v) = $0 { v } else { nil } } }
    public var authenticationMethod: String? { first { if case .authenticationMethod(let v) = $0 { v } else { nil } } }
    public var authenticationData: ByteBuffer? { first { if case .authenticationData(let v) = $0 { v } else { nil } } }
    public var requestProblemInformation: UInt8? { first { if case .requestProblemInformation(let v) = $0 { v } else { nil } } }
    public var willDelayInterval: UInt32? { first { if case .willDelayInterval(let v) = $0 { v } else { nil } } }
    public var requestResponseInformation: UInt8? { first { if case .requestResponseInformation(let v) = $0 { v } else { nil } } }
    public var responseInformation: String? { first { if case .responseInformation(let v) = $0 { v } else { nil } } }
    public var serverReference: String? { first { if case .serverReference(let v) = $0 { v } else { nil } } }
    public var reasonString: String? { first { if case .reasonString(let v) = $0 { v } else { nil } } }
    public var receiveMaximum: UInt16? { first { if case .receiveMaximum(let v) = $0 { v } else { nil } } }
    public var topicAliasMaximum: UInt16? { first { if case .topicAliasMaximum(let v) = $0 { v } else { nil } } }
    public var topicAlias: UInt16? { first { if case .topicAlias(let v) = $0 { v } else { nil } } }
    public var maximumQoS: UInt8? { first { if case .maximumQoS(let v) = $0 { v } else { nil } } }
    public var retainAvailable: UInt8? { first { if case .retainAvailable(let v) = $0 { v } else { nil } } }
    public var maximumPacketSize: UInt32? { first { if case .maximumPacketSize(let v) = $0 { v } else { nil } } }
    public var wildcardSubscriptionAvailable: UInt8? { first { if case .wildcardSubscriptionAvailable(let v) = $0 { v } else { nil } } }
    public var subscriptionIdentifierAvailable: UInt8? { first { if case .subscriptionIdentifierAvailable(let v) = $0 { v } else { nil } } }
    public var sharedSubscriptionAvailable: UInt8? { first { if case .sharedSubscriptionAvailable(let v) = $0 { v } else { nil } } }

    /// Every Subscription Identifier, in order.
    public var subscriptionIdentifiers: [UInt32] {
        elements.compactMap { if case .subscriptionIdentifier(let v) = $0 { v } else { nil } }
    }

    /// Every User Property, in order, duplicates kept.
    public var userProperties: [(name: String, value: String)] {
        elements.compactMap { if case .userProperty(let n, let v) = $0 { (n, v) } else { nil } }
    }
}

// MARK: - Wire format

extension MQTTProperty {
    /// Bytes of identifier plus value.
    var encodedLength: Int {
        switch self {
        case .payloadFormatIndicator, .requestProblemInformation, .requestResponseInformation, .maximumQoS,
            .retainAvailable, .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable,
            .sharedSubscriptionAvailable:
            2
        case .serverKeepAlive, .receiveMaximum, .topicAliasMaximum, .topicAlias: 3
        case .messageExpiryInterval, .sessionExpiryInterval, .willDelayInterval, .maximumPacketSize: 5
        case .subscriptionIdentifier(let v): 1 + mqttVariableByteIntegerLength(Int(v))
        case .contentType(let s), .responseTopic(let s), .assignedClientIdentifier(let s),
            .authenticationMethod(let s), .responseInformation(let s), .serverReference(let s),
            .reasonString(let s):
            1 + mqttStringLength(s)
        case .correlationData(let b), .authenticationData(let b): 3 + b.readableBytes
        case .userProperty(let n, let v): 1 + mqttStringLength(n) + mqttStringLength(v)
        }
    }

    /// Refuses a string or binary value longer than its 2-byte length allows, as writing it would.
    func checkFieldLengths() throws(MQTTEncodeError) {
        switch self {
        case .contentType(let s), .responseTopic(let s), .assignedClientIdentifier(let s),
            .authenticationMethod(let s), .responseInformation(let s), .serverReference(let s),
            .reasonString(let s):
            if s.utf8.count > 65_535 { throw .fieldTooLong(field: "\(identifier)", length: s.utf8.count) }
        case .correlationData(let b), .authenticationData(let b):
            if b.readableBytes > 65_535 { throw .fieldTooLong(field: "\(identifier)", length: b.readableBytes) }
        case .userProperty(let n, let v):
            if n.utf8.count > 65_535 { throw .fieldTooLong(field: "user property name", length: n.utf8.count) }
            if v.utf8.count > 65_535 { throw .fieldTooLong(field: "user property value", length: v.utf8.count) }
        default:
            break
        }
    }

    /// Writes identifier and value; ``checkFieldLengths()`` must have passed.
    func write(to writer: inout MQTTByteWriter) {
        writer.writeByte(identifier.rawValue)
        switch self {
        case .payloadFormatIndicator(let v): writer.writeByte(v.rawValue)
        case .requestProblemInformation(let v), .requestResponseInformation(let v), .maximumQoS(let v),
            .retainAvailable(let v), .wildcardSubscriptionAvailable(let v), .subscriptionIdentifierAvailable(let v),
            .sharedSubscriptionAvailable(let v):
            writer.writeByte(v)
        case .serverKeepAlive(let v), .receiveMaximum(let v), .topicAliasMaximum(let v), .topicAlias(let v):
            writer.writeUInt16(v)
        case .messageExpiryInterval(let v), .sessionExpiryInterval(let v), .willDelayInterval(let v),
            .maximumPacketSize(let v):
            writer.writeUInt32(v)
        case .subscriptionIdentifier(let v): writer.writeVariableByteInteger(Int(v))
        case .contentType(let s), .responseTopic(let s), .assignedClientIdentifier(let s),
            .authenticationMethod(let s), .responseInformation(let s), .serverReference(let s),
            .reasonString(let s):
            writer.writeString(s)
        case .correlationData(let b), .authenticationData(let b): writer.writeBinary(b)
        case .userProperty(let n, let v):
            writer.writeString(n)
            writer.writeString(v)
        }
    }
}

extension MQTTProperties {
    /// Bytes of the properties without their length prefix.
    var contentLength: Int { elements.reduce(0) { $0 + $1.encodedLength } }

    /// Bytes of the length prefix plus the properties.
    var encodedLength: Int {
        let content = contentLength
        return mqttVariableByteIntegerLength(content) + content
    }

    /// Writes the length prefix and the properties in one go; nothing when a value is too long.
    func write(to buffer: inout ByteBuffer) throws(MQTTEncodeError) {
        let content = try checkedContentLength()
        buffer.writeMQTTFields(count: mqttVariableByteIntegerLength(content) + content) {
            write(to: &$0, contentLength: content)
        }
    }

    /// ``contentLength``, after checking that every value fits (``MQTTProperty/checkFieldLengths()``).
    func checkedContentLength() throws(MQTTEncodeError) -> Int {
        var length = 0
        for element in elements {
            try element.checkFieldLengths()
            length += element.encodedLength
        }
        return length
    }

    /// Writes the length prefix and the properties; `contentLength` from ``checkedContentLength()``.
    func write(to writer: inout MQTTByteWriter, contentLength: Int) {
        writer.writeVariableByteInteger(contentLength)
        for element in elements { element.write(to: &writer) }
    }

    /// Reads a length-prefixed property list, enforcing which properties `context` allows, which
    /// may repeat, and the values the specification forbids.
    static func read(from buffer: inout ByteBuffer, context: MQTTPropertyContext) throws(MQTTDecodeError) -> MQTTProperties {
        try buffer.readMQTTFields { reader throws(MQTTDecodeError) in try read(from: &reader, context: context) }
    }

    static func read(from buffer: inout MQTTByteReader, context: MQTTPropertyContext) throws(MQTTDecodeError) -> MQTTProperties {
        let length = try buffer.readMQTTVariableByteInteger(field: "property length")
        if length == 0 { return MQTTProperties() }
        guard var slice = buffer.readMQTTFields(length: length) else { throw .truncated(field: "properties") }
        var result: [MQTTProperty] = []
        result.reserveCapacity(Swift.min(length / 2, 8))  // every property takes 2 bytes at least
        var seen: UInt64 = 0
        while slice.remaining > 0 {
            let raw = try slice.readMQTTByte(field: "property identifier")
            guard let id = MQTTProperty.Identifier(rawValue: raw) else { throw .unknownProperty(raw) }
            guard id.isAllowed(in: context) else { throw .propertyNotAllowed(id, in: context) }
            let bit: UInt64 = 1 << UInt64(raw)
            if seen & bit != 0 && !id.mayRepeat(in: context) { throw .duplicateProperty(id, in: context) }
            seen |= bit
            result.append(try MQTTProperty.read(id, from: &slice))
        }
        return MQTTProperties(result)
    }
}

extension MQTTProperty {
    static func read(_ id: Identifier, from buffer: inout MQTTByteReader) throws(MQTTDecodeError) -> MQTTProperty {
        // Named in errors only: built when one is thrown, not for every property read.
        var field: String { "\(id)" }
        func boolean() throws(MQTTDecodeError) -> UInt8 {
            let v = try buffer.readMQTTByte(field: field)
            guard v <= 1 else { throw .invalidPropertyValue(id, value: UInt32(v)) }
            return v
        }
        func nonZero16() throws(MQTTDecodeError) -> UInt16 {
            let v = try buffer.readMQTTUInt16(field: field)
            guard v != 0 else { throw id == .topicAlias ? .topicAliasZero : .invalidPropertyValue(id, value: 0) }
            return v
        }
        switch id {
        case .payloadFormatIndicator: return .payloadFormatIndicator(try boolean() == 1 ? .utf8 : .bytes)
        case .messageExpiryInterval: return .messageExpiryInterval(try buffer.readMQTTUInt32(field: field))
        case .contentType: return .contentType(try buffer.readMQTTString(field: field))
        case .responseTopic:
            let topic = try buffer.readMQTTString(field: field)
            if topic.isEmpty || topic.utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "#") }) {
                throw .invalidResponseTopic(topic)
            }
            return .responseTopic(topic)
        case .correlationData: return .correlationData(try buffer.readMQTTBinary(field: field))
        case .subscriptionIdentifier:
            let v = try buffer.readMQTTVariableByteInteger(field: field)
            guard v != 0 else { throw .invalidPropertyValue(id, value: 0) }
            return .subscriptionIdentifier(UInt32(v))
        case .sessionExpiryInterval: return .sessionExpiryInterval(try buffer.readMQTTUInt32(field: field))
        case .assignedClientIdentifier: return .assignedClientIdentifier(try buffer.readMQTTString(field: field))
        case .serverKeepAlive: return .serverKeepAlive(try buffer.readMQTTUInt16(field: field))
        case .authenticationMethod: return .authenticationMethod(try buffer.readMQTTString(field: field))
        case .authenticationData: return .authenticationData(try buffer.readMQTTBinary(field: field))
        case .requestProblemInformation: return .requestProblemInformation(try boolean())
        case .willDelayInterval: return .willDelayInterval(try buffer.readMQTTUInt32(field: field))
        case .requestResponseInformation: return .requestResponseInformation(try boolean())
        case .responseInformation: return .responseInformation(try buffer.readMQTTString(field: field))
        case .serverReference: return .serverReference(try buffer.readMQTTString(field: field))
        case .reasonString: return .reasonString(try buffer.readMQTTString(field: field))
        case .receiveMaximum: return .receiveMaximum(try nonZero16())
        case .topicAliasMaximum: return .topicAliasMaximum(try buffer.readMQTTUInt16(field: field))
        case .topicAlias: return .topicAlias(try nonZero16())
        case .maximumQoS: return .maximumQoS(try boolean())
        case .retainAvailable: return .retainAvailable(try boolean())
        case .userProperty:
            let name = try buffer.readMQTTString(field: "user property name")
            return .userProperty(name, try buffer.readMQTTString(field: "user property value"))
        case .maximumPacketSize:
            let v = try buffer.readMQTTUInt32(field: field)
            guard v != 0 else { throw .invalidPropertyValue(id, value: 0) }
            return .maximumPacketSize(v)
        case .wildcardSubscriptionAvailable: return .wildcardSubscriptionAvailable(try boolean())
        case .subscriptionIdentifierAvailable: return .subscriptionIdentifierAvailable(try boolean())
        case .sharedSubscriptionAvailable: return .sharedSubscriptionAvailable(try boolean())
        }
    }
}
