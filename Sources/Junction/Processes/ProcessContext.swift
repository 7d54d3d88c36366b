import Foundation
import Logging
import MQTTBroker
import MQTTCore
import NIOCore

/// What a running process reaches: the broker, the connectors, its caches and the tracking log.
public struct ProcessContext: Sendable {
    public let definition: ProcessDefinition
    public let connectors: [String: ConnectorDefinition]
    public let broker: MQTTBroker?
    /// Shared outbound resources: HTTP client pool, external MQTT connections.
    public let resources: EngineResources
    public let caches: CacheStore
    public let tracking: TrackingLog
    public let logger: Logger
    /// Relative file connector directories and archives are resolved against this.
    public let baseDirectory: URL

    public var name: String { definition.name }

    /// Checks once, before the process starts, that every connector it uses can be served here.
    public func checkEndpoints() throws {
        var names = [definition.listen.connector]
        collectSendConnectors(definition.steps, into: &names)
        if let dead = definition.onError.deadLetter { names.append(dead.connector) }
        for name in names {
            guard let connector = connectors[name] else { throw ProcessError(message: "unknown connector \(name)", permanent: true) }
            switch connector.kind {
            case .mqttBroker:
                if broker == nil { throw ProcessError(message: "connector \(name): the embedded broker is not running", permanent: true) }
            case .file: break
            case .mqtt(let definition): try resources.mqtt.check(connector: name, definition)
            case .http(let definition): try resources.http.checkSend(connector: name, definition)
            case .httpListener(let definition): try resources.http.checkListen(connector: name, definition)
            }
        }
    }

    private func collectSendConnectors(_ steps: [StepDefinition], into names: inout [String]) {
        for step in steps {
            switch step {
            case .send(let send): names.append(send.connector)
            case .route(let cases, let otherwise):
                for (_, nested) in cases { collectSendConnectors(nested, into: &names) }
                collectSendConnectors(otherwise, into: &names)
            default: break
            }
        }
    }

    func directory(of connector: String) -> URL? {
        guard case .file(let file)? = connectors[connector]?.kind else { return nil }
        return resolve(file.directory)
    }

    func resolve(_ path: String) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : baseDirectory.appendingPathComponent(path)
    }

    func track(_ kind: TrackingEvent.Kind, _ document: Document, step: Int? = nil, connector: String? = nil, topic: String? = nil,
               qos: MQTTQoS? = nil, error: String? = nil) {
        let now = Date()
        let duration = now.timeIntervalSince(document.receivedAt) * 1000
        tracking.record(TrackingEvent(
            time: now, event: kind, document: document.id, process: name, step: step, connector: connector, topic: topic ?? document.topic,
            qos: qos.map { Int($0.rawValue) }, bytes: document.payload.readableBytes, durationMs: (duration * 1000).rounded() / 1000,
            fields: document.tracked.isEmpty ? nil : document.tracked, error: error))
    }

    /// The tracked fields of one operation (`listen` or a `send`), rendered from the document.
    func recordTrackedFields(_ options: OperationOptions, _ document: inout Document) {
        for (name, template) in options.tracking { document.tracked[name] = template.render(document) }
    }

    /// Archiving, tracking fields and caching of one operation (`listen` or a `send`).
    func applyOptions(_ options: OperationOptions, to document: inout Document) async throws {
        recordTrackedFields(options, &document)
        if let caching = options.caching {
            await caches.put(caching.cache, key: caching.key.render(document), payload: document.payload)
        }
        if let archiving = options.archiving {
            do {
                try Archiver(directory: resolve(archiving.directory)).archive(document, process: name)
            } catch {
                throw ProcessError(message: "archiving to \(archiving.directory) failed: \(error)", permanent: false)
            }
        }
    }
}
