import Foundation

/// Reads a field path from characters, for ``FieldPath/init(parsing:)`` and for the `{{...}}`
/// of a ``Template`` (which shares the characters so columns count from the template's start).
struct FieldPathParser {
    let characters: [Character]
    var position: Int

    static let expectedField = "expected a field: id, topic, topic[N], payload, payload.a.b[0], properties.name or now"

    var current: Character? { position < characters.count ? characters[position] : nil }

    func error(_ message: String, at position: Int? = nil) -> TemplateError {
        TemplateError(column: (position ?? self.position) + 1, message: message)
    }

    /// A path at the current position; stops at the first character that cannot continue it.
    mutating func parsePath() throws(TemplateError) -> FieldPath {
        let start = position
        let word = readName(allowingDots: false)
        switch word {
        case "id": return .id
        case "now": return .now
        case "topic":
            guard current == "[" else { return .topic }
            position += 1
            let level = try readIndex(what: "a topic level number (0 for the first level)")
            try expect("]", after: "the topic level")
            return .topicLevel(level)
        case "payload":
            var components: [PathComponent] = []
            while let character = current {
                if character == "." {
                    position += 1
                    let key = readName(allowingDots: false)
                    guard !key.isEmpty else { throw error("expected a key after \".\"") }
                    components.append(.key(key))
                } else if character == "[" {
                    position += 1
                    if current == "\"" {
                        components.append(.key(try readQuoted()))
                    } else {
                        components.append(.index(try readIndex(what: "an array index or a quoted key after \"[\"")))
                    }
                    try expect("]", after: "the index")
                } else {
                    break
                }
            }
            return .payload(components)
        case "properties":
            if current == "." {
                position += 1
                let name = readName(allowingDots: true)
                guard !name.isEmpty else { throw error("expected a property name after \"properties.\"") }
                return .property(name)
            }
            guard current == "[" else { throw error("expected .name or [\"name\"] after properties") }
            position += 1
            guard current == "\"" else { throw error("expected a quoted property name after \"[\"") }
            let name = try readQuoted()
            try expect("]", after: "the property name")
            return .property(name)
        case "":
            throw error(Self.expectedField)
        default:
            throw error("unknown field \"\(word)\"; " + Self.expectedField, at: start)
        }
    }

    /// Skips spaces, as allowed just inside `{{` and `}}`.
    mutating func skipSpaces() {
        while current == " " { position += 1 }
    }

    mutating func expect(_ character: Character, after what: String) throws(TemplateError) {
        guard current == character else { throw error("expected \"\(character)\" after \(what)") }
        position += 1
    }

    static func isNameCharacter(_ character: Character, allowingDots: Bool) -> Bool {
        switch character {
        case "[", "]", "{", "}", "\"": false
        case ".": allowingDots
        default: !character.isWhitespace
        }
    }

    static func isPlainName(_ name: String, allowingDots: Bool) -> Bool {
        !name.isEmpty && name.allSatisfy { isNameCharacter($0, allowingDots: allowingDots) }
    }

    /// `name` quoted for a path, with `"` and `\` escaped.
    static func quoted(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    mutating func readName(allowingDots: Bool) -> String {
        let start = position
        while let character = current, Self.isNameCharacter(character, allowingDots: allowingDots) { position += 1 }
        return String(characters[start..<position])
    }

    /// A non-negative decimal index.
    mutating func readIndex(what: String) throws(TemplateError) -> Int {
        let start = position
        while let character = current, character.isASCII, character.isNumber { position += 1 }
        guard position > start else { throw error("expected \(what)") }
        guard position - start <= 9, let index = Int(String(characters[start..<position])) else {
            throw error("index is too large", at: start)
        }
        return index
    }

    /// A `"..."` name with `\"` and `\\` escapes.
    mutating func readQuoted() throws(TemplateError) -> String {
        let open = position
        position += 1
        var name = ""
        while let character = current {
            position += 1
            switch character {
            case "\"":
                return name
            case "\\":
                guard let escaped = current, escaped == "\"" || escaped == "\\" else {
                    throw error("expected \\\" or \\\\ after a backslash in a quoted name")
                }
                name.append(escaped)
                position += 1
            default:
                name.append(character)
            }
        }
        throw error("expected a closing \" for the quoted name opened at column \(open + 1)")
    }
}
