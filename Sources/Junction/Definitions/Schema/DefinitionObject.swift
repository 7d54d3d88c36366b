/// The table of one kind of definition object: every key it accepts. The loader refuses keys
/// that are not in it, and ``DefinitionSchema`` generates the published schema from it.
public struct DefinitionObject: Sendable {
    /// How the object's keys are used.
    public enum Shape: Sendable {
        /// Any of the keys, no others.
        case closed
        /// Exactly one of the keys (a step: `{"send": {...}}`).
        case exactlyOne
    }

    /// A short name: the schema's `title`.
    public let title: String
    public let summary: String
    public let keys: [DefinitionKey]
    public let shape: Shape
    /// A whole definition file, which may also carry `"$schema"` for editors.
    public let isFile: Bool
    /// Keys of which at least one must be given (`url` or `urls`); empty when none is needed.
    public let oneRequired: [String]

    public init(_ title: String, _ summary: String, shape: Shape = .closed, isFile: Bool = false, oneRequired: [String] = [],
                _ keys: [DefinitionKey]) {
        self.title = title
        self.summary = summary
        self.keys = keys
        self.shape = shape
        self.isFile = isFile
        self.oneRequired = oneRequired
    }

    /// The key names, in table order.
    public var names: [String] { keys.map(\.name) }

    /// The key names the loader accepts (`$schema` is accepted too when ``isFile``).
    public var allowed: Set<String> { Set(names) }

    /// The range of the integer or size key `name`, which the loader checks values against.
    public func range(_ name: String) -> ClosedRange<Int> {
        switch keys.first(where: { $0.name == name })?.type {
        case .integer(let range)?, .size(let range)?: return range
        default: preconditionFailure("the \(title) table has no integer or size key \(name)")
        }
    }

    /// The same table without some keys.
    public func removing(_ removed: Set<String>, title: String? = nil) -> DefinitionObject {
        DefinitionObject(title ?? self.title, summary, shape: shape, isFile: isFile, oneRequired: oneRequired.filter { !removed.contains($0) },
                         keys.filter { !removed.contains($0.name) })
    }

    /// Every key name of this table and of the tables nested in it (`references` resolves
    /// ``DefinitionValueType/reference(_:)``), each once, in order.
    public func allKeyNames(references: [String: DefinitionObject]) -> [String] {
        var names: [String] = isFile ? ["$schema"] : []
        var visited: Set<String> = []
        func visit(_ object: DefinitionObject) {
            for key in object.keys {
                if !names.contains(key.name) { names.append(key.name) }
                visit(key.type)
            }
        }
        func visit(_ type: DefinitionValueType) {
            switch type {
            case .object(let object): visit(object)
            case .array(let element, _), .map(let element): visit(element)
            case .anyOf(let types): types.forEach(visit)
            case .reference(let name):
                guard !visited.contains(name), let object = references[name] else { return }
                visited.insert(name)
                visit(object)
            default: break
            }
        }
        visit(self)
        return names
    }
}

extension DefinitionReader {
    /// An object whose keys must all be in `table` (and `$schema` for a whole file); unknown
    /// keys are reported, and `$schema` must be a string.
    public func object(_ value: JSONValue?, _ path: String, _ table: DefinitionObject) -> [String: JSONValue]? {
        guard table.isFile else { return object(value, path, allowed: table.allowed) }
        guard case .object(var members)? = value else { return object(value, path, allowed: table.allowed) }
        let schema = members.removeValue(forKey: "$schema")
        _ = string(schema, join(path, "$schema"))
        _ = object(.object(members), path, allowed: table.allowed)
        return members
    }
}
