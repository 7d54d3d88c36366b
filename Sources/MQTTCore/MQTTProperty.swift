import NIOCore

/// One MQTT 5 property (MQTT 5 §2.2.2.2).
///
/// Every property of the specification, with its value type. Which packet may carry which
/// property is ``MQTTProperty/Identifier/isAllowed(in:)``; only User Property (and Subscription
/// Identifier in a PUBLISH) may appear more than once.
public enum MQTTProperty: Sendable, Hashable {
    /// 0x01, PUBLISH and will: 0 unspecified bytes, 1 UTF-8 text.
    case payloadFormatIndicator(MQTTPayloadFormat)
    /// 0x02, PUBLISH and will: lifetime in seconds.
    case messageExpiryInterval(UInt32)
    /// 0x03, PUBLISH and will: MIME type of the payload.
    case contentType(String)
    /// 0x08, PUBLISH and will: topic for a response.
    case responseTopic(String)
    /// 0x09, PUBLISH and will: identifies the request a response belongs to.
    case correlationData(ByteBuffer)
    /// 0x0B, PUBLISH (repeatable) and SUBSCRIBE: 1 to 268,435,455.
    case subscriptionIdentifier(UInt32)
    /// 0x11, CONNECT, CONNACK, DISCONNECT: seconds the session outlives the connection.
    case sessionExpiryInterval(UInt32)
    /// 0x12, CONNACK: the client id the server assigned.
    case assignedClientIdentifier(String)
    /// 0x13, CONNACK: the keepalive the server imposes.
    case serverKeepAlive(UInt16)
    /// 0x15, CONNECT, CONNACK, AUTH: enhanced authentication method.
    case authenticationMethod(String)
    /// 0x16, CONNECT, CONNACK, AUTH: enhanced authentication data.
    case authenticationData(ByteBuffer)
    /// 0x17, CONNECT: 0 or 1.
    case requestProblemInformation(UInt8)
    /// 0x18, will: seconds the server waits before publishing the will.
    case willDelayInterval(UInt32)
    /// 0x19, CONNECT: 0 or 1.
    case requestResponseInformation(UInt8)
    /// 0x1A, CONNACK: basis for response topics.
    case responseInformation(String)
    /// 0x1C, CONNACK, DISCONNECT: another server to use.
    case serverReference(String)
    /// 0x1F, every acknowledgement, DISCONNECT, AUTH: human readable diagnostics.
    case reasonString(String)
    /// 0x21, CONNECT, CONNACK: concurrent QoS 1/2 publishes accepted (not 0).
    case receiveMaximum(UInt16)
    /// 0x22, CONNECT, CONNACK: highest topic alias accepted.
    case topicAliasMaximum(UInt16)
    /// 0x23, PUBLISH: topic alias (not 0).
    case topicAlias(UInt16)
    /// 0x24, CONNACK: 0 or 1.
    case maximumQoS(UInt8)
    /// 0x25, CONNACK: 0 or 1.
    case retainAvailable(UInt8)
    /// 0x26, all but PINGREQ/PINGRESP: a name/value pair; repeatable, order kept.
    case userProperty(String, String)
    /// 0x27, CONNECT, CONNACK: largest packet accepted (not 0).
    case maximumPacketSize(UInt32)
    /// 0x28, CONNACK: 0 or 1.
    case wildcardSubscriptionAvailable(UInt8)
    /// 0x29, CONNACK: 0 or 1.
    case subscriptionIdentifierAvailable(UInt8)
    /// 0x2A, CONNACK: 0 or 1.
    case sharedSubscriptionAvailable(UInt8)

    /// Property identifiers (MQTT 5 §2.2.2.2, table 2-4).
    public enum Identifier: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        case payloadFormatIndicator = 0x01, messageExpiryInterval = 0x02, contentType = 0x03
        case responseTopic = 0x08, correlationData = 0x09, subscriptionIdentifier = 0x0B
        case sessionExpiryInterval = 0x11, assignedClientIdentifier = 0x12, serverKeepAlive = 0x13
        case authenticationMethod = 0x15, authenticationData = 0x16, requestProblemInformation = 0x17
        case willDelayInterval = 0x18, requestResponseInformation = 0x19, responseInformation = 0x1A
        case serverReference = 0x1C, reasonString = 0x1F, receiveMaximum = 0x21
        case topicAliasMaximum = 0x22, topicAlias = 0x23, maximumQoS = 0x24, retainAvailable = 0x25
        case userProperty = 0x26, maximumPacketSize = 0x27, wildcardSubscriptionAvailable = 0x28
        case subscriptionIdentifierAvailable = 0x29, sharedSubscriptionAvailable = 0x2A

        public var description: String { "\(name)(0x\(String(rawValue, radix: 16, uppercase: true)))" }

        /// The case name; `"\(self)"` inside `description` would call `description` again.
        private var name: String {
            switch self {
            case .payloadFormatIndicator: "payloadFormatIndicator"
            case .messageExpiryInterval: "messageExpiryInterval"
            case .contentType: "contentType"
            case .responseTopic: "responseTopic"
            case .correlationData: "correlationData"
            case .subscriptionIdentifier: "subscriptionIdentifier"
            case .sessionExpiryInterval: "sessionExpiryInterval"
            case .assignedClientIdentifier: "assignedClientIdentifier"
            case .serverKeepAlive: "serverKeepAlive"
            case .authenticationMethod: "authenticationMethod"
            case .authenticationData: "authenticationData"
            case .requestProblemInformation: "requestProblemInformation"
            case .willDelayInterval: "willDelayInterval"
            case .requestResponseInformation: "requestResponseInformation"
            case .responseInformation: "responseInformation"
            case .serverReference: "serverReference"
            case .reasonString: "reasonString"
            case .receiveMaximum: "receiveMaximum"
            case .topicAliasMaximum: "topicAliasMaximum"
            case .topicAlias: "topicAlias"
            case .maximumQoS: "maximumQoS"
            case .retainAvailable: "retainAvailable"
            case .userProperty: "userProperty"
            case .maximumPacketSize: "maximumPacketSize"
            case .wildcardSubscriptionAvailable: "wildcardSubscriptionAvailable"
            case .subscriptionIdentifierAvailable: "subscriptionIdentifierAvailable"
            case .sharedSubscriptionAvailable: "sharedSubscriptionAvailable"
            }
        }

        /// Where a property may appear: a packet type, or a will (`nil`).
        public func isAllowed(in context: MQTTPropertyContext) -> Bool {
            switch self {
            case .payloadFormatIndicator, .messageExpiryInterval, .contentType, .responseTopic, .correlationData:
                context == .publish || context == .will
            case .subscriptionIdentifier: context == .publish || context == .subscribe
            case .sessionExpiryInterval: context == .connect || context == .connack || context == .disconnect
            case .assignedClientIdentifier, .serverKeepAlive, .responseInformation, .maximumQoS, .retainAvailable,
                .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable, .sharedSubscriptionAvailable:
                context == .connack
            case .authenticationMethod, .authenticationData: context == .connect || context == .connack || context == .auth
            case .requestProblemInformation, .requestResponseInformation: context == .connect
            case .willDelayInterval: context == .will
            case .serverReference: context == .connack || context == .disconnect
            case .reasonString:
                switch context {
                case .connack, .puback, .pubrec, .pubrel, .pubcomp, .suback, .unsuback, .disconnect, .auth: true
                default: false
                }
            case .receiveMaximum, .topicAliasMaximum, .maximumPacketSize: context == .connect || context == .connack
            case .topicAlias: context == .publish
            case .userProperty: true
            }
        }

        /// Whether the property may appear more than once in one property list.
        public func mayRepeat(in context: MQTTPropertyContext) -> Bool {
            self == .userProperty || (self == .subscriptionIdentifier && context == .publish)
        }
    }

    /// This property's identifier.
    public var identifier: Identifier {
        switch self {
        case .payloadFormatIndicator: .payloadFormatIndicator
        case .messageExpiryInterval: .messageExpiryInterval
        case .contentType: .contentType
        case .responseTopic: .responseTopic
        case .correlationData: .correlationData
        case .subscriptionIdentifier: .subscriptionIdentifier
        case .sessionExpiryInterval: .sessionExpiryInterval
        case .assignedClientIdentifier: .assignedClientIdentifier
        case .serverKeepAlive: .serverKeepAlive
        case .authenticationMethod: .authenticationMethod
        case .authenticationData: .authenticationData
        case .requestProblemInformation: .requestProblemInformation
        case .willDelayInterval: .willDelayInterval
        case .requestResponseInformation: .requestResponseInformation
        case .responseInformation: .responseInformation
        case .serverReference: .serverReference
        case .reasonString: .reasonString
        case .receiveMaximum: .receiveMaximum
        case .topicAliasMaximum: .topicAliasMaximum
        case .topicAlias: .topicAlias
        case .maximumQoS: .maximumQoS
        case .retainAvailable: .retainAvailable
        case .userProperty: .userProperty
        case .maximumPacketSize: .maximumPacketSize
        case .wildcardSubscriptionAvailable: .wildcardSubscriptionAvailable
        case .subscriptionIdentifierAvailable: .subscriptionIdentifierAvailable
        case .sharedSubscriptionAvailable: .sharedSubscriptionAvailable
        }
    }
}

/// Where a property list stands: the packet that carries it, or a CONNECT's will.
public enum MQTTPropertyContext: Sendable, Hashable, CustomStringConvertible {
    case connect, connack, publish, puback, pubrec, pubrel, pubcomp
    case subscribe, suback, unsubscribe, unsuback, disconnect, auth, will

    init(_ type: MQTTPacketType) {
        switch type {
        case .connect: self = .connect
        case .connack: self = .connack
        case .publish: self = .publish
        case .puback: self = .puback
        case .pubrec: self = .pubrec
        case .pubrel: self = .pubrel
        case .pubcomp: self = .pubcomp
        case .subscribe: self = .subscribe
        case .suback: self = .suback
        case .unsubscribe: self = .unsubscribe
        case .unsuback: self = .unsuback
        case .disconnect: self = .disconnect
        case .auth: self = .auth
        case .pingreq, .pingresp: preconditionFailure("PINGREQ and PINGRESP carry no properties")
        }
    }

    public var description: String {
        switch self {
        case .will: "will properties"
        case .connect: MQTTPacketType.connect.description
        case .connack: MQTTPacketType.connack.description
        case .publish: MQTTPacketType.publish.description
        case .puback: MQTTPacketType.puback.description
        case .pubrec: MQTTPacketType.pubrec.description
        case .pubrel: MQTTPacketType.pubrel.description
        case .pubcomp: MQTTPacketType.pubcomp.description
        case .subscribe: MQTTPacketType.subscribe.description
        case .suback: MQTTPacketType.suback.description
        case .unsubscribe: MQTTPacketType.unsubscribe.description
        case .unsuback: MQTTPacketType.unsuback.description
        case .disconnect: MQTTPacketType.disconnect.description
        case .auth: MQTTPacketType.auth.description
        }
    }
}

/// The Payload Format Indicator of a PUBLISH or will.
public enum MQTTPayloadFormat: UInt8, Sendable, Hashable {
    /// Unspecified bytes.
    case bytes = 0
    /// UTF-8 encoded character data.
    case utf8 = 1
}
