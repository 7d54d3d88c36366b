/// The key tables of connector definitions: what ``ConnectorDefinition/parse(name:_:reader:)``
/// accepts and what `junction schema connector` publishes. A connector file's `type` says
/// which table applies.
public enum ConnectorKeys {
    /// Every `type` and its table, in the order the loader lists them.
    public static let kinds: [(type: String, table: DefinitionObject)] = [
        ("mqtt-broker", BrokerKeys.broker),
        ("mqtt", mqtt),
        ("http", http),
        ("http-listener", httpListener),
        ("file", file),
    ]

    static func type(_ name: String) -> DefinitionKey {
        DefinitionKey("type", .constant(name), required: true, "The connector's kind.")
    }

    static let description = DefinitionKey("description", .string(), "What the connector is, for people reading it.")

    public static let mqtt = DefinitionObject("mqtt connector", "An external MQTT broker, reached with the MQTT client.", isFile: true,
                                               oneRequired: ["url", "urls"], [
        type("mqtt"),
        description,
        DefinitionKey("url", .string(pattern: "^(mqtt|mqtts|ws|wss)://"), "The broker, e.g. \"mqtt://broker.example:1883\"; url or urls is required."),
        DefinitionKey("urls", .array(.string(pattern: "^(mqtt|mqtts|ws|wss)://")), "Brokers tried in turn (failover), after url if both are given."),
        DefinitionKey("clientId", .string(), "The client id; left out, junction-<connector name>."),
        DefinitionKey("protocolVersion", .anyOf([.choice(["3.1.1", "5", "5.0"]), .integerChoice([4, 5])]), default: .string("5"),
                      "MQTT \"3.1.1\" or \"5\"."),
        DefinitionKey("username", .secret, "The user name; ${env:NAME} and ${file:PATH} are resolved."),
        DefinitionKey("password", .secret, "The password; ${env:NAME} and ${file:PATH} are resolved."),
        DefinitionKey("keepAlive", .duration, default: .string("60s"), "The keep-alive interval, at most 65535s."),
        DefinitionKey("sessionExpiry", .duration, default: .string("1h"), "How long the broker keeps the session after a disconnect."),
        DefinitionKey("tls", .object(tls), "TLS for mqtts:// and wss:// urls."),
        DefinitionKey(StoreAndForwardDefinition.connectorKey, .anyOf([.boolean, .object(storeAndForward)]), default: .bool(true),
                      "The durable outbox of sends to this broker: true, false, or its limits."),
    ])

    public static let tls = DefinitionObject("TLS", "TLS files and verification of an outbound connection.", [
        DefinitionKey("caFile", .string(), "PEM file of the certificate authorities to trust, relative to the definition's folder."),
        DefinitionKey("certFile", .string(), "PEM file of the client certificate; goes with keyFile."),
        DefinitionKey("keyFile", .string(), "PEM file of the client certificate's key; goes with certFile."),
        DefinitionKey("verify", .boolean, default: .bool(true), "Check the peer's certificate and host name."),
    ])

    public static let storeAndForward = DefinitionObject("Store and forward", "The limits of the durable outbox.", [
        DefinitionKey("maxMessages", .integer(1...100_000_000), default: .integer(100_000), "Messages the outbox holds."),
        DefinitionKey("maxBytes", .size(1024...(1 << 40)), default: .string("100MB"), "Bytes the outbox holds."),
        DefinitionKey("whenFull", .choice(StoreAndForwardDefinition.WhenFull.allCases.map(\.rawValue)), default: .string("block"),
                      "A send to a full outbox waits (block) or fails to the dead letter (deadLetter)."),
    ])

    public static let http = DefinitionObject("http connector", "Outbound HTTP.", isFile: true, [
        type("http"),
        description,
        DefinitionKey("baseUrl", .string(pattern: "^https?://"), required: true, "The URL send paths are appended to, e.g. \"https://api.example.com\"."),
        DefinitionKey("method", .choice(HTTPMethod.allowed), default: .string("POST"), "The HTTP method of a send that names none."),
        DefinitionKey("headers", .map(.secret), "Headers of every request; values may hold ${env:NAME} and ${file:PATH}."),
        DefinitionKey("timeout", .duration, default: .string("30s"), "How long a request may take."),
        DefinitionKey("retries", .integer(0...100), default: .integer(0), "Retries of a failed request."),
        DefinitionKey("tls", .object(tls), "TLS for https:// URLs."),
    ])

    public static let httpListener = DefinitionObject("http-listener connector", "Inbound HTTP.", isFile: true, [
        type("http-listener"),
        description,
        DefinitionKey("host", .string(), default: .string("127.0.0.1"), "The address to listen on."),
        DefinitionKey("port", .integer(0...65_535), required: true, "The TCP port to listen on."),
        DefinitionKey("token", .secret, "A bearer token every request must carry; ${env:NAME} and ${file:PATH} are resolved."),
        DefinitionKey("tls", .object(BrokerKeys.httpListenerTLS), "HTTPS: certificate, key, and optionally client certificates."),
    ])

    public static let file = DefinitionObject("file connector", "A folder files are read from or written to.", isFile: true, [
        type("file"),
        description,
        DefinitionKey("directory", .string(minLength: 1), required: true,
                      "The folder, relative to the daemon's working directory."),
    ])
}
