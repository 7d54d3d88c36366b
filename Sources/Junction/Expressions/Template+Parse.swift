extension Template {
    /// Splits template text into literal text and fields.
    static func segments(of text: String) throws(TemplateError) -> [Segment] {
        let characters = Array(text)
        var segments: [Segment] = []
        var literal = ""
        var index = 0
        while index < characters.count {
            guard characters[index] == "{", index + 1 < characters.count, characters[index + 1] == "{" else {
                literal.append(characters[index])
                index += 1
                continue
            }
            if !literal.isEmpty {
                segments.append(.text(literal))
                literal = ""
            }
            let open = index
            var parser = FieldPathParser(characters: characters, position: index + 2)
            parser.skipSpaces()
            let path = try parser.parsePath()
            parser.skipSpaces()
            guard parser.current == "}", parser.position + 1 < characters.count, characters[parser.position + 1] == "}" else {
                let found = parser.current.map { "found \"\($0)\"" } ?? "found the end of the text"
                throw parser.error("expected }} to close the {{ at column \(open + 1), \(found)")
            }
            segments.append(.field(path))
            index = parser.position + 2
        }
        if !literal.isEmpty { segments.append(.text(literal)) }
        return segments
    }
}
