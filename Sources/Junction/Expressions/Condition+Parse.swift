import Foundation

extension Condition {
    /// The operators of a field test, as written in definitions.
    public static let operators = ["eq", "ne", "gt", "gte", "lt", "lte", "contains", "in", "exists", "matches"]
    static let combinators = ["all", "any", "not"]
    static let keys = Set(["field"] + combinators + operators)
    static let shapes = "{\"field\": \"payload.x\", \"eq\": 1}, {\"all\": [...]}, {\"any\": [...]} or {\"not\": {...}}"

    /// Reads a condition from a definition value at key path `path` (e.g. `steps[0].filter`),
    /// recording every problem in `reader` with its key path (`steps[0].filter.gt`,
    /// `steps[0].filter.all[1].field`...); `nil` when there was any.
    ///
    /// A field test may have several operators, which must all hold
    /// (`{"field": "payload.celsius", "gte": 0, "lt": 100}`). `all` and `any` need at least one
    /// condition. Regular expressions of `matches` are compiled here.
    public static func parse(_ value: JSONValue, path: String, reader: DefinitionReader) -> Condition? {
        let problemsBefore = reader.problems.count
        let condition = parseUnchecked(value, path: path, reader: reader)
        return reader.problems.count == problemsBefore ? condition : nil
    }

    private static func parseUnchecked(_ value: JSONValue, path: String, reader: DefinitionReader) -> Condition? {
        guard let object = reader.object(value, path, allowed: keys) else { return nil }
        let usedCombinators = combinators.filter { object[$0] != nil }
        let usedOperators = operators.filter { object[$0] != nil }

        if let combinator = usedCombinators.first {
            let others = usedCombinators.dropFirst() + (object["field"] == nil ? [] : ["field"]) + usedOperators
            if !others.isEmpty {
                reader.problem(path, "\"\(combinator)\" cannot be combined with \(others.map { "\"\($0)\"" }.joined(separator: ", ")); expected \(shapes)")
            }
            let childPath = reader.join(path, combinator)
            guard let child = object[combinator] else { return nil }
            if combinator == "not" { return parse(child, path: childPath, reader: reader).map(Condition.not) }
            guard let list = reader.array(child, childPath) else { return nil }
            if list.isEmpty { reader.problem(childPath, "expected at least one condition") }
            let conditions = list.enumerated().map { parse($1, path: "\(childPath)[\($0)]", reader: reader) }
            let valid = conditions.compactMap { $0 }
            guard valid.count == conditions.count else { return nil }
            return combinator == "all" ? .all(valid) : .any(valid)
        }

        guard let fieldValue = object["field"] else {
            if usedOperators.isEmpty {
                reader.problem(path, "expected a condition: \(shapes)")
            } else {
                reader.problem(reader.join(path, "field"), "is required with \(usedOperators.map { "\"\($0)\"" }.joined(separator: ", ")): the field to test, e.g. \"payload.celsius\"")
            }
            return nil
        }
        let fieldPath = parseField(fieldValue, path: reader.join(path, "field"), reader: reader)
        // An unknown key was reported already; it is most likely the misspelt operator.
        if usedOperators.isEmpty, object.keys.allSatisfy(keys.contains) {
            reader.problem(path, "expected an operator with \"field\": \(operators.joined(separator: ", "))")
        }
        let tests = usedOperators.compactMap { name in
            object[name].flatMap { parseTest(name, $0, path: reader.join(path, name), reader: reader) }
        }
        guard let fieldPath, tests.count == usedOperators.count, !tests.isEmpty else { return nil }
        return tests.count == 1 ? .field(fieldPath, tests[0]) : .all(tests.map { .field(fieldPath, $0) })
    }

    private static func parseField(_ value: JSONValue, path: String, reader: DefinitionReader) -> FieldPath? {
        guard let text = reader.string(value, path) else { return nil }
        do {
            return try FieldPath(parsing: text)
        } catch {
            reader.problem(path, "\(error.message) (column \(error.column) of \"\(text)\")")
            return nil
        }
    }

    private static func parseTest(_ name: String, _ value: JSONValue, path: String, reader: DefinitionReader) -> FieldTest? {
        switch name {
        case "eq": return .eq(value)
        case "ne": return .ne(value)
        case "gt", "gte", "lt", "lte":
            switch value {
            case .integer, .double, .string: break
            default:
                reader.problem(path, "expected a number or a string, found \(value.kind)")
                return nil
            }
            switch name {
            case "gt": return .gt(value)
            case "gte": return .gte(value)
            case "lt": return .lt(value)
            default: return .lte(value)
            }
        case "contains":
            switch value {
            case .array, .object:
                reader.problem(path, "expected a string, number, boolean or null, found \(value.kind)")
                return nil
            default: return .contains(value)
            }
        case "in":
            guard let values = reader.array(value, path) else { return nil }
            if values.isEmpty {
                reader.problem(path, "expected at least one value")
                return nil
            }
            return .oneOf(values)
        case "exists":
            return reader.bool(value, path).map(FieldTest.exists)
        default: // matches
            guard let pattern = reader.string(value, path) else { return nil }
            do {
                return .matches(try ConditionPattern(pattern))
            } catch {
                reader.problem(path, "is not a valid regular expression: \(error.localizedDescription)")
                return nil
            }
        }
    }
}
