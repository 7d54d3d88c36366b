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
}
