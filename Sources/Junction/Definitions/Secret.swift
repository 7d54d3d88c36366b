import Foundation

/// A value from a definition that may hold a secret (`${env:NAME}`, `${file:PATH}`): resolved
/// once at load, never printed. Its description is `***` so it cannot reach a log line, a
/// `validate` report or tracking by accident; ``reveal()`` is for the one place that sends it.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible {
    private let value: String

    public init(_ value: String) { self.value = value }

    /// The secret itself, for the request or CONNECT that needs it.
    public func reveal() -> String { value }

    public var description: String { "***" }
    public var debugDescription: String { "***" }
}

extension DefinitionReader {
    /// Resolves `${env:NAME}` and `${file:PATH}` (relative to the definition's folder) inside a
    /// string; unset variables and unreadable files are problems naming the reference, never
    /// its value. The file's content loses one trailing newline.
    public func resolveReferences(_ text: String, _ path: String) -> String? {
        guard text.contains("${") else { return text }
        var result = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${") {
            result += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                problem(path, "unterminated ${...} reference")
                return nil
            }
            let reference = rest[start.upperBound..<end]
            rest = rest[rest.index(after: end)...]
            if reference.hasPrefix("env:") {
                let name = String(reference.dropFirst(4))
                guard let value = ProcessInfo.processInfo.environment[name] else {
                    problem(path, "environment variable \(name) is not set")
                    return nil
                }
                result += value
            } else if reference.hasPrefix("file:") {
                var file = String(reference.dropFirst(5))
                if !file.hasPrefix("/") {
                    file = URL(fileURLWithPath: self.file).deletingLastPathComponent().appendingPathComponent(file).path
                }
                guard let data = FileManager.default.contents(atPath: file), var value = String(data: data, encoding: .utf8) else {
                    problem(path, "cannot read secret file \(file)")
                    return nil
                }
                if value.hasSuffix("\n") { value.removeLast() }
                result += value
            } else {
                problem(path, "unknown reference ${\(reference)}: expected ${env:NAME} or ${file:PATH}")
                return nil
            }
        }
        return result + rest
    }

    /// A string that may carry `${env:...}` / `${file:...}`, kept as a ``Secret``.
    public func secret(_ value: JSONValue?, _ path: String) -> Secret? {
        guard let text = string(value, path) else { return nil }
        return resolveReferences(text, path).map(Secret.init)
    }
}
