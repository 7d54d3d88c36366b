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
