/// One problem in a definition file: where it is and what was expected.
public struct DefinitionProblem: Sendable, Hashable, CustomStringConvertible {
    /// The file, as given to the loader.
    public var file: String
    /// The key path inside the file, e.g. `steps[2].send.qos`; empty for the whole file.
    public var path: String
    public var message: String

    public init(file: String, path: String, message: String) {
        self.file = file
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? "\(file): \(message)" : "\(file): \(path): \(message)" }
}

/// Every problem found while loading definitions; loading reports them all at once.
public struct DefinitionError: Error, Sendable, CustomStringConvertible {
    public var problems: [DefinitionProblem]

    public init(problems: [DefinitionProblem]) { self.problems = problems }

    public var description: String {
        let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
        return ([count + ":"] + problems.map { "  " + $0.description }).joined(separator: "\n")
    }
}
