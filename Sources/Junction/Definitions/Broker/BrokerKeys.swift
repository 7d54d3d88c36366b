import MQTTBroker
import MQTTCore
import MQTTTransport

/// The key tables of an `mqtt-broker` definition (a connector, or the file of `junction broker
/// --config`): what ``BrokerDefinition/parse(_:reader:)`` accepts and what `junction schema
/// broker` publishes.
public enum BrokerKeys {
    /// The whole definition.
    public static let broker = DefinitionObject("mqtt-broker connector", "The embedded broker: its listeners, settings, access and bridge.", isFile: true, [
        DefinitionKey("type", .constant("mqtt-broker"), required: true, "The connector's kind."),
        DefinitionKey("description", .string(), "What the broker is for, for people reading it."),
        DefinitionKey("listeners", .array(.object(listener), minItems: 1), "Where clients connect; left out, 127.0.0.1:1883."),
        DefinitionKey("mqtt", .object(mqtt), "The broker's limits and timers."),
        DefinitionKey("acl", .array(.object(aclRule)), "Access rules tried in order, the first match deciding; when there are rules, what none matches is denied."),
        DefinitionKey("bridge", .object(bridge), "Topics forwarded to and from an external broker."),
        DefinitionKey("auth", .object(auth), "Password and access-rule files."),
    ])

    public static let listener = DefinitionObject("Listener", "An address clients connect to.", [
        DefinitionKey("host", .string(), default: .string("127.0.0.1"), "The address to listen on."),
        DefinitionKey("port", .integer(0...65_535), default: .integer(1883), "The TCP port; 0 picks a free one."),
        DefinitionKey("allowAnonymous", .boolean,
                      "Whether clients without a user name may connect; left out, only on a loopback host."),
        DefinitionKey("tls", .object(listenerTLS), "TLS on this listener (with websocket: WSS)."),
        DefinitionKey("websocket", .anyOf([.boolean, .object(webSocket)]), default: .bool(false),
                      "MQTT over WebSocket: true for the path /mqtt, or {\"path\": ...}."),
    ])

    public static let listenerTLS = DefinitionObject("Listener TLS", "The certificate a listener presents and the client certificates it asks for.", [
        DefinitionKey("certificate", .string(), required: true, "PEM file of the server certificate, relative to the definition's folder."),
        DefinitionKey("key", .string(), required: true, "PEM file of the certificate's key."),
        DefinitionKey("ca", .string(), "PEM file of the authorities client certificates are checked against."),
        DefinitionKey("clientCertificates", .choice(ListenerTLS.ClientCertificates.allCases.map(\.rawValue)), default: .string("none"),
                      "Whether clients are asked for a certificate."),
        DefinitionKey("usernameFrom", .choice(ListenerTLS.UsernameSource.allCases.map(\.rawValue)), "The user name taken from the client certificate's common name or subject alternative name."),
    ])

    /// The `tls` of an `http-listener` connector: no user names from certificates.
    public static let httpListenerTLS = listenerTLS.removing(["usernameFrom"], title: "HTTPS listener TLS")

    public static let webSocket = DefinitionObject("WebSocket", "MQTT over WebSocket.", [
        DefinitionKey("path", .string(pattern: "^/[^? ]*$"), default: .string("/mqtt"), "The request path of the HTTP upgrade."),
    ])

    public static let mqtt = DefinitionObject("Broker settings", "The broker's limits and timers.", [
        DefinitionKey("maxPacketSize", .size(1...(mqttMaximumVariableByteInteger + 5)), default: .string("1MB"), "Largest packet accepted from a client."),
        DefinitionKey("maxMqueueLen", .integer(0...10_000_000), default: .integer(1000), "Messages queued per session behind the inflight window."),
        DefinitionKey("retryInterval", .duration, default: .string("30s"), "Unacknowledged QoS 1/2 messages are sent again after this long."),
        DefinitionKey("keepaliveMultiplier", .number(above: 0.5, atMost: 100), default: .double(1.5), "A client silent for keepalive × this is disconnected."),
        DefinitionKey("propertySize", .size(1...mqttMaximumVariableByteInteger), default: .integer(65_536), "Largest total size of the properties of one packet."),
        DefinitionKey("maxInflight", .integer(1...65_535), default: .integer(32), "Outbound QoS 1/2 messages in flight per session."),
        DefinitionKey("maxAwaitingRel", .integer(1...65_535), default: .integer(100), "Inbound QoS 2 messages awaiting PUBREL per session."),
        DefinitionKey("awaitRelTimeout", .duration, default: .string("5m"), "An inbound QoS 2 message whose PUBREL does not come within this is forgotten."),
        DefinitionKey("mqueueStoreQos0", .boolean, default: .bool(true), "Whether QoS 0 messages are queued for offline persistent sessions."),
        DefinitionKey("maxConnections", .integer(0...10_000_000), default: .integer(0), "Concurrent client connections; 0 is unlimited."),
        DefinitionKey("maxKeepalive", .integer(1...65_535), default: .integer(65_535), "Highest keepalive an MQTT 5 client may use."),
        DefinitionKey("topicAliasMaximum", .integer(0...65_535), default: .integer(10), "Topic aliases an MQTT 5 client may use towards the broker."),
        DefinitionKey("maxTopicLevels", .integer(1...65_536), default: .integer(128), "Most levels a topic name or filter may have; a deeper one is refused."),
        DefinitionKey("connectTimeout", .duration, default: .string("10s"), "A socket that has not sent CONNECT within this is closed."),
        DefinitionKey("sysInterval", .anyOf([.constant("off"), .duration]), default: .string("10s"),
                      "How often $SYS statistics are published; \"off\" turns them off."),
        DefinitionKey("durability", .choice(BrokerDurability.allCases.map(\.rawValue)), default: .string("batch"),
                      "How acknowledged QoS 1/2 messages are made durable with a data directory."),
        DefinitionKey("durabilityMaxWait", .duration, default: .string("5ms"), "With batch: the longest a commit waits for its fsync."),
        DefinitionKey("maxSubscriptions", .integer(0...10_000_000), default: .integer(0), "Subscriptions per client; 0 is unlimited."),
        DefinitionKey("maxConnectionRate", .rate, "CONNECTs per address, e.g. \"100/1s\"; left out, unlimited."),
        DefinitionKey("maxMessageRate", .rate, "PUBLISH packets per connection, e.g. \"1000/1s\"; left out, unlimited."),
        DefinitionKey("maxAuthFailures", .integer(0...1_000_000), default: .integer(5),
                      "Failed authentications in a row from one address before it is refused for a while; 0 turns that off."),
        DefinitionKey("authFailureBlock", .duration, default: .string("10s"), "The first refusal window after maxAuthFailures; it doubles with each further failure."),
    ])

    static let aclActions = ["publish", "subscribe", "receive", "all"]

    public static let aclRule = DefinitionObject("Access rule", "Allows or denies actions on topics, for all clients or some.", [
        DefinitionKey("permission", .choice(["allow", "deny"]), required: true, "Whether the rule allows or denies."),
        DefinitionKey("action", .anyOf([.choice(aclActions), .array(.choice(aclActions))]), required: true,
                      "publish, subscribe, receive, all, or a list of them."),
        DefinitionKey("topic", .string(), required: true, "A topic filter; %u is the user name, %c the client id."),
        DefinitionKey("username", .string(), "The rule applies only to this user."),
        DefinitionKey("clientId", .string(), "The rule applies only to this client id."),
    ])

    public static let auth = DefinitionObject("Auth", "Files read at load and at every reload, relative to the definition's folder.", [
        DefinitionKey("passwordFile", .string(), "Users and password hashes, as written by junction passwd."),
        DefinitionKey("aclFile", .string(), "A JSON array of access rules, after those of acl."),
    ])

    public static let bridge = DefinitionObject("Bridge", "Topics forwarded between the embedded broker and an external one.", [
        DefinitionKey("connector", .string(), required: true, "The name of an mqtt connector: the external broker."),
        DefinitionKey("clientId", .string(minLength: 1), "The bridge's client id; left out, junction-bridge-<broker connector>."),
        DefinitionKey("topics", .array(.object(bridgeTopic), minItems: 1), required: true, "The forwarded topics."),
    ])

    public static let bridgeTopic = DefinitionObject("Bridge topic", "One forwarded topic filter.", [
        DefinitionKey("pattern", .string(), required: true, "A topic filter such as \"sensors/#\"."),
        DefinitionKey("direction", .choice(BridgeDefinition.Direction.allCases.map(\.rawValue)), default: .string("out"), "out to the external broker, in from it, or both."),
        DefinitionKey("qos", .integerChoice([0, 1, 2]), default: .integer(1), "The QoS of the bridge's subscriptions and publishes."),
        DefinitionKey("localPrefix", .string(pattern: "^([^+#]*/)?$"), default: .string(""), "Prepended to the pattern on the embedded broker; ends in /."),
        DefinitionKey("remotePrefix", .string(pattern: "^([^+#]*/)?$"), default: .string(""), "Prepended to the pattern on the external broker; ends in /."),
    ])
}
