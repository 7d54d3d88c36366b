import ArgumentParser

/// `junction`: the daemon and its tools.
@main
struct JunctionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "junction",
        abstract: "Junction: integration processes on an embedded MQTT 3.1.1 / 5.0 broker.",
        subcommands: [RunCommand.self, BrokerCommand.self, ValidateCommand.self, SchemaCommand.self, BenchCommand.self, PubCommand.self, SubCommand.self, TrackCommand.self, PasswdCommand.self]
    )
}
