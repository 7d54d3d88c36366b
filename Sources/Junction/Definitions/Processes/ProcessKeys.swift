import MQTTCore

/// The key tables of a process definition: what ``ProcessParser`` accepts and what
/// `junction schema process` publishes.
public enum ProcessKeys {
    /// A whole `Processes/<name>.json` file.
    public static let process = DefinitionObject("Process", "A process: where documents come from, the steps they go through, and what happens on error.", isFile: true, [
        DefinitionKey("description", .string(), "What the process does, for people reading it."),
        DefinitionKey("listen", .anyOf([.object(mqttListen), .object(httpListen), .object(fileListen)]), required: true,
                      "Where the process starts: an mqtt-broker or mqtt connector (a topic), an http-listener (a path) or a file connector (a folder)."),
        DefinitionKey("steps", .array(.reference(stepReference)), "The steps each document goes through, in order."),
        DefinitionKey("caches", .map(.object(cache)), "Named caches that steps and the caching option of an operation fill and read."),
        DefinitionKey("onError", .object(onError), "Retries with backoff, then a dead letter."),
        DefinitionKey("maxInFlight", .integer(1...65_535), default: .integer(16), "Documents in progress at once."),
    ])

    // MARK: Operation options

    static let options: [DefinitionKey] = [
        DefinitionKey("archiving", .object(archiving), "A copy of each document written to a folder."),
        DefinitionKey("tracking", .map(.template), "Named fields recorded per document in the tracking log, each a template."),
        DefinitionKey("caching", .object(caching), "Puts each document into a named cache under a key."),
    ]
    /// The option keys every Listen and Send carries.
    static let optionNames: Set<String> = Set(options.map(\.name))

    public static let archiving = DefinitionObject("Archiving", "A copy of each document written to a folder.", [
        DefinitionKey("directory", .string(), required: true, "The folder archived documents go to."),
        DefinitionKey("retention", .duration, "Files older than this are removed; left out, every file is kept."),
    ])

    public static let caching = DefinitionObject("Caching", "A document put into a named cache under a key.", [
        DefinitionKey("cache", .string(), required: true, "The name of a cache declared under \"caches\"."),
        DefinitionKey("key", .template, required: true, "The cache key, a template."),
    ])

    public static let cache = DefinitionObject("Cache", "A named cache of documents.", [
        DefinitionKey("ttl", .duration, "How long an entry lives; left out, entries do not expire."),
        DefinitionKey("maxEntries", .integer(1...10_000_000), default: .integer(10_000), "Entries kept; the oldest go first."),
        DefinitionKey("persist", .boolean, default: .bool(false), "Keep the cache on disk across restarts."),
    ])

    // MARK: Listen

    static let listenConnector = DefinitionKey("connector", .string(), required: true, "The connector the process starts from.")

    public static let mqttListen = DefinitionObject("MQTT listen", "Listen on an mqtt-broker or mqtt connector: a subscription.", [
        listenConnector,
        DefinitionKey("topic", .string(minLength: 1), required: true, "A topic filter, + and # allowed as whole levels."),
        DefinitionKey("qos", .integerChoice([0, 1, 2]), default: .integer(1), "The subscription's maximum QoS."),
        DefinitionKey("shared", .string(pattern: "^[^/+#]+$"), "A share group: subscribes as $share/<group>/<topic>."),
        DefinitionKey("noLocal", .boolean, default: .bool(false), "MQTT 5 No Local: messages this connection published are not delivered back."),
        DefinitionKey("retainAsPublished", .boolean, default: .bool(false), "MQTT 5 Retain As Published: the retain flag stays as published."),
        DefinitionKey("retainHandling", .integerChoice([0, 1, 2]), default: .integer(0),
                      "MQTT 5 Retain Handling: 0 retained messages on subscribe, 1 only on a new subscription, 2 none."),
    ] + options)

    public static let httpListen = DefinitionObject("HTTP listen", "Listen on an http-listener connector: requests to one path.", [
        listenConnector,
        DefinitionKey("path", .string(pattern: "^/"), required: true, "The URL path, starting with /, e.g. \"/ingest\"."),
        DefinitionKey("method", .choice(HTTPMethod.allowed), default: .string("POST"), "The HTTP method the path answers."),
    ] + options)

    public static let fileListen = DefinitionObject("File listen", "Listen on a file connector: files appearing in its folder.", [
        listenConnector,
        DefinitionKey("glob", .string(pattern: "^[^/]+$"), default: .string("*"), "A file name pattern such as \"*.json\"."),
        DefinitionKey("poll", .duration, default: .string("1s"), "How often the folder is looked at (at least 10ms)."),
    ] + options)

    // MARK: Send

    static let sendConnector = DefinitionKey("connector", .string(), required: true, "The connector the document is sent to.")

    public static let mqttSend = DefinitionObject("MQTT send", "Send to an mqtt-broker or mqtt connector: a publish.", [
        sendConnector,
        DefinitionKey("topic", .template, required: true, "The topic to publish to, a template; no + or #."),
        DefinitionKey("qos", .integerChoice([0, 1, 2]), default: .integer(1), "The publish's QoS."),
        DefinitionKey("retain", .boolean, default: .bool(false), "Publish as a retained message."),
        DefinitionKey("userProperties", .map(.template), "MQTT 5 user properties, each value a template."),
        DefinitionKey("maxMessageSize", .size(1...mqttMaximumVariableByteInteger), default: .string("1MB"),
                      "A larger payload fails the send."),
    ] + options)

    public static let httpSend = DefinitionObject("HTTP send", "Send to an http connector: a request with the payload as body.", [
        sendConnector,
        DefinitionKey("path", .template, "Appended to the connector's baseUrl, a template."),
        DefinitionKey("method", .choice(HTTPMethod.allowed), "The HTTP method; left out, the connector's."),
        DefinitionKey("headers", .map(.template), "Request headers, each value a template."),
    ] + options)

    public static let fileSend = DefinitionObject("File send", "Send to a file connector: the payload written to a file in its folder.", [
        sendConnector,
        DefinitionKey("name", .template, required: true, "The file name, a template, e.g. \"{{id}}.json\"."),
        DefinitionKey("mode", .choice(["overwrite", "append"]), default: .string("overwrite"), "Replace the file, or append the payload to it."),
    ] + options)

    // MARK: Steps

    /// The name steps are defined under in the schema (they nest in `route`).
    public static let stepReference = "step"
    /// The name conditions are defined under in the schema (they nest in `all`, `any`, `not`).
    public static let conditionReference = "condition"

    /// A step: an object with exactly one of these keys.
    public static let step = DefinitionObject("Step", "One step of a process: an object with exactly one key, the step's kind.", shape: .exactlyOne, [
        DefinitionKey("send", .anyOf([.object(mqttSend), .object(httpSend), .object(fileSend)]),
                      "Sends the document; the connector's kind decides which keys apply."),
        DefinitionKey("set", .map(.template), "Sets document properties, each from a template."),
        DefinitionKey("map", .any, "Replaces the payload by a JSON document built from a template tree."),
        DefinitionKey("route", .object(route), "The first case whose condition holds runs its steps; else otherwise."),
        DefinitionKey("filter", .reference(conditionReference), "Documents that do not satisfy the condition stop here."),
        DefinitionKey("cache", .object(caching), "Puts the document into a named cache under a key."),
        DefinitionKey("lookup", .object(lookup), "Reads a cache entry into a property or the payload."),
        DefinitionKey("split", .object(split), "A JSON array becomes one document per element."),
        DefinitionKey("reply", .object(reply), "The HTTP reply of an http-listener process."),
    ])

    public static let route = DefinitionObject("Route", "Conditional steps.", [
        DefinitionKey("cases", .array(.object(routeCase)), required: true, "Conditions tried in order, each with its steps."),
        DefinitionKey("otherwise", .array(.reference(stepReference)), "The steps of a document no case matched."),
    ])

    public static let routeCase = DefinitionObject("Route case", "A condition and the steps it selects.", [
        DefinitionKey("when", .reference(conditionReference), required: true, "The condition."),
        DefinitionKey("steps", .array(.reference(stepReference)), "The steps of a document the condition holds for."),
    ])

    public static let lookup = DefinitionObject("Lookup", "A cache entry read into the document.", [
        DefinitionKey("cache", .string(), required: true, "The name of a cache declared under \"caches\"."),
        DefinitionKey("key", .template, required: true, "The cache key, a template."),
        DefinitionKey("into", .string(pattern: "^(payload|properties\\..+)$"),
                      "\"payload\" or \"properties.<name>\"; left out, properties.<cache>."),
    ])

    public static let split = DefinitionObject("Split", "A JSON array split into documents.", [
        DefinitionKey("field", .string(), "The field holding the array, e.g. \"payload.items\"; left out, the payload."),
    ])

    public static let reply = DefinitionObject("Reply", "The HTTP answer to the request that started the document.", [
        DefinitionKey("status", .integer(100...599), default: .integer(200), "The HTTP status."),
        DefinitionKey("body", .template, "The response body, a template."),
    ])

    // MARK: Conditions and errors

    /// A condition (`filter`, `when`): a field test or a combination of conditions.
    public static let condition = DefinitionObject(
        "Condition", "A field test such as {\"field\": \"payload.celsius\", \"gt\": 80}, or all, any or not of conditions.",
        [DefinitionKey("field", .string(), "The field tested, e.g. \"payload.celsius\"; needs an operator.")]
            + Condition.combinators.map(combinatorKey) + Condition.operators.map(operatorKey))

    static func combinatorKey(_ name: String) -> DefinitionKey {
        switch name {
        case "not": DefinitionKey(name, .reference(conditionReference), "Holds when the condition does not.")
        case "all": DefinitionKey(name, .array(.reference(conditionReference), minItems: 1), "Holds when every condition holds.")
        default: DefinitionKey(name, .array(.reference(conditionReference), minItems: 1), "Holds when one of the conditions holds.")
        }
    }

    static func operatorKey(_ name: String) -> DefinitionKey {
        let scalar = DefinitionValueType.anyOf([.string(), .number(above: -.infinity, atMost: .infinity), .boolean, .null])
        let ordered = DefinitionValueType.anyOf([.string(), .number(above: -.infinity, atMost: .infinity)])
        return switch name {
        case "eq": DefinitionKey(name, .any, "The field equals this value.")
        case "ne": DefinitionKey(name, .any, "The field differs from this value.")
        case "gt": DefinitionKey(name, ordered, "The field is greater than this number or string.")
        case "gte": DefinitionKey(name, ordered, "The field is at least this number or string.")
        case "lt": DefinitionKey(name, ordered, "The field is less than this number or string.")
        case "lte": DefinitionKey(name, ordered, "The field is at most this number or string.")
        case "contains": DefinitionKey(name, scalar, "The field (a string or an array) contains this value.")
        case "in": DefinitionKey(name, .array(.any, minItems: 1), "The field equals one of these values.")
        case "exists": DefinitionKey(name, .boolean, "The field is present (true) or missing (false).")
        case "matches": DefinitionKey(name, .string(), "The field matches this regular expression.")
        default: DefinitionKey(name, .any, "A field test.")
        }
    }

    public static let onError = DefinitionObject("On error", "What happens when a step fails.", [
        DefinitionKey("retry", .object(retry), "Attempts and the waits between them."),
        DefinitionKey("deadLetter", .object(deadLetter), "Where a document goes when every attempt failed; left out, it stays unacknowledged."),
    ])

    public static let retry = DefinitionObject("Retry", "Attempts of a failing send.", [
        DefinitionKey("attempts", .integer(1...1000), default: .integer(1), "Attempts in all, the first one included."),
        DefinitionKey("backoff", .array(.duration), "The waits between attempts, the last one repeating; left out, 1s."),
    ])

    public static let deadLetter = DefinitionObject("Dead letter", "Where documents that failed go: an MQTT topic or a file.",
                                                  oneRequired: ["topic", "name"], [
        DefinitionKey("connector", .string(), required: true, "An mqtt-broker, mqtt or file connector."),
        DefinitionKey("topic", .template, "The dead-letter topic, for an MQTT connector."),
        DefinitionKey("name", .template, "The dead-letter file name, for a file connector."),
    ])

    /// The tables steps and conditions refer to by name.
    public static let references: [String: DefinitionObject] = [stepReference: step, conditionReference: condition]
}
