/// A field's value as conditions compare it.
enum ConditionScalar {
    case string(String)
    /// A JSON number and the value it came from (for its text, made only when `matches` asks).
    case number(ConditionNumber, JSONPayload)
    case bool(Bool)
    case null
    /// An array or object.
    case container(JSONPayload)

    init(_ value: FieldValue) {
        switch value {
        case .string(let string):
            self = .string(string)
        case .json(let json):
            self.init(json)
        }
    }

    init(_ json: JSONPayload) {
        switch json.kind {
        case .string: self = .string(json.stringValue ?? "")
        case .int: self = .number(json.int64Value.map(ConditionNumber.integer) ?? .double(json.doubleValue ?? 0), json)
        case .double: self = .number(.double(json.doubleValue ?? 0), json)
        case .bool: self = .bool(json.boolValue ?? false)
        case .null: self = .null
        case .object, .array: self = .container(json)
        }
    }

    /// The value as a number: a number, or a string that reads as a JSON number.
    var number: ConditionNumber? {
        switch self {
        case .number(let number, _): number
        case .string(let string): ConditionNumber(parsing: string)
        default: nil
        }
    }

    /// The text `matches` searches: strings, numbers (as written) and booleans.
    var matchText: String? {
        switch self {
        case .string(let string): string
        case .number(_, let json): json.serialized()
        case .bool(let bool): bool ? "true" : "false"
        case .null, .container: nil
        }
    }

    func equals(_ operand: JSONValue) -> Bool {
        switch (self, operand) {
        case (.string(let value), .string(let expected)): return value == expected
        case (.bool(let value), .bool(let expected)): return value == expected
        case (.null, .null): return true
        case (.container(let json), .array), (.container(let json), .object):
            return ConditionScalar.equal(json.jsonValue, operand)
        default:
            guard let value = number, let expected = ConditionNumber(operand) else { return false }
            return value.compare(to: expected) == 0
        }
    }

    /// -1, 0 or 1 comparing the value with the operand; `nil` when they cannot be ordered.
    func order(against operand: JSONValue) -> Int? {
        if let value = number, let expected = ConditionNumber(operand) { return value.compare(to: expected) }
        guard case .string(let value) = self, case .string(let expected) = operand else { return nil }
        return value < expected ? -1 : value == expected ? 0 : 1
    }

    func contains(_ operand: JSONValue) -> Bool {
        switch self {
        case .string(let value):
            guard case .string(let part) = operand else { return false }
            return part.isEmpty || value.contains(part)
        case .container(let json) where json.kind == .array:
            return (0..<(json.count ?? 0)).contains { index in
                json.value(at: [.index(index)]).map { ConditionScalar($0).equals(operand) } ?? false
            }
        default:
            return false
        }
    }

    /// Equality of definition values with numbers compared numerically (`1` equals `1.0`).
    static func equal(_ lhs: JSONValue, _ rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.array(let a), .array(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { equal($0, $1) }
        case (.object(let a), .object(let b)):
            return a.count == b.count && a.allSatisfy { key, value in b[key].map { equal(value, $0) } ?? false }
        case (.integer, _), (.double, _):
            guard let a = ConditionNumber(lhs), let b = ConditionNumber(rhs), !rhs.isString else { return false }
            return a.compare(to: b) == 0
        default:
            return lhs == rhs
        }
    }
}

private extension JSONValue {
    var isString: Bool { if case .string = self { true } else { false } }
}
