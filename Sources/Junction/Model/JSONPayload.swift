import CJSONC
import Synchronization

/// A JSON value held by json-c: a message payload parsed with ``parse(_:)``, a value
/// inside one (``value(at:)``), or a value built with the `make` functions.
///
/// **Ownership.** Every tree has one *root* `JSONPayload` that owns exactly one json-c reference
/// to its `json_object` and releases it with `json_object_put` in `deinit`. A value inside the
/// tree (from ``value(at:)``) borrows its node and keeps the root alive with a strong Swift
/// reference; it never touches json-c reference counts. JSON `null` is json-c's `NULL` pointer.
///
/// **Concurrency.** A tree is never modified after it was parsed or built, and the json-c calls
/// used on it are reads, with one exception: `json_object_to_json_string_ext` formats into a buffer
/// cached inside the node, so ``serialized()`` runs under a lock owned by the root. That is why
/// the type can be `Sendable`; values are shared between tasks by reference, never copied.
public final class JSONPayload: Sendable, CustomStringConvertible {
    /// The kind of JSON value (json-c's `json_type`). `int` is a number written without a
    /// fraction or exponent, `double` any other number.
    public enum Kind: Sendable, Hashable {
        case object, array, string, int, double, bool, null
    }

    /// The json-c node; `nil` is JSON null. `nonisolated(unsafe)` only because `OpaquePointer`
    /// is not `Sendable`: the pointer never changes, the node is never mutated after the tree is
    /// complete (see the type's documentation), and serialisation is serialised by `lock`.
    nonisolated(unsafe) let object: OpaquePointer?

    /// The root that owns `object`'s tree, or `nil` when this value is the root and owns it.
    let owner: JSONPayload?

    /// Serialises calls that format into json-c's per-node print buffer. Only the root's lock is used.
    private let lock = Mutex(())

    /// Takes over one json-c reference to `object` (a tree nobody else references).
    init(owning object: OpaquePointer?) {
        self.object = object
        self.owner = nil
    }

    /// A node inside the tree of `root`.
    private init(borrowing object: OpaquePointer?, root: JSONPayload) {
        self.object = object
        self.owner = root
    }

    deinit {
        if owner == nil { json_object_put(object) }
    }

    private var root: JSONPayload { owner ?? self }

    /// What this value is.
    public var kind: Kind {
        switch json_object_get_type(object) {
        case json_type_object: .object
        case json_type_array: .array
        case json_type_string: .string
        case json_type_int: .int
        case json_type_double: .double
        case json_type_boolean: .bool
        default: .null
        }
    }

    /// The value at `path` below this one (`[.key("a"), .index(0)]` is `a[0]`); `nil` when a key
    /// is absent, an index is out of range, or a step meets a value that is not an object/array.
    /// A present JSON `null` is a value of kind ``Kind/null``.
    public func value(at path: [PathComponent]) -> JSONPayload? {
        var node = object
        for component in path {
            switch component {
            case .key(let key):
                guard json_object_get_type(node) == json_type_object else { return nil }
                var child: OpaquePointer?
                guard json_object_object_get_ex(node, key, &child) != 0 else { return nil }
                node = child
            case .index(let index):
                guard json_object_get_type(node) == json_type_array, index >= 0,
                      index < json_object_array_length(node) else { return nil }
                node = json_object_array_get_idx(node, index)
            }
        }
        return path.isEmpty ? self : JSONPayload(borrowing: node, root: root)
    }

    /// The text of a JSON string; `nil` for every other kind (numbers are not converted).
    public var stringValue: String? {
        guard json_object_get_type(object) == json_type_string, let chars = json_object_get_string(object) else { return nil }
        let length = Int(json_object_get_string_len(object))
        return chars.withMemoryRebound(to: UInt8.self, capacity: length) {
            String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
        }
    }

    /// The value of a JSON number (integer or fraction) as a `Double`; `nil` for other kinds.
    public var doubleValue: Double? {
        switch json_object_get_type(object) {
        case json_type_double: json_object_get_double(object)
        case json_type_int: isLargeUnsigned ? Double(json_object_get_uint64(object)) : Double(json_object_get_int64(object))
        default: nil
        }
    }

    /// The value of a JSON integer, or of a fraction with an exact `Int64` value (`3.0`); `nil`
    /// otherwise, and for integers above `Int64.max`. json-c reads integers beyond `UInt64.max`
    /// as `UInt64.max`.
    public var int64Value: Int64? {
        switch json_object_get_type(object) {
        case json_type_int: isLargeUnsigned ? nil : json_object_get_int64(object)
        case json_type_double: Int64(exactly: json_object_get_double(object))
        default: nil
        }
    }

    /// An integer json-c holds as `uint64` above `Int64.max` (`json_object_get_int64` clamps those).
    var isLargeUnsigned: Bool {
        json_object_get_int64(object) == Int64.max && json_object_get_uint64(object) > UInt64(Int64.max)
    }

    /// The value of `true` or `false`; `nil` for other kinds.
    public var boolValue: Bool? {
        json_object_get_type(object) == json_type_boolean ? json_object_get_boolean(object) != 0 : nil
    }

    /// The number of elements of an array or members of an object; `nil` for other kinds.
    public var count: Int? {
        switch json_object_get_type(object) {
        case json_type_array: json_object_array_length(object)
        case json_type_object: Int(json_object_object_length(object))
        default: nil
        }
    }

    /// The keys of an object in json-c's order (the order of the text or of building); empty for other kinds.
    public var keys: [String] {
        guard json_object_get_type(object) == json_type_object else { return [] }
        var keys: [String] = []
        var iterator = json_object_iter_begin(object)
        var end = json_object_iter_end(object)
        while json_object_iter_equal(&iterator, &end) == 0 {
            keys.append(String(cString: json_object_iter_peek_name(&iterator)))
            json_object_iter_next(&iterator)
        }
        return keys
    }

    /// Compact JSON text (`json_object_to_json_string_ext` with `JSON_C_TO_STRING_PLAIN`, and
    /// `JSON_C_TO_STRING_NOSLASHESCAPE` so `/` is not written as `\/`). Numbers that were parsed
    /// keep their original text (`1.50` stays `1.50`).
    public func serialized() -> String {
        root.lock.withLock { _ in
            var length = 0
            guard let text = json_object_to_json_string_length(object, JSONPayload.serializationFlags, &length) else { return "null" }
            return text.withMemoryRebound(to: UInt8.self, capacity: length) {
                String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
            }
        }
    }

    /// Calls `body` with the compact JSON text's bytes (valid only during the call), without
    /// going through a Swift `String`.
    public func withSerializedBytes<Result>(_ body: (UnsafeRawBufferPointer) throws -> Result) rethrows -> Result {
        try root.lock.withLock { _ in
            var length = 0
            let text = json_object_to_json_string_length(object, JSONPayload.serializationFlags, &length)
            return try body(UnsafeRawBufferPointer(start: text, count: text == nil ? 0 : length))
        }
    }

    static let serializationFlags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE

    /// The same as ``serialized()``.
    public var description: String { serialized() }

    /// The text used when a value is put into text (templates, `matches`): a string's own text
    /// without quotes, compact JSON for everything else (`21.5`, `true`, `null`, `{"a":1}`).
    public var text: String { stringValue ?? serialized() }

    /// A new json-c reference to a copy of this value's node, for adding to a tree being built
    /// (`json_object_deep_copy`, which only reads the source). The caller owns the result.
    func ownedCopy() -> OpaquePointer? {
        guard let object else { return nil }
        var copy: OpaquePointer?
        guard json_object_deep_copy(object, &copy, nil) == 0 else {
            json_object_put(copy)
            return nil
        }
        return copy
    }
}

extension JSONPayload: Equatable {
    /// Structural equality (`json_object_equal`): same kinds, same values, objects with the same
    /// members in any order. An integer never equals a fraction.
    public static func == (lhs: JSONPayload, rhs: JSONPayload) -> Bool {
        json_object_equal(lhs.object, rhs.object) != 0
    }
}
