import ArgumentParser
import Foundation
import MQTTClient
import MQTTCore
import NIOCore

/// `junction pub`: publish one message, a file, or standard input line by line, like
/// mosquitto_pub, with Junction's MQTT client.
struct PubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pub",
        abstract: "Publish MQTT messages (like mosquitto_pub).",
        discussion: """
            Exactly one of -m, -f, -s, -l or -n gives the message(s). Examples:
              junction pub -h 127.0.0.1 -t sensors/1 -m '{"t": 21.5}' -q 1
              junction pub -t files/in -f report.pdf -q 2 -V 5 -D publish content-type application/pdf
              tail -f app.log | junction pub -t logs -l

            Exit status: 0 every message was published (QoS 1/2: acknowledged by the broker); \
            1 the connection was refused or lost, or the broker refused a message; 2 invalid \
            arguments, properties or input (64 when the command line itself cannot be parsed).
            """,
        helpNames: [.long]
    )

    @OptionGroup var connection: MQTTToolOptions

    @Option(name: [.customShort("t"), .customLong("topic")], help: "Topic to publish to.")
    var topic: String

    @Option(name: [.customShort("m"), .customLong("message")], help: "The message.")
    var message: String?

    @Option(name: [.customShort("f"), .customLong("file")], help: "Send the contents of a file as the message.")
    var file: String?

    @Flag(name: [.customShort("s"), .customLong("stdin-file")], help: "Send all of standard input as one message.")
    var wholeStandardInput = false

    @Flag(name: [.customShort("l"), .customLong("stdin-line")], help: "Send each line of standard input as a message (empty lines are skipped).")
    var lines = false

    @Flag(name: [.customShort("n"), .customLong("null-message")], help: "Send an empty message.")
    var nullMessage = false

    @Option(name: [.customShort("q"), .customLong("qos")], help: "QoS: 0, 1 or 2.")
    var qos = 0

    @Flag(name: [.customShort("r"), .customLong("retain")], help: "Retain the message.")
    var retain = false

    @Option(name: .customLong("repeat"), help: "Publish the message this many times.")
    var repeatCount = 1

    @Option(name: .customLong("repeat-delay"), help: "Seconds between repeated messages.")
    var repeatDelay = 0.0

    func run() async throws {
        try await ToolExit.run("pub") {
            var configuration = try connection.configuration(tool: "pub")
            let properties = try ToolProperties(tokens: connection.properties, version: configuration.version)
            guard let qos = MQTTQoS(rawValue: UInt8(clamping: max(0, self.qos))), self.qos <= 2 else { throw ToolError.usage("invalid QoS \(self.qos)") }
            guard MQTTTopic.isValidName(topic) else { throw ToolError.usage("invalid topic \"\(topic)\"") }
            guard repeatCount >= 1, repeatDelay >= 0 else { throw ToolError.usage("--repeat needs a count ≥ 1 and a delay ≥ 0") }
            let sources = [message != nil, file != nil, wholeStandardInput, lines, nullMessage].filter { $0 }.count
            guard sources == 1 else { throw ToolError.usage("give exactly one of -m, -f, -s, -l or -n") }
            let payload = try fixedPayload()
            // Lines may come for a long time: stay connected through broker restarts then.
            configuration.reconnect = lines ? MQTTReconnectPolicy(maximumDelay: .seconds(5)) : .disabled
            if lines { configuration.offlineQueueLimit = 1_000 }
            try await MQTTClient.withConnection(configuration, logger: toolLogger("pub", debug: connection.debug)) { client in
                if let payload {
                    for index in 0..<repeatCount {
                        if index > 0 && repeatDelay > 0 { try await Task.sleep(for: .seconds(repeatDelay)) }
                        try await client.publish(to: topic, payload: payload, qos: qos, retain: retain, properties: properties.publish)
                    }
                    return
                }
                while let line = try await Self.nextLine() {
                    if line.isEmpty { continue }
                    try await client.publish(to: topic, string: line, qos: qos, retain: retain, properties: properties.publish)
                }
            }
        }
    }

    /// The message of -m, -f, -s or -n; nil for -l.
    private func fixedPayload() throws(ToolError) -> ByteBuffer? {
        if let message { return ByteBuffer(string: message) }
        if nullMessage { return ByteBuffer() }
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else { throw .usage("cannot read \(file)") }
            return ByteBuffer(bytes: data)
        }
        if wholeStandardInput { return ByteBuffer(bytes: FileHandle.standardInput.readDataToEndOfFile()) }
        return nil
    }

    /// The next line of standard input without its newline, read off the cooperative pool.
    private static func nextLine() async throws -> String? {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: readLine(strippingNewline: true)) }
        }
    }
}
