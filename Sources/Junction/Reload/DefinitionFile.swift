import Foundation

/// A process definition file as read for a reload.
public struct DefinitionFile: Sendable, Hashable {
    public var path: String
    public var contents: Data

    public init(path: String, contents: Data) {
        self.path = path
        self.contents = contents
    }
}
