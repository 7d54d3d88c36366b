import Foundation
import Logging
import MQTTBroker
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Hot reload of an `mqtt-broker` definition: when the file is saved, valid settings are applied
/// to the running broker and the changes logged; an invalid edit is refused, its problems
/// logged, and the running settings stay.
public struct BrokerReloader: Sendable {
    public let file: String
    public let broker: MQTTBroker
    private let current: NIOLockedValueBox<BrokerDefinition>
    private let logger: Logger
    /// The password and ACL files of the definition, watched with it (BrokerFilesWatcher.swift).
    let authFiles: [String]

    public init(file: String, definition: BrokerDefinition, broker: MQTTBroker, logger: Logger) {
        self.file = file
        self.broker = broker
        self.current = NIOLockedValueBox(definition)
        self.logger = logger
        self.authFiles = [definition.passwordFile, definition.aclFile].compactMap { $0 }
    }

    /// A service that watches the file (and the files its `auth` section names) and reloads it.
    public func watcher(interval: Duration = .seconds(1)) -> BrokerFilesWatcher {
        BrokerFilesWatcher(reloader: self, interval: interval)
    }

    /// Applies the definition in `data`; returns the names of the settings that changed.
    @discardableResult
    public func reload(_ data: Data) async -> [String] {
        let reader = DefinitionReader(file: file)
        let next = BrokerDefinition.parse(reader.parse(data), reader: reader)
        guard reader.problems.isEmpty else {
            logger.error("broker definition refused, keeping the running settings", metadata: [
                "definition.file": "\(file)", "definition.problems": "\(DefinitionError(problems: reader.problems))",
            ])
            return []
        }
        let previous = current.withLockedValue { $0 }
        let changed = Self.changes(from: previous.settings, to: next.settings)
        if next.listeners != previous.listeners {
            logger.warning("listener changes apply at the next restart", metadata: ["definition.file": "\(file)"])
        }
        guard !changed.isEmpty else { return [] }
        do {
            try await broker.update(settings: next.settings)
        } catch {
            logger.error("could not apply broker settings", metadata: ["error": "\(error)"])
            return []
        }
        current.withLockedValue { $0 = next }
        logger.notice("broker settings reloaded", metadata: [
            "definition.file": "\(file)", "definition.changed": "\(changed.joined(separator: ", "))",
        ])
        return changed
    }

    /// `name: old → new` for every setting that differs.
    static func changes(from old: BrokerSettings, to new: BrokerSettings) -> [String] {
        let before = Mirror(reflecting: old).children
        let after = Array(Mirror(reflecting: new).children)
        return zip(before, after).compactMap { old, new in
            let (o, n) = ("\(old.value)", "\(new.value)")
            return o == n ? nil : "\(old.label ?? "?"): \(o) → \(n)"
        }
    }
}
