import Foundation
import Junction
import Testing

/// `docs/definitions.md` names every key the loader accepts: the keys of every table
/// (``ProcessKeys``, ``ConnectorKeys``, ``BrokerKeys``) appear in backticks on the page.
@Suite("Definitions documentation")
struct DefinitionsDocumentationTests {
    /// Every key of every table a definition file is read with.
    static var acceptedKeys: [String] {
        var keys = ProcessKeys.process.allKeyNames(references: ProcessKeys.references)
        for (_, table) in ConnectorKeys.kinds {
            keys += table.allKeyNames(references: [:]).filter { !keys.contains($0) }
        }
        return keys
    }

    /// The words of the page's inline code spans (`` `listen.qos` `` gives listen and qos), fenced
    /// blocks left out.
    static func codeWords(_ page: String) -> Set<String> {
        var words: Set<String> = []
        var inFence = false
        for line in page.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.trimmingCharacters(in: .whitespaces).hasPrefix("```") {
                inFence.toggle()
                continue
            }
            guard !inFence else { continue }
            for (index, span) in line.split(separator: "`", omittingEmptySubsequences: false).enumerated() where index % 2 == 1 {
                let separators = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "$_")).inverted
                words.formUnion(span.components(separatedBy: separators).filter { !$0.isEmpty })
            }
        }
        return words
    }

    @Test("Every key a definition accepts appears in backticks in docs/definitions.md")
    func everyKeyIsDocumented() throws {
        let page = try String(contentsOf: ShippedExamples.repository.appendingPathComponent("docs/definitions.md"), encoding: .utf8)
        let words = Self.codeWords(page)
        let missing = Self.acceptedKeys.filter { !words.contains($0) }
        #expect(missing.isEmpty, "keys not in backticks in docs/definitions.md: \(missing.joined(separator: ", "))")
    }

    @Test("The tables list the keys of nested objects, steps and conditions")
    func tablesReachNestedKeys() {
        let keys = Set(Self.acceptedKeys)
        for key in ["$schema", "listen", "retainHandling", "archiving", "retention", "deadLetter", "backoff", "send", "otherwise",
                    "when", "matches", "storeAndForward", "whenFull", "clientCertificates", "usernameFrom", "remotePrefix", "aclFile"] {
            #expect(keys.contains(key), "\(key)")
        }
    }
}
