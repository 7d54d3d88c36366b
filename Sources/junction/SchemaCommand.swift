import ArgumentParser
import Junction

/// `junction schema`: prints the JSON Schema of a kind of definition file, generated from the
/// key tables the loader checks.
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the JSON Schema (draft 2020-12) of process, connector or broker definitions.",
        discussion: "The schemas are kept in docs/schema/; a definition names its schema with \"$schema\" so editors complete and check its keys."
    )

    @Argument(help: "The kind of definition: process, connector or broker.")
    var kind: DefinitionSchema.Kind

    func run() {
        print(DefinitionSchema.text(for: kind), terminator: "")
    }
}

extension DefinitionSchema.Kind: ExpressibleByArgument {}
