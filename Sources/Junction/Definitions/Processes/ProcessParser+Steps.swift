import MQTTCore

extension ProcessParser {
    func listen(_ value: JSONValue?) -> ListenDefinition? {
        guard case .object(let object) = value else {
            if let value { reader.problem("listen", "expected an object, found \(value.kind)") }
            return nil
        }
        guard let connector = connector(object["connector"], "listen.connector", listening: true) else {
            if object["connector"] == nil { reader.problem("listen.connector", "is required: the connector the process starts from") }
            return nil
        }
        switch connector.kind {
        case .mqttBroker, .mqtt:
            _ = reader.object(value, "listen", ProcessKeys.mqttListen)
            let text = required(reader.string(object["topic"], "listen.topic"), object, "topic", "listen", "a topic filter, + and # allowed")
            var filter: MQTTTopicFilter?
            if let text {
                filter = MQTTTopicFilter(text)
                if filter == nil || filter?.shareGroup != nil {
                    reader.problem("listen.topic", "expected a topic filter (+ and # as whole levels; use \"shared\" for a share group), found \"\(text)\"")
                }
            }
            var listen = ListenDefinition.MQTTListen(connector: connector.name, topic: filter ?? MQTTTopicFilter("#")!)
            if let qos = qos(object["qos"], "listen.qos") { listen.qos = qos }
            if let shared = reader.string(object["shared"], "listen.shared") {
                if shared.isEmpty || shared.contains(where: { "/+#".contains($0) }) {
                    reader.problem("listen.shared", "expected a share group name without /, + or #")
                }
                listen.shared = shared
            }
            listen.noLocal = reader.bool(object["noLocal"], "listen.noLocal") ?? false
            listen.retainAsPublished = reader.bool(object["retainAsPublished"], "listen.retainAsPublished") ?? false
            if let handling = reader.integer(object["retainHandling"], "listen.retainHandling", in: 0...2) {
                listen.retainHandling = MQTTSubscription.RetainHandling(rawValue: UInt8(handling)) ?? .sendOnSubscribe
            }
            listen.options = options(object, "listen")
            return filter == nil ? nil : .mqtt(listen)
        case .httpListener:
            _ = reader.object(value, "listen", ProcessKeys.httpListen)
            guard let path = required(reader.string(object["path"], "listen.path"), object, "path", "listen", "the URL path, e.g. \"/ingest\"") else { return nil }
            if !path.hasPrefix("/") { reader.problem("listen.path", "expected a path starting with /, found \"\(path)\"") }
            var listen = ListenDefinition.HTTPListen(connector: connector.name, path: path)
            if let method = reader.string(object["method"], "listen.method") {
                if HTTPMethod.allowed.contains(method) { listen.method = method } else {
                    reader.problem("listen.method", "expected one of \(HTTPMethod.allowed.joined(separator: ", ")), found \"\(method)\"")
                }
            }
            listen.options = options(object, "listen")
            return .http(listen)
        case .file:
            _ = reader.object(value, "listen", ProcessKeys.fileListen)
            var listen = ListenDefinition.FileListen(connector: connector.name)
            if let glob = reader.string(object["glob"], "listen.glob") {
                if glob.isEmpty || glob.contains("/") { reader.problem("listen.glob", "expected a file name pattern like \"*.json\"") }
                listen.glob = glob
            }
            if let poll = reader.duration(object["poll"], "listen.poll") { listen.pollMilliseconds = max(10, poll) }
            listen.options = options(object, "listen")
            return .file(listen)
        case .http:
            return nil
        }
    }

    func steps(_ values: [JSONValue], _ path: String, listen: ListenDefinition?) -> [StepDefinition] {
        values.enumerated().compactMap { index, value in step(value, "\(path)[\(index)]", listen: listen) }
    }

    static let stepKinds = ProcessKeys.step.names

    func step(_ value: JSONValue, _ path: String, listen: ListenDefinition?) -> StepDefinition? {
        guard case .object(let object) = value, object.count == 1, let (kind, body) = object.first else {
            reader.problem(path, "expected an object with exactly one of: \(Self.stepKinds.joined(separator: ", "))")
            return nil
        }
        let p = "\(path).\(kind)"
        switch kind {
        case "send": return send(body, p).map(StepDefinition.send)
        case "set":
            guard let fields = reader.object(body, p, allowed: nil) else { return nil }
            return .set(fields.keys.sorted().compactMap { name in template(fields[name], "\(p).\(name)").map { (name, $0) } })
        case "map": return PayloadMap.parse(body, path: p, reader: reader).map(StepDefinition.map)
        case "filter": return Condition.parse(body, path: p, reader: reader).map(StepDefinition.filter)
        case "route": return route(body, p, listen: listen)
        case "cache":
            guard let fields = reader.object(body, p, ProcessKeys.caching) else { return nil }
            return cachingDefinition(fields, p).map(StepDefinition.cache)
        case "lookup":
            guard let fields = reader.object(body, p, ProcessKeys.lookup),
                  let caching = cachingDefinition(fields, p) else { return nil }
            let into = reader.string(fields["into"], "\(p).into") ?? "properties.\(caching.cache)"
            if into == "payload" { return .lookup(cache: caching.cache, key: caching.key, into: .payload) }
            guard into.hasPrefix("properties."), into.count > 11 else {
                reader.problem("\(p).into", "expected \"payload\" or \"properties.<name>\", found \"\(into)\"")
                return nil
            }
            return .lookup(cache: caching.cache, key: caching.key, into: .property(String(into.dropFirst(11))))
        case "split":
            guard let fields = reader.object(body, p, ProcessKeys.split) else { return nil }
            guard let text = reader.string(fields["field"], "\(p).field") else { return .split(nil) }
            do {
                return .split(try FieldPath(parsing: text))
            } catch {
                reader.problem("\(p).field", "invalid field path at column \(error.column): \(error.message)")
                return nil
            }
        case "reply":
            guard case .http = listen else {
                reader.problem(p, "reply only applies to a process that listens on an http-listener")
                return nil
            }
            guard let fields = reader.object(body, p, ProcessKeys.reply) else { return nil }
            let status = reader.integer(fields["status"], "\(p).status", in: ProcessKeys.reply.range("status")) ?? 200
            return .reply(status: status, body: template(fields["body"], "\(p).body"))
        default:
            reader.problem(path, "unknown step \"\(kind)\"; expected one of: \(Self.stepKinds.joined(separator: ", "))")
            return nil
        }
    }

    func route(_ body: JSONValue, _ path: String, listen: ListenDefinition?) -> StepDefinition? {
        guard let fields = reader.object(body, path, ProcessKeys.route) else { return nil }
        var cases: [(Condition, [StepDefinition])] = []
        for (index, value) in (reader.array(fields["cases"], "\(path).cases") ?? []).enumerated() {
            let p = "\(path).cases[\(index)]"
            guard let entry = reader.object(value, p, ProcessKeys.routeCase) else { continue }
            let condition = required(entry["when"].flatMap { Condition.parse($0, path: "\(p).when", reader: reader) }, entry, "when", p, "a condition")
            let steps = steps(reader.array(entry["steps"], "\(p).steps") ?? [], "\(p).steps", listen: listen)
            if let condition { cases.append((condition, steps)) }
        }
        if fields["cases"] == nil { reader.problem("\(path).cases", "is required: a list of {\"when\": condition, \"steps\": [...]}") }
        let otherwise = steps(reader.array(fields["otherwise"], "\(path).otherwise") ?? [], "\(path).otherwise", listen: listen)
        return .route(cases: cases, otherwise: otherwise)
    }
}
