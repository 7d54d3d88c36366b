import ArgumentParser
import Foundation
import MQTTClient
import MQTTCore
import NIOCore

/// `junction sub`: subscribe and print messages, like mosquitto_sub, with Junction's MQTT client.
struct SubCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sub",
        abstract: "Subscribe and print MQTT messages (like mosquitto_sub).",
        discussion: """
            Prints each message's payload, `topic payload` with -v, or the -F format, then a \
            newline unless -N. -F sequences: %t topic, %p payload, %q QoS, %r retain, %m or %i \
            packet id, %l payload length, %x/%X hex payload, %C content type, %D correlation \
            data, %E message expiry, %F payload format, %R response topic, %S subscription id, \
            %A topic alias, %P user properties, %I ISO-8601 time, %U Unix time, %% a percent \
            sign; @X is strftime's %X; escapes \\n \\t \\r \\0 \\a \\e \\v \\\\. Examples:
              junction sub -h 127.0.0.1 -t 'sensors/#' -v
              junction sub -t orders -q 2 -c -i orders-tap -C 10 -F '%t %q %l\\n' -N

            Messages are acknowledged as they are printed; with -c (a persistent session) the \
            ones not printed yet stay with the broker for next time.

            Exit status: 0 done (-C count reached, -E, or interrupted); 1 the connection was \
            refused or lost, or a subscription was refused; 2 invalid arguments (64 when the \
            command line itself cannot be parsed); 27 the -W timeout passed first.
            """,
        helpNames: [.long]
    )

    @OptionGroup var connection: MQTTToolOptions

    @Option(name: [.customShort("t"), .customLong("topic")], help: "Topic filter; repeat for several.")
    var topics: [String] = []

    @Option(name: [.customShort("q"), .customLong("qos")], help: "Maximum QoS of the subscriptions.")
    var qos = 0

    @Option(name: [.customShort("C"), .customLong("count")], help: "Exit after this many messages.")
    var count: Int?

    @Flag(name: [.customShort("v"), .customLong("verbose")], help: "Print `topic payload`.")
    var verbose = false

    @Option(name: .customShort("F"), help: "Output format (see below); overrides -v.")
    var format: String?

    @Flag(name: [.customShort("N")], help: "No newline after each message.")
    var noNewline = false

    @Option(name: .customShort("W"), help: "Exit with status 27 after this many seconds.")
    var timeout: Int?

    @Flag(name: [.customShort("R")], help: "Do not print retained messages.")
    var skipRetained = false

    @Flag(name: .customLong("retained-only"), help: "Print only retained messages; exit at the first one that is not.")
    var retainedOnly = false

    @Flag(name: [.customShort("E")], help: "Exit once subscribed.")
    var exitAfterSubscribe = false

    @Flag(name: .customLong("nl"), help: "No Local (5.0): not the client's own messages.")
    var noLocal = false

    @Flag(name: .customLong("rap"), help: "Retain As Published (5.0).")
    var retainAsPublished = false

    @Option(name: .customLong("retain-handling"), help: "Retain Handling (5.0): 0 always, 1 new subscriptions only, 2 never.")
    var retainHandling = 0

    enum Outcome: Sendable { case done, timedOut }

    func run() async throws {
        try await ToolExit.run("sub") {
            var configuration = try connection.configuration(tool: "sub")
            let properties = try ToolProperties(tokens: connection.properties, version: configuration.version)
            guard !topics.isEmpty else { throw ToolError.usage("give at least one topic filter with -t") }
            guard let qos = MQTTQoS(rawValue: UInt8(clamping: max(0, self.qos))), self.qos <= 2 else { throw ToolError.usage("invalid QoS \(self.qos)") }
            guard let handling = MQTTSubscription.RetainHandling(rawValue: UInt8(clamping: max(0, retainHandling))), retainHandling <= 2 else {
                throw ToolError.usage("invalid retain handling \(retainHandling)")
            }
            for topic in topics where MQTTTopicFilter(topic) == nil { throw ToolError.usage("invalid topic filter \"\(topic)\"") }
            if let count, count < 1 { throw ToolError.usage("-C needs a count ≥ 1") }
            if let timeout, timeout < 1 { throw ToolError.usage("-W needs a number of seconds ≥ 1") }
            configuration.reconnect = MQTTReconnectPolicy(maximumDelay: .seconds(5))
            let subscriptions = topics.map {
                MQTTSubscription(topicFilter: $0, qos: qos, noLocal: noLocal, retainAsPublished: retainAsPublished, retainHandling: handling)
            }
            let output = MessageFormat(style: format.map { .format($0) } ?? (verbose ? .verbose : .payload), newline: !noNewline)
            let outcome = try await MQTTClient.withConnection(configuration, logger: toolLogger("sub", debug: connection.debug)) { client in
                try await withThrowingTaskGroup(of: Outcome.self) { group in
                    group.addTask {
                        try await receive(client, subscriptions, subscribeProperties: properties.subscribe, output: output)
                        return .done
                    }
                    if let timeout {
                        group.addTask {
                            try await Task.sleep(for: .seconds(timeout))
                            return .timedOut
                        }
                    }
                    let first = try await group.next() ?? .done
                    group.cancelAll()
                    return first
                }
            }
            if outcome == .timedOut { throw ToolExit.timeout }
        }
    }

    private func receive(_ client: MQTTClient, _ subscriptions: [MQTTSubscription], subscribeProperties: MQTTProperties,
                         output: MessageFormat) async throws {
        try await client.subscribe(to: subscriptions, properties: subscribeProperties, acknowledgement: .automatic,
                                   unsubscribeOnExit: !connection.persistent) { subscription in
            if connection.debug {
                printError("junction sub: subscribed to \(topics.joined(separator: ", ")), granted \(subscription.grantedReasonCodes)")
            }
            if exitAfterSubscribe { return }
            var printed = 0
            for try await message in subscription {
                if retainedOnly && !message.retain { return }
                if skipRetained && message.retain { continue }
                FileHandle.standardOutput.write(Data(output.render(message)))
                printed += 1
                if let count, printed >= count { return }
            }
        }
    }
}
