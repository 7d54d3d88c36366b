import Foundation

/// Everything loaded from `Connectors/` and `Processes/`: the valid definitions and every
/// problem found in every file.
public struct Definitions: Sendable {
    public var connectors: [String: ConnectorDefinition] = [:]
    public var processes: [String: ProcessDefinition] = [:]
    public var problems: [DefinitionProblem] = []

    /// The embedded broker's definition, if a connector declares one.
    public var broker: ConnectorDefinition? {
        connectors.values.first { if case .mqttBroker = $0.kind { true } else { false } }
    }
}

/// Loads definition folders strictly (docs/definitions.md): connectors first, then processes against them.
/// A file with problems is left out and its problems are listed; the others load.
public enum DefinitionLoader {
    public static func load(processes processesDirectory: String, connectors connectorsDirectory: String) -> Definitions {
        var result = Definitions()
        for (name, file) in jsonFiles(in: connectorsDirectory, problems: &result.problems) {
            let reader = DefinitionReader(file: file)
            let json = FileManager.default.contents(atPath: file).flatMap { reader.parse($0) }
            if FileManager.default.contents(atPath: file) == nil { reader.problem("", "cannot be read") }
            let connector = ConnectorDefinition.parse(name: name, json, reader: reader)
            if reader.problems.isEmpty, let connector { result.connectors[name] = connector }
            result.problems += reader.problems
        }
        let brokers = result.connectors.values.filter { if case .mqttBroker = $0.kind { true } else { false } }
        if brokers.count > 1 {
            for broker in brokers.sorted(by: { $0.name < $1.name }).dropFirst() {
                result.problems.append(DefinitionProblem(file: broker.file, path: "type",
                                                         message: "only one mqtt-broker connector may exist; \(brokers.map(\.name).sorted().joined(separator: " and ")) both are"))
                result.connectors[broker.name] = nil
            }
        }
        BridgeDefinition.check(&result)
        for (name, file) in jsonFiles(in: processesDirectory, problems: &result.problems) {
            let reader = DefinitionReader(file: file)
            let json = FileManager.default.contents(atPath: file).flatMap { reader.parse($0) }
            if FileManager.default.contents(atPath: file) == nil { reader.problem("", "cannot be read") }
            let process = ProcessDefinition.parse(name: name, json, reader: reader, connectors: result.connectors)
            if reader.problems.isEmpty, let process { result.processes[name] = process }
            result.problems += reader.problems
        }
        return result
    }

    /// `*.json` files of a folder by stem, sorted; a missing folder is a problem.
    static func jsonFiles(in directory: String, problems: inout [DefinitionProblem]) -> [(String, String)] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            problems.append(DefinitionProblem(file: directory, path: "", message: "is not a folder"))
            return []
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted().map { name in
            (String(name.dropLast(5)), (directory as NSString).appendingPathComponent(name))
        }
    }
}
