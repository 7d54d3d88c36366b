import Foundation

/// Walks one definition file strictly: every key must be known, every value of the expected
/// type; problems are collected with their key path instead of stopping at the first.
public final class DefinitionReader {
    public let file: String
    public private(set) var problems: [DefinitionProblem] = []

    public init(file: String) { self.file = file }

    /// Parses `data` as JSON; nil (with a problem recorded) when it is not valid JSON.
    public func parse(_ data: Data) -> JSONValue? {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch let DecodingError.dataCorrupted(context) {
            let detail = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            problem("", "is not valid JSON" + (detail.map { ": \($0)" } ?? ""))
        } catch {
            problem("", "is not valid JSON: \(error)")
        }
        return nil
    }

    public func problem(_ path: String, _ message: String) {
        problems.append(DefinitionProblem(file: file, path: path, message: message))
    }

    /// Throws every problem recorded so far, if any.
    public func check() throws {
        if !problems.isEmpty { throw DefinitionError(problems: problems) }
    }

    /// An object whose keys must all be in `allowed` (nil: any key); unknown keys are reported.
    public func object(_ value: JSONValue?, _ path: String, allowed: Set<String>?) -> [String: JSONValue]? {
        guard let value else { return nil }
        guard case .object(let object) = value else {
            problem(path, "expected an object, found \(value.kind)")
            return nil
        }
        for key in object.keys.sorted() where allowed.map({ !$0.contains(key) }) ?? false {
            problem(join(path, key), "unknown key; expected one of: \((allowed ?? []).sorted().joined(separator: ", "))")
        }
        return object
    }

    public func array(_ value: JSONValue?, _ path: String) -> [JSONValue]? {
        guard let value else { return nil }
        guard case .array(let array) = value else {
            problem(path, "expected an array, found \(value.kind)")
            return nil
        }
        return array
    }

    public func string(_ value: JSONValue?, _ path: String) -> String? {
        guard let value else { return nil }
        guard case .string(let string) = value else {
            problem(path, "expected a string, found \(value.kind)")
            return nil
        }
        return string
    }

    public func bool(_ value: JSONValue?, _ path: String) -> Bool? {
        guard let value else { return nil }
        guard case .bool(let bool) = value else {
            problem(path, "expected true or false, found \(value.kind)")
            return nil
        }
        return bool
    }

    public func integer(_ value: JSONValue?, _ path: String, in range: ClosedRange<Int>) -> Int? {
        guard let value else { return nil }
        guard case .integer(let integer) = value else {
            problem(path, "expected an integer from \(range.lowerBound) to \(range.upperBound), found \(value.kind)")
            return nil
        }
        guard range.contains(integer) else {
            problem(path, "expected an integer from \(range.lowerBound) to \(range.upperBound), found \(integer)")
            return nil
        }
        return integer
    }

    public func number(_ value: JSONValue?, _ path: String, where valid: (Double) -> Bool, expected: String) -> Double? {
        guard let value else { return nil }
        let number: Double
        switch value {
        case .integer(let i): number = Double(i)
        case .double(let d): number = d
        default:
            problem(path, "expected \(expected), found \(value.kind)")
            return nil
        }
        guard valid(number) else {
            problem(path, "expected \(expected), found \(number)")
            return nil
        }
        return number
    }

    /// A size such as `"256KB"`, `"1MB"` or a plain number of bytes, within `range`.
    public func size(_ value: JSONValue?, _ path: String, in range: ClosedRange<Int>) -> Int? {
        guard let value else { return nil }
        let bytes: Int?
        switch value {
        case .integer(let i): bytes = i
        case .string(let s): bytes = Units.bytes(s)
        default: bytes = nil
        }
        guard let bytes, range.contains(bytes) else {
            problem(path, "expected a size like \"512KB\" or \"1MB\" from \(Units.format(bytes: range.lowerBound)) to \(Units.format(bytes: range.upperBound)), found \(describe(value))")
            return nil
        }
        return bytes
    }

    /// A duration such as `"500ms"`, `"10s"`, `"5m"`, `"1h"`, `"30d"`, in milliseconds.
    public func duration(_ value: JSONValue?, _ path: String) -> Int64? {
        guard let value else { return nil }
        guard case .string(let s) = value, let millis = Units.milliseconds(s) else {
            problem(path, "expected a duration like \"500ms\", \"10s\", \"5m\", \"1h\" or \"30d\", found \(describe(value))")
            return nil
        }
        return millis
    }

    private func describe(_ value: JSONValue) -> String {
        switch value {
        case .string(let s): "\"\(s)\""
        case .integer(let i): "\(i)"
        default: value.kind
        }
    }

    /// `a.b`, or `b` at the top.
    public func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}
