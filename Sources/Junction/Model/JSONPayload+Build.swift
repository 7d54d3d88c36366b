import CJSONC

/// Builders for new JSON values (the output of a `map` step). Each returns a new root that owns
/// its json-c tree. Values passed in as members or elements are copied into the new tree
/// (`json_object_deep_copy`), so the arguments stay untouched and independently owned.
extension JSONPayload {
    /// An object with `members` in the given order; a repeated key keeps its last value.
    public static func make(object members: [(key: String, value: JSONPayload)]) -> JSONPayload {
        let object = json_object_new_object()
        for (key, value) in members { JSONBuild.add(value.ownedCopy(), key: key, to: object) }
        return JSONPayload(owning: object)
    }

    /// An array of `elements`.
    public static func make(array elements: [JSONPayload]) -> JSONPayload {
        let array = json_object_new_array_ext(Int32(clamping: elements.count))
        for element in elements { JSONBuild.append(element.ownedCopy(), to: array) }
        return JSONPayload(owning: array)
    }

    /// A JSON string.
    public static func make(string: String) -> JSONPayload {
        JSONPayload(owning: JSONBuild.string(string))
    }

    /// A JSON integer.
    public static func make(integer: Int64) -> JSONPayload {
        JSONPayload(owning: json_object_new_int64(integer))
    }

    /// A JSON number written in the shortest form that reads back as `number` (`0.1`, `21.5`,
    /// `1e+20`); NaN and infinities, which JSON cannot hold, become `null`.
    public static func make(number: Double) -> JSONPayload {
        JSONPayload(owning: JSONBuild.double(number))
    }

    /// `true` or `false`.
    public static func make(bool: Bool) -> JSONPayload {
        JSONPayload(owning: json_object_new_boolean(bool ? 1 : 0))
    }

    /// JSON `null`.
    public static func makeNull() -> JSONPayload {
        JSONPayload(owning: nil)
    }

    /// The json-c form of a definition value (object members in key order, since `JSONValue`
    /// does not keep the order of the file).
    public static func make(_ value: JSONValue) -> JSONPayload {
        JSONPayload(owning: JSONBuild.object(from: value))
    }

    /// This value as a definition value: integers stay integers, fractions doubles (an integer
    /// above `Int64.max` becomes a double).
    public var jsonValue: JSONValue {
        switch kind {
        case .null: return .null
        case .bool: return .bool(boolValue ?? false)
        case .int: return int64Value.map { .integer(Int($0)) } ?? .double(doubleValue ?? 0)
        case .double: return .double(doubleValue ?? 0)
        case .string: return .string(stringValue ?? "")
        case .array:
            return .array((0..<(count ?? 0)).compactMap { value(at: [.index($0)])?.jsonValue })
        case .object:
            var members: [String: JSONValue] = [:]
            for key in keys { members[key] = value(at: [.key(key)])?.jsonValue }
            return .object(members)
        }
    }
}

/// Building json-c trees. Every function returns a new reference the caller owns (or `nil`, JSON
/// null); `add` and `append` take over the reference they are given, also when json-c refuses it.
enum JSONBuild {
    static func string(_ string: String) -> OpaquePointer? {
        var string = string
        return string.withUTF8 { utf8 in
            guard let base = utf8.baseAddress, !utf8.isEmpty else { return json_object_new_string_len("", 0) }
            return base.withMemoryRebound(to: CChar.self, capacity: utf8.count) {
                json_object_new_string_len($0, Int32(clamping: utf8.count))
            }
        }
    }

    static func double(_ number: Double) -> OpaquePointer? {
        guard number.isFinite else { return nil }
        // Swift's description is the shortest round-tripping form and valid JSON.
        return json_object_new_double_s(number, number.description)
    }

    static func object(from value: JSONValue) -> OpaquePointer? {
        switch value {
        case .null: return nil
        case .bool(let bool): return json_object_new_boolean(bool ? 1 : 0)
        case .integer(let integer): return json_object_new_int64(Int64(integer))
        case .double(let number): return double(number)
        case .string(let text): return string(text)
        case .array(let elements):
            let array = json_object_new_array_ext(Int32(clamping: elements.count))
            for element in elements { append(object(from: element), to: array) }
            return array
        case .object(let members):
            let result = json_object_new_object()
            for key in members.keys.sorted() { add(object(from: members[key] ?? .null), key: key, to: result) }
            return result
        }
    }

    static func add(_ value: OpaquePointer?, key: String, to object: OpaquePointer?) {
        if json_object_object_add(object, key, value) != 0 { json_object_put(value) }
    }

    static func append(_ value: OpaquePointer?, to array: OpaquePointer?) {
        if json_object_array_add(array, value) != 0 { json_object_put(value) }
    }
}
