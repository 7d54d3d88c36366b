import ArgumentParser
import Foundation
import Junction

/// `junction validate`: loads every definition strictly and reports all problems at once.
struct ValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check every process and connector definition; exit 1 listing all problems, 0 when all are valid (warnings too)."
    )

    @Option(help: "Folder of process definitions.")
    var processes = "Processes"

    @Option(help: "Folder of connector definitions.")
    var connectors = "Connectors"

    func run() throws {
        let definitions = DefinitionLoader.load(processes: processes, connectors: connectors)
        for warning in definitions.warnings { printError("warning: \(warning)") }
        for warning in definitions.accessWarnings { printError("warning: \(warning)") }
        guard definitions.problems.isEmpty else {
            printError(DefinitionError(problems: definitions.problems).description)
            throw ExitCode(1)
        }
        print("valid: \(definitions.processes.count) processes, \(definitions.connectors.count) connectors")
    }
}
