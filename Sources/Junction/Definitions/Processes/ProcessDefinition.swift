import MQTTCore

/// A process definition (`Processes/<name>.json`, keys in ``ProcessKeys``): where documents come from, the
/// steps they go through, and what happens on error.
public struct ProcessDefinition: Sendable {
    /// The file stem.
    public var name: String
    public var file: String
    public var description: String?
    public var listen: ListenDefinition
    public var steps: [StepDefinition]
    public var caches: [String: CacheDefinition]
    public var onError: ErrorPolicy
    /// Documents in progress at once: the back pressure of docs/design.md.
    public var maxInFlight: Int
}

/// Options every MQTT operation (Listen and Send) carries.
public struct OperationOptions: Sendable {
    /// A copy of each document to disk.
    public var archiving: ArchivingDefinition?
    /// Named fields recorded per document.
    public var tracking: [(name: String, value: Template)] = []
    /// Documents put into a named cache under a key.
    public var caching: CachingDefinition?
}

public struct ArchivingDefinition: Sendable, Hashable {
    public var directory: String
    /// Files older than this are purged; nil keeps them.
    public var retentionMilliseconds: Int64?
}

public struct CachingDefinition: Sendable, Hashable {
    public var cache: String
    public var key: Template
}

public struct CacheDefinition: Sendable, Hashable {
    public var ttlMilliseconds: Int64?
    public var maxEntries: Int = 10_000
    public var persist: Bool = false
}

/// Where a process starts.
public enum ListenDefinition: Sendable {
    case mqtt(MQTTListen)
    case http(HTTPListen)
    case file(FileListen)

    public var connector: String {
        switch self {
        case .mqtt(let l): l.connector
        case .http(let l): l.connector
        case .file(let l): l.connector
        }
    }

    public struct MQTTListen: Sendable {
        public var connector: String
        public var topic: MQTTTopicFilter
        public var qos: MQTTQoS = .atLeastOnce
        /// Share group: subscribes as `$share/<group>/<topic>`.
        public var shared: String?
        public var noLocal = false
        public var retainAsPublished = false
        public var retainHandling: MQTTSubscription.RetainHandling = .sendOnSubscribe
        public var options = OperationOptions()
    }

    public struct HTTPListen: Sendable {
        public var connector: String
        public var path: String
        public var method: String = "POST"
        public var options = OperationOptions()
    }

    public struct FileListen: Sendable {
        public var connector: String
        public var glob: String = "*"
        public var pollMilliseconds: Int64 = 1000
        public var options = OperationOptions()
    }
}

/// One step of a process.
public indirect enum StepDefinition: Sendable {
    case send(SendDefinition)
    /// Sets document properties from templates.
    case set([(name: String, value: Template)])
    /// Replaces the payload by a JSON document built from a template tree.
    case map(PayloadMap)
    /// The first case whose condition holds runs its steps; else `otherwise`.
    case route(cases: [(condition: Condition, steps: [StepDefinition])], otherwise: [StepDefinition])
    /// Documents that do not satisfy the condition stop here (tracked as `filtered`).
    case filter(Condition)
    /// Puts the document into a named cache under a key.
    case cache(CachingDefinition)
    /// Reads a cache entry into a property (or the payload).
    case lookup(cache: String, key: Template, into: LookupTarget)
    /// A JSON array (the payload, or a field of it) becomes one document per element.
    case split(FieldPath?)
    /// The HTTP reply of an HTTP Listen, built from the document.
    case reply(status: Int, body: Template?)

    public enum LookupTarget: Sendable, Hashable {
        case property(String)
        case payload
    }
}

/// A `send` step: the connector's kind decides which fields apply.
public struct SendDefinition: Sendable {
    public var connector: String
    public var target: Target
    public var options = OperationOptions()

    public enum Target: Sendable {
        case mqtt(topic: Template, qos: MQTTQoS, retain: Bool, userProperties: [(String, Template)], maxMessageSize: Int)
        case http(path: Template, method: String?, headers: [(String, Template)])
        case file(name: Template, append: Bool)
    }
}

/// `onError`: retries with backoff, then a dead letter; without one the message stays
/// unacknowledged and the broker delivers it again.
public struct ErrorPolicy: Sendable, Hashable {
    public var attempts: Int = 1
    public var backoffMilliseconds: [Int64] = []
    public var deadLetter: DeadLetter?

    public struct DeadLetter: Sendable, Hashable {
        public var connector: String
        /// MQTT topic, or file name for a file connector.
        public var target: Template
    }
}
