/// Why a document could not go through its process.
public struct ProcessError: Error, Sendable, CustomStringConvertible {
    public var step: Int?
    public var message: String
    /// Retrying cannot help (a message too large, a template that yields no topic).
    public var permanent: Bool

    public init(step: Int? = nil, message: String, permanent: Bool) {
        self.step = step
        self.message = message
        self.permanent = permanent
    }

    public var description: String { message }
}
