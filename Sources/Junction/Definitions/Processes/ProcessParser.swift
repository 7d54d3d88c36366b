import MQTTCore

extension ProcessDefinition {
    /// Parses one process file; `connectors` are the loaded connector definitions by name, so
    /// every reference is checked and each `send` is read for its connector's kind.
    public static func parse(name: String, _ json: JSONValue?, reader: DefinitionReader,
                             connectors: [String: ConnectorDefinition]) -> ProcessDefinition? {
        guard let root = reader.object(json, "", ProcessKeys.process) else { return nil }
        let parser = ProcessParser(reader: reader, connectors: connectors)
        let caches = parser.caches(root["caches"])
        parser.knownCaches = Set(caches.keys)
        let listen = parser.listen(root["listen"])
        if root["listen"] == nil { reader.problem("listen", "is required: where the process starts (an mqtt, http-listener or file connector)") }
        var steps: [StepDefinition] = []
        if let values = reader.array(root["steps"], "steps") {
            steps = parser.steps(values, "steps", listen: listen)
        }
        let onError = parser.errorPolicy(root["onError"])
        let maxInFlight = reader.integer(root["maxInFlight"], "maxInFlight", in: ProcessKeys.process.range("maxInFlight")) ?? 16
        guard let listen else { return nil }
        return ProcessDefinition(name: name, file: reader.file, description: reader.string(root["description"], "description"),
                                 listen: listen, steps: steps, caches: caches, onError: onError, maxInFlight: maxInFlight)
    }
}

/// Reads the parts of a process definition, reporting problems with their key paths.
final class ProcessParser {
    let reader: DefinitionReader
    let connectors: [String: ConnectorDefinition]
    var knownCaches: Set<String> = []

    init(reader: DefinitionReader, connectors: [String: ConnectorDefinition]) {
        self.reader = reader
        self.connectors = connectors
    }

    func template(_ value: JSONValue?, _ path: String) -> Template? {
        guard let text = reader.string(value, path) else { return nil }
        do {
            return try Template(parsing: text)
        } catch {
            reader.problem(path, "invalid template at column \(error.column): \(error.message)")
            return nil
        }
    }

    func required<T>(_ value: T?, _ object: [String: JSONValue], _ key: String, _ path: String, _ expected: String) -> T? {
        if value == nil && object[key] == nil { reader.problem(reader.join(path, key), "is required: \(expected)") }
        return value
    }

    /// The connector named at `path`, which must exist and allow `use`.
    func connector(_ value: JSONValue?, _ path: String, listening: Bool) -> ConnectorDefinition? {
        guard let name = reader.string(value, path) else { return nil }
        guard let connector = connectors[name] else {
            let known = connectors.keys.sorted().joined(separator: ", ")
            reader.problem(path, "unknown connector \"\(name)\"; defined: \(known.isEmpty ? "none" : known)")
            return nil
        }
        if listening && !connector.canListen {
            reader.problem(path, "connector \"\(name)\" (\(connector.typeName)) cannot start a process; expected an mqtt-broker, mqtt, http-listener or file connector")
            return nil
        }
        if !listening && !connector.canSend {
            reader.problem(path, "connector \"\(name)\" (\(connector.typeName)) cannot be sent to; expected an mqtt-broker, mqtt, http or file connector")
            return nil
        }
        return connector
    }

    func qos(_ value: JSONValue?, _ path: String) -> MQTTQoS? {
        reader.integer(value, path, in: 0...2).flatMap { MQTTQoS(rawValue: UInt8($0)) }
    }

    // MARK: Operation options

    func options(_ object: [String: JSONValue], _ path: String) -> OperationOptions {
        var options = OperationOptions()
        if let archiving = reader.object(object["archiving"], reader.join(path, "archiving"), ProcessKeys.archiving) {
            let p = reader.join(path, "archiving")
            if let directory = required(reader.string(archiving["directory"], "\(p).directory"), archiving, "directory", p, "the folder archived documents go to") {
                let retention = reader.duration(archiving["retention"], "\(p).retention")
                if retention == 0 { reader.problem("\(p).retention", "expected a duration above zero, like \"30d\"; leave it out to keep every file") }
                options.archiving = ArchivingDefinition(directory: directory, retentionMilliseconds: retention == 0 ? nil : retention)
            }
        }
        if let tracking = reader.object(object["tracking"], reader.join(path, "tracking"), allowed: nil) {
            for name in tracking.keys.sorted() {
                if let value = template(tracking[name], "\(reader.join(path, "tracking")).\(name)") { options.tracking.append((name, value)) }
            }
        }
        if let caching = reader.object(object["caching"], reader.join(path, "caching"), ProcessKeys.caching) {
            options.caching = cachingDefinition(caching, reader.join(path, "caching"))
        }
        return options
    }

    func cachingDefinition(_ object: [String: JSONValue], _ path: String) -> CachingDefinition? {
        let cache = required(reader.string(object["cache"], "\(path).cache"), object, "cache", path, "the name of a cache in \"caches\"")
        if let cache, !knownCaches.contains(cache) {
            reader.problem("\(path).cache", "unknown cache \"\(cache)\"; declare it under \"caches\"")
        }
        let key = required(template(object["key"], "\(path).key"), object, "key", path, "a template for the cache key")
        guard let cache, let key else { return nil }
        return CachingDefinition(cache: cache, key: key)
    }

    // MARK: Caches and errors

    func caches(_ value: JSONValue?) -> [String: CacheDefinition] {
        guard let object = reader.object(value, "caches", allowed: nil) else { return [:] }
        var result: [String: CacheDefinition] = [:]
        for (name, value) in object {
            let path = "caches.\(name)"
            guard let cache = reader.object(value, path, ProcessKeys.cache) else { continue }
            var definition = CacheDefinition()
            definition.ttlMilliseconds = reader.duration(cache["ttl"], "\(path).ttl")
            if let max = reader.integer(cache["maxEntries"], "\(path).maxEntries", in: ProcessKeys.cache.range("maxEntries")) { definition.maxEntries = max }
            if let persist = reader.bool(cache["persist"], "\(path).persist") { definition.persist = persist }
            result[name] = definition
        }
        return result
    }

    func errorPolicy(_ value: JSONValue?) -> ErrorPolicy {
        var policy = ErrorPolicy()
        guard let object = reader.object(value, "onError", ProcessKeys.onError) else { return policy }
        if let retry = reader.object(object["retry"], "onError.retry", ProcessKeys.retry) {
            if let attempts = reader.integer(retry["attempts"], "onError.retry.attempts", in: ProcessKeys.retry.range("attempts")) { policy.attempts = attempts }
            if let backoff = reader.array(retry["backoff"], "onError.retry.backoff") {
                policy.backoffMilliseconds = backoff.enumerated().compactMap { reader.duration($1, "onError.retry.backoff[\($0)]") }
            }
        }
        if let dead = reader.object(object["deadLetter"], "onError.deadLetter", ProcessKeys.deadLetter) {
            let path = "onError.deadLetter"
            if let connector = connector(dead["connector"], "\(path).connector", listening: false) {
                let key = connector.isMQTT ? "topic" : "name"
                if case .http = connector.kind {
                    reader.problem("\(path).connector", "a dead letter goes to an MQTT topic or a file; \"\(connector.name)\" is http")
                } else if let target = required(template(dead[key], "\(path).\(key)"), dead, key, path,
                                                connector.isMQTT ? "the dead-letter topic" : "the dead-letter file name") {
                    if connector.isMQTT { checkTopicTemplate(target, "\(path).topic") }
                    policy.deadLetter = ErrorPolicy.DeadLetter(connector: connector.name, target: target)
                }
            } else if dead["connector"] == nil {
                reader.problem("\(path).connector", "is required: where dead letters go")
            }
        }
        return policy
    }

    /// A Send topic may not contain wildcards, and a constant one must be a valid topic name.
    func checkTopicTemplate(_ template: Template, _ path: String) {
        if template.literalText.contains(where: { $0 == "+" || $0 == "#" }) {
            reader.problem(path, "a send topic cannot contain the wildcards + or #")
        } else if template.isConstant && !MQTTTopic.isValidName(template.literalText) {
            reader.problem(path, "expected a topic name, found \"\(template.literalText)\"")
        }
    }
}
