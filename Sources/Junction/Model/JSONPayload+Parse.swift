import CJSONC
import NIOCore

extension JSONPayload {
    /// Parses `bytes` as one JSON text (RFC 8259, UTF-8); `nil` when they are anything else.
    ///
    /// Invalid JSON, anything but whitespace after the value, invalid UTF-8, the json-c
    /// extensions (`NaN`, `'quotes'`...) and nesting deeper than 64 all give `nil`, never a
    /// partial value. The bytes are checked by ``StrictJSONSyntax`` and then parsed by json-c
    /// (`json_tokener_parse_ex` with the length, `JSON_TOKENER_STRICT`,
    /// `JSON_TOKENER_VALIDATE_UTF8`, and a tokener limited to 64 nested objects and arrays);
    /// the buffer is not modified.
    public static func parse(_ bytes: ByteBuffer) -> JSONPayload? {
        bytes.withUnsafeReadableBytes { parse(rawBytes: $0) }
    }

    /// Parses UTF-8 JSON text; see ``parse(_:)``.
    public static func parse(_ text: String) -> JSONPayload? {
        var text = text
        return text.withUTF8 { parse(rawBytes: UnsafeRawBufferPointer($0)) }
    }

    /// Parses JSON bytes; see ``parse(_:)``.
    public static func parse(bytes: [UInt8]) -> JSONPayload? {
        bytes.withUnsafeBytes { parse(rawBytes: $0) }
    }

    /// Parses bytes that must stay valid for the duration of the call.
    public static func parse(rawBytes bytes: UnsafeRawBufferPointer) -> JSONPayload? {
        guard let base = bytes.baseAddress, bytes.count < Int(Int32.max),
              StrictJSONSyntax.isValid(bytes) else { return nil }
        // json-c counts the value inside the innermost container as one more level.
        guard let tokener = json_tokener_new_ex(Int32(StrictJSONSyntax.maximumDepth + 1)) else { return nil }
        defer { json_tokener_free(tokener) }
        json_tokener_set_flags(tokener, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8)

        let length = Int32(bytes.count)
        var object = json_tokener_parse_ex(tokener, base.assumingMemoryBound(to: CChar.self), length)
        var error = json_tokener_get_error(tokener)
        var consumedAll = json_tokener_get_parse_end(tokener) == bytes.count
        if object == nil, error == json_tokener_continue {
            // A number at the very end has no terminator yet: json-c wants the final NUL to know
            // the input ended. Feed it as a continuation (the tokener keeps its own state).
            object = json_tokener_parse_ex(tokener, "", 1)
            error = json_tokener_get_error(tokener)
            consumedAll = true
        }
        // `null` parses to a NULL object with success; any other NULL is an error.
        guard error == json_tokener_success, consumedAll else {
            json_object_put(object)
            return nil
        }
        return JSONPayload(owning: object)
    }
}
