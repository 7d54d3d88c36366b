import Foundation
import MQTTCore
import NIOCore

extension ProcessContext {
    /// Runs `steps` over `documents` and returns what comes out of the last step: a filter
    /// drops documents (tracked `filtered`), a split multiplies them, a route sends each down
    /// its branch and the branch's output continues with the steps after the route.
    func run(_ steps: [StepDefinition], _ input: [Document]) async throws -> [Document] {
        var documents = input
        for (index, step) in steps.enumerated() where !documents.isEmpty {
            var output: [Document] = []
            for var document in documents {
                if let result = try transform(step, document, index: index) {
                    switch result {
                    case .one(let document): output.append(document)
                    case .documents(let documents): output += documents
                    case .branch(let branch, let document): output += try await run(branch, [document])
                    }
                    continue
                }
                switch step {
                case .cache(let caching):
                    await caches.put(caching.cache, key: caching.key.render(document), payload: document.payload)
                    track(.step, document, step: index)
                case .lookup(let cache, let key, let target):
                    let value = await caches.get(cache, key: key.render(document))
                    switch target {
                    case .payload: if let value { document.payload = value }
                    case .property(let name): document.properties[name] = value.map { String(buffer: $0) }
                    }
                    track(.step, document, step: index)
                case .send(let send):
                    try await self.send(send, &document, step: index)
                default:
                    preconditionFailure("transform(_:_:index:) handles every other step")
                }
                output.append(document)
            }
            documents = output
        }
        return documents
    }

    /// What a step that has nothing to wait for made of one document.
    enum Transformed {
        /// The document goes on to the next step.
        case one(Document)
        /// What goes on to the next step: none (filtered) or many (split).
        case documents([Document])
        /// A route: the document goes down these steps first.
        case branch([StepDefinition], Document)
    }

    /// The steps with nothing to wait for (all but `send`, `cache` and `lookup`, which give nil),
    /// tracked; shared by ``run(_:_:)`` and ``runInline(_:_:publishing:)``.
    func transform(_ step: StepDefinition, _ input: Document, index: Int) throws -> Transformed? {
        var document = input
        switch step {
        case .filter(let condition):
            if condition.evaluate(document) { return .one(document) }
            track(.filtered, document, step: index)
            return .documents([])
        case .set(let fields):
            for (name, template) in fields { document.properties[name] = template.render(document) }
        case .map(let map):
            document.payload = map.apply(document)
        case .route(let cases, let otherwise):
            track(.step, document, step: index)
            return .branch(cases.first { $0.condition.evaluate(document) }?.steps ?? otherwise, document)
        case .split(let field):
            return .documents(try split(document, field: field, step: index))
        case .reply(let status, let body):
            recordReply(status: status, body: body, &document)  // answered by the HTTP listen
        case .send, .cache, .lookup:
            return nil
        }
        track(.step, document, step: index)
        return .one(document)
    }

    private func split(_ document: Document, field: FieldPath?, step: Int) throws -> [Document] {
        let value: JSONPayload?
        switch field?.lookup(in: document) ?? document.json().map(FieldValue.json) {
        case .json(let json): value = json
        default: value = nil
        }
        guard let array = value, array.kind == .array, let count = array.count else {
            throw ProcessError(step: step, message: "split: \(field?.description ?? "payload") is not a JSON array", permanent: true)
        }
        return (0..<count).compactMap { index in
            guard let element = array.value(at: [.index(index)]) else { return nil }
            var part = document
            part.id = "\(document.id).\(index)"
            part.payload = ByteBuffer(string: element.serialized())
            return part
        }
    }

    /// One `send` with the process's retry policy: a failure that can pass is tried again after
    /// the backoff (tracked `retried`); the last failure is thrown.
    func send(_ send: SendDefinition, _ document: inout Document, step: Int) async throws {
        try await applyOptions(send.options, to: &document)
        let policy = definition.onError
        var attempt = 1
        while true {
            do {
                let (topic, qos) = try await perform(send, &document, step: step)
                track(.sent, document, step: step, connector: send.connector, topic: topic, qos: qos)
                return
            } catch let error as ProcessError where !error.permanent && attempt < policy.attempts {
                track(.retried, document, step: step, connector: send.connector, error: error.message)
                let delays = policy.backoffMilliseconds
                let delay = delays.isEmpty ? 1000 : delays[min(attempt - 1, delays.count - 1)]
                try await Task.sleep(for: .milliseconds(delay))
                attempt += 1
            }
        }
    }

    /// Delivers `document` to the send's connector; returns the topic and QoS for tracking.
    func perform(_ send: SendDefinition, _ document: inout Document, step: Int?) async throws -> (String?, MQTTQoS?) {
        switch send.target {
        case .mqtt(_, let qos, let retain, _, _):
            if case .mqtt(let external)? = connectors[send.connector]?.kind {
                return try await sendExternalMQTT(connector: send.connector, external, send.target, document, step: step)
            }
            let message = try mqttMessage(send.target, document, step: step)
            guard let broker else { throw ProcessError(step: step, message: "the embedded broker is not running", permanent: false) }
            do {
                try await broker.publish(topic: message.topic, payload: message.payload, qos: qos, retain: retain, properties: message.properties)
            } catch {
                throw ProcessError(step: step, message: "publish to \(message.topic) failed: \(error)", permanent: false)
            }
            return (message.topic, qos)
        case .file(let nameTemplate, let append):
            try write(document, connector: send.connector, name: nameTemplate.render(document), append: append, step: step)
            return (nil, nil)
        case .http(let path, let method, let headers):
            guard case .http(let definition)? = connectors[send.connector]?.kind else {
                throw ProcessError(step: step, message: "connector \(send.connector) is not an http connector", permanent: true)
            }
            return try await sendHTTP(connector: send.connector, definition, path: path, method: method, headers: headers, &document, step: step)
        }
    }

    /// The message an MQTT `send` publishes (to the embedded broker or an external one): the
    /// rendered topic (a topic name, or the step fails for good), the payload within
    /// `maxMessageSize`, user properties.
    func mqttMessage(_ target: SendDefinition.Target, _ document: Document, step: Int?) throws -> MQTTPublishPacket {
        guard case .mqtt(let topicTemplate, let qos, let retain, let userProperties, let maxMessageSize) = target else {
            preconditionFailure("an MQTT send has an MQTT target")
        }
        let topic = topicTemplate.render(document)
        guard MQTTTopic.isValidName(topic) else {
            throw ProcessError(step: step, message: "topic template \"\(topicTemplate)\" gave \"\(topic)\", not a topic name", permanent: true)
        }
        guard document.payload.readableBytes <= maxMessageSize else {
            throw ProcessError(step: step, message: "message of \(document.payload.readableBytes) bytes exceeds maxMessageSize \(maxMessageSize)", permanent: true)
        }
        let properties = MQTTProperties(userProperties.map { .userProperty($0.0, $0.1.render(document)) })
        return MQTTPublishPacket(topic: topic, payload: document.payload, qos: qos, retain: retain, properties: properties)
    }

    /// File send: `overwrite` writes atomically (temporary file and rename); `append` adds the
    /// payload as one line. The name may not leave the connector's directory.
    func write(_ document: Document, connector: String, name: String, append: Bool, step: Int?) throws {
        guard let directory = directory(of: connector) else {
            throw ProcessError(step: step, message: "connector \(connector) is not a file connector", permanent: true)
        }
        let parts = name.split(separator: "/")
        guard !name.isEmpty, !name.hasPrefix("/"), !parts.contains("..") else {
            throw ProcessError(step: step, message: "file name \"\(name)\" must stay inside \(directory.path)", permanent: true)
        }
        let url = directory.appendingPathComponent(name)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            var data = Data(bytesOf: document.payload)
            if append {
                if data.last != 0x0A { data.append(0x0A) }
                // O_APPEND makes each line one write at the end, so documents in flight at the same
                // time never overwrite each other.
                let descriptor = open(url.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
                guard descriptor >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path]) }
                let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
                try handle.write(contentsOf: data)
            } else {
                try data.write(to: url, options: .atomic)
            }
        } catch {
            throw ProcessError(step: step, message: "writing \(url.path) failed: \(error)", permanent: false)
        }
    }
}
