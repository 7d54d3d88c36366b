import Foundation

/// A test on a document, for `filter` and `route` steps:
///
/// ```json
/// {"field": "payload.celsius", "gt": 80}
/// {"all": [{"field": "topic[0]", "eq": "plant"}, {"not": {"field": "properties.muted", "exists": true}}]}
/// ```
///
/// **Comparing.** A string equals a string exactly. Numbers, and strings that read as JSON
/// numbers (`"81.5"` in a payload or a topic level), compare numerically with numbers:
/// `{"field": "topic[1]", "eq": 7}` holds for `plant/7/t`, and `"81.5"` is `gt` 80. `gt`, `gte`,
/// `lt` and `lte` compare two numbers numerically, two strings that both read as numbers
/// numerically, and other pairs of strings in Unicode order; any other pairing is false. Arrays
/// and objects equal values of the same shape. `true` equals only `true`, `null` only `null`.
///
/// **Missing fields** (see ``FieldPath/lookup(in:)``): only `{"exists": false}` and `ne` hold;
/// every other test is false (and so `not` of it is true).
public indirect enum Condition: Sendable, Hashable {
    /// A test of one field.
    case field(FieldPath, FieldTest)
    /// Holds when every condition holds.
    case all([Condition])
    /// Holds when at least one condition holds.
    case any([Condition])
    /// Holds when the condition does not.
    case not(Condition)

    /// Whether `document` passes the condition.
    public func evaluate(_ document: Document) -> Bool {
        evaluate(document, now: Date())
    }

    /// ``evaluate(_:)`` with the time `now` gives.
    public func evaluate(_ document: Document, now: Date) -> Bool {
        switch self {
        case .field(let path, let test): test.evaluate(path.lookup(in: document, now: now))
        case .all(let conditions): conditions.allSatisfy { $0.evaluate(document, now: now) }
        case .any(let conditions): conditions.contains { $0.evaluate(document, now: now) }
        case .not(let condition): !condition.evaluate(document, now: now)
        }
    }
}

/// What a ``Condition/field(_:_:)`` checks of a field's value; the operands come from the
/// definition. Comparison rules are described at ``Condition``.
public enum FieldTest: Sendable, Hashable {
    /// `eq`: the value equals the operand.
    case eq(JSONValue)
    /// `ne`: the value is missing or does not equal the operand.
    case ne(JSONValue)
    /// `gt`: greater than a number or a string.
    case gt(JSONValue)
    /// `gte`: greater than or equal.
    case gte(JSONValue)
    /// `lt`: less than.
    case lt(JSONValue)
    /// `lte`: less than or equal.
    case lte(JSONValue)
    /// `contains`: a string value contains the operand string, or an array value has an element
    /// equal to the operand.
    case contains(JSONValue)
    /// `in`: the value equals one of the operands.
    case oneOf([JSONValue])
    /// `exists`: whether the field is present (a JSON `null` is present).
    case exists(Bool)
    /// `matches`: a string, number or boolean value, as text, matches the regular expression.
    case matches(ConditionPattern)

    /// The result for a field's value, `nil` when the field is missing.
    public func evaluate(_ value: FieldValue?) -> Bool {
        guard let value else {
            switch self {
            case .ne: return true
            case .exists(let expected): return !expected
            default: return false
            }
        }
        let scalar = ConditionScalar(value)
        switch self {
        case .eq(let operand): return scalar.equals(operand)
        case .ne(let operand): return !scalar.equals(operand)
        case .gt(let operand): return scalar.order(against: operand).map { $0 > 0 } ?? false
        case .gte(let operand): return scalar.order(against: operand).map { $0 >= 0 } ?? false
        case .lt(let operand): return scalar.order(against: operand).map { $0 < 0 } ?? false
        case .lte(let operand): return scalar.order(against: operand).map { $0 <= 0 } ?? false
        case .contains(let operand): return scalar.contains(operand)
        case .oneOf(let operands): return operands.contains { scalar.equals($0) }
        case .exists(let expected): return expected
        case .matches(let pattern): return scalar.matchText.map(pattern.matches) ?? false
        }
    }
}
