import ArgumentParser

@main
struct JunctionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "junction",
        abstract: "Junction: integration processes on an embedded MQTT broker.",
        subcommands: []
    )
}
