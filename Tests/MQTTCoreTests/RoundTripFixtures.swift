import MQTTCore
import NIOCore

/// Packets of every type in both protocol versions, for the round-trip tests.
///
/// The MQTT 5 set carries all 27 properties between them, each on a packet (or will) that may
/// carry it; `RoundTripTests.everyPropertyIsCovered` keeps it that way.
enum RoundTripFixtures {
    static let willProperties: MQTTProperties = [
        .willDelayInterval(10),
        .payloadFormatIndicator(.utf8),
        .messageExpiryInterval(3600),
        .contentType("text/plain; charset=utf-8"),
        .responseTopic("clients/c1/replies"),
        .correlationData(bytes([0x00, 0x01, 0xFE, 0xFF])),
        .userProperty("origin", "will"),
        .userProperty("origin", "will"),  // the same pair twice is allowed and kept
    ]

    static let connectProperties: MQTTProperties = [
        .sessionExpiryInterval(0xFFFF_FFFF),
        .receiveMaximum(20),
        .maximumPacketSize(1_048_576),
        .topicAliasMaximum(10),
        .requestResponseInformation(1),
        .requestProblemInformation(0),
        .userProperty("region", "eu"),
        .userProperty("region", "us"),
        .authenticationMethod("SCRAM-SHA-1"),
        .authenticationData(bytes("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL")),
    ]

    static let connackProperties: MQTTProperties = [
        .sessionExpiryInterval(120),
        .receiveMaximum(100),
        .maximumQoS(1),
        .retainAvailable(0),
        .maximumPacketSize(65_536),
        .assignedClientIdentifier("auto-7F3A"),
        .topicAliasMaximum(5),
        .reasonString("welcome"),
        .userProperty("k", "v1"),
        .userProperty("k", "v2"),
        .wildcardSubscriptionAvailable(1),
        .subscriptionIdentifierAvailable(1),
        .sharedSubscriptionAvailable(0),
        .serverKeepAlive(45),
        .responseInformation("responses/"),
        .serverReference("broker-2.example:1883"),
        .authenticationMethod("SCRAM-SHA-1"),
        .authenticationData(bytes("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=")),
    ]

    static let publishProperties: MQTTProperties = [
        .payloadFormatIndicator(.bytes),
        .messageExpiryInterval(60),
        .topicAlias(3),
        .responseTopic("reply/here"),
        .correlationData(bytes("req-42")),
        .userProperty("a", "1"),
        .userProperty("a", "2"),
        .subscriptionIdentifier(1),
        .subscriptionIdentifier(268_435_455),  // repeated, and the largest value (4-byte VBI)
        .contentType("application/json"),
    ]

    static let v5: [VersionedPacket] = [
        VersionedPacket("CONNECT full", .v5, .connect(MQTTConnectPacket(
            protocolVersion: .v5, clientIdentifier: "client-1", cleanStart: false, keepAlive: 30,
            username: "alice", password: bytes([0x00, 0x70, 0x77, 0xFF]),
            will: MQTTWill(topic: "clients/client-1/status", payload: bytes("offline"), qos: .exactlyOnce,
                           retain: true, properties: willProperties),
            properties: connectProperties))),
        VersionedPacket("CONNECT minimal", .v5, .connect(MQTTConnectPacket(protocolVersion: .v5, clientIdentifier: ""))),
        VersionedPacket("CONNECT password only", .v5, .connect(MQTTConnectPacket(
            protocolVersion: .v5, clientIdentifier: "c", keepAlive: 0, password: bytes("token")))),
        VersionedPacket("CONNECT will QoS 1 no properties", .v5, .connect(MQTTConnectPacket(
            protocolVersion: .v5, clientIdentifier: "c", username: "u",
            will: MQTTWill(topic: "w", payload: ByteBuffer(), qos: .atLeastOnce)))),
        VersionedPacket("CONNACK all properties", .v5, .connack(MQTTConnAckPacket(properties: connackProperties))),
        VersionedPacket("CONNACK session present", .v5, .connack(MQTTConnAckPacket(sessionPresent: true))),
        VersionedPacket("CONNACK not authorized", .v5, .connack(MQTTConnAckPacket(
            reasonCode: .notAuthorized, properties: [.reasonString("no ACL entry")]))),
        VersionedPacket("CONNACK bad auth method", .v5, .connack(MQTTConnAckPacket(reasonCode: .badAuthenticationMethod))),
        VersionedPacket("PUBLISH QoS 0", .v5, .publish(MQTTPublishPacket(topic: "a/b", payload: bytes("hello")))),
        VersionedPacket("PUBLISH QoS 1 all properties", .v5, .publish(MQTTPublishPacket(
            topic: "sensors/t1", payload: bytes([0xDE, 0xAD, 0xBE, 0xEF]), qos: .atLeastOnce, retain: true,
            dup: true, packetIdentifier: 1, properties: publishProperties))),
        VersionedPacket("PUBLISH QoS 2 alias only", .v5, .publish(MQTTPublishPacket(
            topic: "", payload: ByteBuffer(), qos: .exactlyOnce, packetIdentifier: 0xFFFF, properties: [.topicAlias(7)]))),
        VersionedPacket("PUBLISH 20000-byte payload", .v5, .publish(MQTTPublishPacket(
            topic: "big", payload: ByteBuffer(repeating: 0xA5, count: 20_000), qos: .atLeastOnce, packetIdentifier: 9))),
        VersionedPacket("PUBACK success", .v5, .puback(MQTTPublishAckPacket(packetIdentifier: 1))),
        VersionedPacket("PUBACK no matching subscribers", .v5, .puback(MQTTPublishAckPacket(
            packetIdentifier: 2, reasonCode: .noMatchingSubscribers))),
        VersionedPacket("PUBACK quota exceeded", .v5, .puback(MQTTPublishAckPacket(
            packetIdentifier: 3, reasonCode: .quotaExceeded,
            properties: [.reasonString("quota"), .userProperty("x", "1"), .userProperty("x", "2")]))),
        VersionedPacket("PUBACK success with reason string", .v5, .puback(MQTTPublishAckPacket(
            packetIdentifier: 4, properties: [.reasonString("ok")]))),
        VersionedPacket("PUBREC payload format invalid", .v5, .pubrec(MQTTPublishAckPacket(
            packetIdentifier: 5, reasonCode: .payloadFormatInvalid, properties: [.reasonString("not UTF-8")]))),
        VersionedPacket("PUBREC success", .v5, .pubrec(MQTTPublishAckPacket(packetIdentifier: 6))),
        VersionedPacket("PUBREL not found", .v5, .pubrel(MQTTPublishAckPacket(
            packetIdentifier: 7, reasonCode: .packetIdentifierNotFound, properties: [.reasonString("unknown id")]))),
        VersionedPacket("PUBREL success", .v5, .pubrel(MQTTPublishAckPacket(packetIdentifier: 8))),
        VersionedPacket("PUBCOMP not found", .v5, .pubcomp(MQTTPublishAckPacket(
            packetIdentifier: 9, reasonCode: .packetIdentifierNotFound))),
        VersionedPacket("PUBCOMP reason string", .v5, .pubcomp(MQTTPublishAckPacket(
            packetIdentifier: 10, reasonCode: .packetIdentifierNotFound,
            properties: [.reasonString("gone"), .userProperty("n", "v")]))),
        VersionedPacket("SUBSCRIBE options", .v5, .subscribe(MQTTSubscribePacket(packetIdentifier: 11, subscriptions: [
            MQTTSubscription(topicFilter: "a/+/c", qos: .exactlyOnce, noLocal: true, retainAsPublished: true,
                             retainHandling: .doNotSend),
            MQTTSubscription(topicFilter: "#", qos: .atMostOnce, retainHandling: .sendOnNewSubscribe),
            MQTTSubscription(topicFilter: "$share/g/x", qos: .atLeastOnce),
        ], properties: [.subscriptionIdentifier(42), .userProperty("s", "1"), .userProperty("s", "2")]))),
        VersionedPacket("SUBACK mixed", .v5, .suback(MQTTSubAckPacket(packetIdentifier: 11, reasonCodes: [
            .grantedQoS0, .grantedQoS1, .grantedQoS2, .unspecifiedError, .notAuthorized, .topicFilterInvalid,
            .sharedSubscriptionsNotSupported, .subscriptionIdentifiersNotSupported, .wildcardSubscriptionsNotSupported,
        ], properties: [.reasonString("partly refused"), .userProperty("u", "p")]))),
        VersionedPacket("UNSUBSCRIBE", .v5, .unsubscribe(MQTTUnsubscribePacket(
            packetIdentifier: 12, topicFilters: ["a/+/c", "#"], properties: [.userProperty("u", "1"), .userProperty("u", "1")]))),
        VersionedPacket("UNSUBACK mixed", .v5, .unsuback(MQTTSubAckPacket(packetIdentifier: 12, reasonCodes: [
            .success, .noSubscriptionExisted, .notAuthorized, .topicFilterInvalid,
        ], properties: [.reasonString("see codes")]))),
        VersionedPacket("PINGREQ", .v5, .pingreq),
        VersionedPacket("PINGRESP", .v5, .pingresp),
        VersionedPacket("DISCONNECT normal", .v5, .disconnect(MQTTDisconnectPacket())),
        VersionedPacket("DISCONNECT with will", .v5, .disconnect(MQTTDisconnectPacket(reasonCode: .disconnectWithWillMessage))),
        VersionedPacket("DISCONNECT session expiry", .v5, .disconnect(MQTTDisconnectPacket(properties: [.sessionExpiryInterval(0)]))),
        VersionedPacket("DISCONNECT use another server", .v5, .disconnect(MQTTDisconnectPacket(
            reasonCode: .useAnotherServer,
            properties: [.serverReference("b:1883"), .reasonString("maintenance"), .userProperty("a", "b")]))),
        VersionedPacket("AUTH empty", .v5, .auth(MQTTAuthPacket())),
        VersionedPacket("AUTH continue", .v5, .auth(MQTTAuthPacket(reasonCode: .continueAuthentication, properties: [
            .authenticationMethod("SCRAM-SHA-1"), .authenticationData(bytes("c=biws,r=fyko")),
            .reasonString("step 2"), .userProperty("step", "2"),
        ]))),
        VersionedPacket("AUTH re-authenticate", .v5, .auth(MQTTAuthPacket(
            reasonCode: .reAuthenticate, properties: [.authenticationMethod("SCRAM-SHA-1")]))),
    ]

    static let v311: [VersionedPacket] = [
        VersionedPacket("CONNECT full", .v311, .connect(MQTTConnectPacket(
            protocolVersion: .v311, clientIdentifier: "client-1", cleanStart: false, keepAlive: 0xFFFF,
            username: "alice", password: bytes([0x00, 0xFF]),
            will: MQTTWill(topic: "clients/client-1/status", payload: bytes("offline"), qos: .atLeastOnce, retain: true)))),
        VersionedPacket("CONNECT minimal", .v311, .connect(MQTTConnectPacket(protocolVersion: .v311, clientIdentifier: ""))),
        VersionedPacket("CONNECT user only", .v311, .connect(MQTTConnectPacket(
            protocolVersion: .v311, clientIdentifier: "c", username: "u"))),
        VersionedPacket("CONNECT will QoS 2", .v311, .connect(MQTTConnectPacket(
            protocolVersion: .v311, clientIdentifier: "c", will: MQTTWill(topic: "w/x", payload: bytes("bye"), qos: .exactlyOnce)))),
        VersionedPacket("CONNACK session present", .v311, .connack(MQTTConnAckPacket(sessionPresent: true))),
        VersionedPacket("CONNACK 1 unacceptable protocol version", .v311, .connack(MQTTConnAckPacket(reasonCode: .unsupportedProtocolVersion))),
        VersionedPacket("CONNACK 2 identifier rejected", .v311, .connack(MQTTConnAckPacket(reasonCode: .clientIdentifierNotValid))),
        VersionedPacket("CONNACK 3 server unavailable", .v311, .connack(MQTTConnAckPacket(reasonCode: .serverUnavailable))),
        VersionedPacket("CONNACK 4 bad user name or password", .v311, .connack(MQTTConnAckPacket(reasonCode: .badUserNameOrPassword))),
        VersionedPacket("CONNACK 5 not authorized", .v311, .connack(MQTTConnAckPacket(reasonCode: .notAuthorized))),
        VersionedPacket("PUBLISH QoS 0", .v311, .publish(MQTTPublishPacket(topic: "a/b", payload: bytes("hello")))),
        VersionedPacket("PUBLISH QoS 1 dup retain", .v311, .publish(MQTTPublishPacket(
            topic: "a", payload: ByteBuffer(), qos: .atLeastOnce, retain: true, dup: true, packetIdentifier: 1))),
        VersionedPacket("PUBLISH QoS 2 200 bytes", .v311, .publish(MQTTPublishPacket(
            topic: "x/y/z", payload: ByteBuffer(repeating: 7, count: 200), qos: .exactlyOnce, packetIdentifier: 0xFFFF))),
        VersionedPacket("PUBACK", .v311, .puback(MQTTPublishAckPacket(packetIdentifier: 1))),
        VersionedPacket("PUBREC", .v311, .pubrec(MQTTPublishAckPacket(packetIdentifier: 2))),
        VersionedPacket("PUBREL", .v311, .pubrel(MQTTPublishAckPacket(packetIdentifier: 3))),
        VersionedPacket("PUBCOMP", .v311, .pubcomp(MQTTPublishAckPacket(packetIdentifier: 4))),
        VersionedPacket("SUBSCRIBE", .v311, .subscribe(MQTTSubscribePacket(packetIdentifier: 5, subscriptions: [
            MQTTSubscription(topicFilter: "a/+", qos: .atMostOnce),
            MQTTSubscription(topicFilter: "b/#", qos: .atLeastOnce),
            MQTTSubscription(topicFilter: "c", qos: .exactlyOnce),
        ]))),
        VersionedPacket("SUBACK", .v311, .suback(MQTTSubAckPacket(packetIdentifier: 5, reasonCodes: [
            .grantedQoS0, .grantedQoS1, .grantedQoS2, .unspecifiedError,
        ]))),
        VersionedPacket("UNSUBSCRIBE", .v311, .unsubscribe(MQTTUnsubscribePacket(packetIdentifier: 6, topicFilters: ["a/+", "b/#"]))),
        VersionedPacket("UNSUBACK", .v311, .unsuback(MQTTSubAckPacket(packetIdentifier: 6, reasonCodes: []))),
        VersionedPacket("PINGREQ", .v311, .pingreq),
        VersionedPacket("PINGRESP", .v311, .pingresp),
        VersionedPacket("DISCONNECT", .v311, .disconnect(MQTTDisconnectPacket())),
    ]

    static let all = v5 + v311
}
