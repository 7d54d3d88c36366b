import MQTTCore

extension ProcessParser {
    /// A `send` step, read for the kind of its connector.
    func send(_ value: JSONValue, _ path: String) -> SendDefinition? {
        guard case .object(let object) = value else {
            reader.problem(path, "expected an object, found \(value.kind)")
            return nil
        }
        guard let connector = connector(object["connector"], "\(path).connector", listening: false) else {
            if object["connector"] == nil { reader.problem("\(path).connector", "is required: where the document is sent") }
            return nil
        }
        let target: SendDefinition.Target?
        switch connector.kind {
        case .mqttBroker, .mqtt:
            _ = reader.object(value, path, ProcessKeys.mqttSend)
            let topic = required(template(object["topic"], "\(path).topic"), object, "topic", path, "the topic to publish to")
            if let topic { checkTopicTemplate(topic, "\(path).topic") }
            let qos = qos(object["qos"], "\(path).qos") ?? .atLeastOnce
            let retain = reader.bool(object["retain"], "\(path).retain") ?? false
            var userProperties: [(String, Template)] = []
            if let fields = reader.object(object["userProperties"], "\(path).userProperties", allowed: nil) {
                for name in fields.keys.sorted() {
                    if let value = template(fields[name], "\(path).userProperties.\(name)") { userProperties.append((name, value)) }
                }
            }
            let maxSize = reader.size(object["maxMessageSize"], "\(path).maxMessageSize", in: ProcessKeys.mqttSend.range("maxMessageSize")) ?? 1 << 20
            target = topic.map { .mqtt(topic: $0, qos: qos, retain: retain, userProperties: userProperties, maxMessageSize: maxSize) }
        case .http:
            _ = reader.object(value, path, ProcessKeys.httpSend)
            let requestPath = template(object["path"], "\(path).path") ?? (try? Template(parsing: ""))
            var method: String?
            if let text = reader.string(object["method"], "\(path).method") {
                if HTTPMethod.allowed.contains(text) { method = text } else {
                    reader.problem("\(path).method", "expected one of \(HTTPMethod.allowed.joined(separator: ", ")), found \"\(text)\"")
                }
            }
            var headers: [(String, Template)] = []
            if let fields = reader.object(object["headers"], "\(path).headers", allowed: nil) {
                for name in fields.keys.sorted() {
                    if let value = template(fields[name], "\(path).headers.\(name)") { headers.append((name, value)) }
                }
            }
            target = requestPath.map { .http(path: $0, method: method, headers: headers) }
        case .file:
            _ = reader.object(value, path, ProcessKeys.fileSend)
            let name = required(template(object["name"], "\(path).name"), object, "name", path, "a file name template, e.g. \"{{id}}.json\"")
            if let name, name.literalText.contains("/") && name.literalText.contains("..") {
                reader.problem("\(path).name", "a file name may not leave the connector's directory")
            }
            var append = false
            if let mode = reader.string(object["mode"], "\(path).mode") {
                switch mode {
                case "append": append = true
                case "overwrite": append = false
                default: reader.problem("\(path).mode", "expected \"append\" or \"overwrite\", found \"\(mode)\"")
                }
            }
            target = name.map { .file(name: $0, append: append) }
        case .httpListener:
            target = nil
        }
        guard let target else { return nil }
        return SendDefinition(connector: connector.name, target: target, options: options(object, path))
    }
}

extension Template {
    /// The template's literal text with its fields left out: what a topic check looks at.
    var literalText: String {
        segments.map { if case .text(let text) = $0 { text } else { "" } }.joined()
    }
}
