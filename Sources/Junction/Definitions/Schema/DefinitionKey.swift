/// What a definition key holds: the loader reads values of this type and ``DefinitionSchema``
/// describes it in JSON Schema.
public indirect enum DefinitionValueType: Sendable {
    /// Any string, optionally matching `pattern` (ECMA-262) and at least `minLength` long.
    case string(pattern: String? = nil, minLength: Int = 0)
    /// A string with `{{field}}` references, rendered per document.
    case template
    /// A string that may hold `${env:NAME}` or `${file:PATH}`, resolved at load.
    case secret
    case integer(ClosedRange<Int>)
    /// A number greater than `above` and at most `atMost`.
    case number(above: Double, atMost: Double)
    case boolean
    case null
    /// A string such as `"500ms"`, `"10s"`, `"5m"`, `"1h"`, `"30d"`.
    case duration
    /// A number of bytes in `range`, or a string such as `"512KB"` or `"1MB"`.
    case size(ClosedRange<Int>)
    /// A positive integer per second, or a string such as `"100/1s"`.
    case rate
    /// One of these strings.
    case choice([String])
    /// One of these integers (`qos`: 0, 1 or 2).
    case integerChoice([Int])
    /// Exactly this string (a connector's `type`).
    case constant(String)
    case array(DefinitionValueType, minItems: Int = 0)
    /// An object with the keys of a table.
    case object(DefinitionObject)
    /// An object whose keys are names the user chooses, each value of the given type.
    case map(DefinitionValueType)
    /// Any one of these.
    case anyOf([DefinitionValueType])
    /// A type defined once under a name (steps and conditions nest).
    case reference(String)
    /// Any JSON value.
    case any
}

/// One key of a definition object: its value's type, whether it must be given, its default and
/// what it means.
public struct DefinitionKey: Sendable {
    public let name: String
    public let type: DefinitionValueType
    public let required: Bool
    /// The value the loader uses when the key is left out, if there is one to show.
    public let defaultValue: JSONValue?
    /// One sentence for editors and the schema's `description`.
    public let summary: String

    public init(_ name: String, _ type: DefinitionValueType, required: Bool = false, default defaultValue: JSONValue? = nil,
                _ summary: String) {
        self.name = name
        self.type = type
        self.required = required
        self.defaultValue = defaultValue
        self.summary = summary
    }
}

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
