import ArgumentParser
import Foundation
import Logging
import MQTTClient
import MQTTCore
import NIOCore

/// The connection options `junction pub` and `junction sub` share, named as in mosquitto_pub
/// and mosquitto_sub (`-h` is the host; help is `--help` only).
struct MQTTToolOptions: ParsableArguments {
    @Option(name: [.customShort("h"), .customLong("host")], help: "Broker host.")
    var host = "localhost"

    @Option(name: [.customShort("p"), .customLong("port")], help: "Broker port (default 1883, or 8883 with TLS).")
    var port: Int?

    @Option(name: [.customShort("L"), .customLong("url")],
            help: "Broker as mqtt://, mqtts://, ws:// or wss://host[:port][/path]; repeat for failover.")
    var urls: [String] = []

    @Option(name: .customLong("cafile"), help: "PEM file of the CA(s) to trust; turns on TLS for -h/-p.")
    var caFile: String?

    @Option(name: .customLong("cert"), help: "PEM client certificate for TLS (with --key).")
    var certFile: String?

    @Option(name: .customLong("key"), help: "PEM private key of --cert.")
    var keyFile: String?

    @Flag(name: .customLong("insecure"), help: "Do not check that the broker's certificate names its host (as mosquitto_pub).")
    var insecure = false

    @Flag(name: .customLong("tls-no-verify"), help: "Check nothing of the broker's certificate (testing only).")
    var noVerify = false

    @Option(name: [.customShort("V"), .customLong("protocol-version")], help: "MQTT version: 311 or 5 (mqttv311, mqttv5; default 311).")
    var protocolVersion = "311"

    @Option(name: [.customShort("i"), .customLong("id")], help: "Client id (default: generated; on 5.0 the broker assigns one).")
    var clientID: String?

    @Option(name: [.customShort("u"), .customLong("username")], help: "User name.")
    var username: String?

    @Option(name: [.customShort("P"), .customLong("pw")], help: "Password.")
    var password: String?

    @Option(name: [.customShort("k"), .customLong("keepalive")], help: "Keepalive in seconds.")
    var keepAlive = 60

    @Flag(name: [.customShort("c"), .customLong("disable-clean-session")],
          help: "Persistent session: Clean Start 0, and on 5.0 a session that never expires unless -x says otherwise. Needs -i.")
    var persistent = false

    @Option(name: .customShort("x"), help: "5.0 Session Expiry Interval in seconds; -1 for never.")
    var sessionExpiry: Int64?

    @Option(name: [.customShort("D"), .customLong("property")], parsing: .upToNextOption,
            help: "5.0 property: COMMAND NAME VALUE (user-property takes NAME VALUE), e.g. -D publish content-type text/plain.")
    var properties: [String] = []

    @Option(name: .customLong("will-topic"), help: "Will topic.")
    var willTopic: String?

    @Option(name: .customLong("will-payload"), help: "Will payload.")
    var willPayload: String?

    @Option(name: .customLong("will-qos"), help: "Will QoS.")
    var willQoS = 0

    @Flag(name: .customLong("will-retain"), help: "Retain the will.")
    var willRetain = false

    @Flag(name: [.customShort("d"), .customLong("debug")], help: "Log the client's connection events to standard error.")
    var debug = false

    /// The protocol version asked for, or a usage error.
    func version() throws(ToolError) -> MQTTProtocolVersion {
        switch protocolVersion.lowercased() {
        case "311", "mqttv311", "4": .v311
        case "5", "mqttv5", "50": .v5
        default: throw .usage("unsupported protocol version \"\(protocolVersion)\" (use 311 or 5)")
        }
    }

    /// The client configuration these options describe, for a tool named `tool`.
    func configuration(tool: String) throws(ToolError) -> MQTTClientConfiguration {
        let version = try version()
        var servers: [MQTTServer] = []
        for url in urls {
            guard let server = MQTTServer(url: url) else { throw .usage("invalid broker URL \"\(url)\"") }
            servers.append(server)
        }
        let usesTLS = caFile != nil || certFile != nil || keyFile != nil || insecure || noVerify
        if servers.isEmpty {
            let port = self.port ?? (usesTLS ? 8883 : 1883)
            guard (1...65_535).contains(port) else { throw .usage("invalid port \(port)") }
            servers = [MQTTServer(host: host, port: port, transport: usesTLS ? .tls : .tcp)]
        }
        if (certFile == nil) != (keyFile == nil) { throw .usage("--cert and --key go together") }
        let properties = try ToolProperties(tokens: properties, version: version)
        if persistent && (clientID ?? "").isEmpty { throw .usage("-c needs a client id (-i)") }
        guard (0...65_535).contains(keepAlive) else { throw .usage("invalid keepalive \(keepAlive)") }
        let generated = version == .v5 ? "" : "junction-\(tool)-\(UUID().uuidString.prefix(8).lowercased())"
        var configuration = MQTTClientConfiguration(servers: servers, version: version, clientID: clientID ?? generated)
        configuration.cleanStart = !persistent
        configuration.keepAlive = .seconds(keepAlive)
        if let sessionExpiry {
            guard sessionExpiry >= -1 && sessionExpiry <= Int64(UInt32.max) else { throw .usage("invalid session expiry \(sessionExpiry)") }
            configuration.sessionExpiryInterval = sessionExpiry == -1 ? .max : UInt32(sessionExpiry)
        } else if persistent {
            configuration.sessionExpiryInterval = .max
        }
        configuration.tls = MQTTClientTLS(caFile: caFile, certificateFile: certFile, keyFile: keyFile,
                                          verification: noVerify ? .none : insecure ? .noHostname : .full)
        configuration.username = username
        configuration.password = password.map { ByteBuffer(string: $0) }
        configuration.connectProperties = properties.connect
        if let value = properties.connect.receiveMaximum { configuration.receiveMaximum = value }
        if let value = properties.connect.maximumPacketSize { configuration.maximumPacketSize = value }
        if let value = properties.connect.topicAliasMaximum { configuration.topicAliasMaximum = value }
        if let value = properties.connect.sessionExpiryInterval { configuration.sessionExpiryInterval = value }
        if let willTopic {
            guard let qos = MQTTQoS(rawValue: UInt8(clamping: max(0, willQoS))), willQoS <= 2 else { throw .usage("invalid will QoS \(willQoS)") }
            configuration.will = MQTTWill(topic: willTopic, payload: ByteBuffer(string: willPayload ?? ""), qos: qos,
                                          retain: willRetain, properties: properties.will)
        }
        configuration.connectTimeout = .seconds(10)
        configuration.offlineQueueLimit = 0
        configuration.assignSubscriptionIdentifiers = false  // %S shows only what -D asked for
        if debug {
            configuration.onEvent = { event in printError("junction \(tool): \(event)") }
        }
        return configuration
    }
}

/// A failure of `junction pub`/`sub`, with the exit status it ends with.
enum ToolError: Error, CustomStringConvertible {
    /// Invalid arguments or input: exit status 2.
    case usage(String)

    var description: String {
        switch self {
        case .usage(let text): text
        }
    }
}

/// The `-D COMMAND NAME VALUE` properties, grouped by the packet they go into.
struct ToolProperties {
    var connect: MQTTProperties = []
    var publish: MQTTProperties = []
    var subscribe: MQTTProperties = []
    var unsubscribe: MQTTProperties = []
    var disconnect: MQTTProperties = []
    var will: MQTTProperties = []

    init(tokens: [String], version: MQTTProtocolVersion) throws(ToolError) {
        guard !tokens.isEmpty else { return }
        guard version == .v5 else { throw .usage("-D needs MQTT 5 (-V 5)") }
        var rest = tokens[...]
        func next(_ what: String) throws(ToolError) -> String {
            guard let token = rest.popFirst() else { throw .usage("-D: missing \(what)") }
            return token
        }
        while !rest.isEmpty {
            let command = try next("command").lowercased()
            let name = try next("property name").lowercased()
            let context: MQTTPropertyContext
            switch command {
            case "connect": context = .connect
            case "publish": context = .publish
            case "subscribe": context = .subscribe
            case "unsubscribe": context = .unsubscribe
            case "disconnect": context = .disconnect
            case "will": context = .will
            default: throw .usage("-D: unknown command \"\(command)\" (connect, publish, subscribe, unsubscribe, disconnect, will)")
            }
            let property = try Self.property(name, value: try next("value of \(name)"),
                                             second: name == "user-property" ? try next("user property value") : nil)
            guard property.identifier.isAllowed(in: context) else { throw .usage("-D: \(name) is not allowed in \(command)") }
            switch context {
            case .connect: connect.append(property)
            case .publish: publish.append(property)
            case .subscribe: subscribe.append(property)
            case .unsubscribe: unsubscribe.append(property)
            case .disconnect: disconnect.append(property)
            default: will.append(property)
            }
        }
    }

    static func property(_ name: String, value: String, second: String?) throws(ToolError) -> MQTTProperty {
        func number<T: FixedWidthInteger>(_: T.Type) throws(ToolError) -> T {
            guard let number = T(value) else { throw .usage("-D \(name): \"\(value)\" is not a number in range") }
            return number
        }
        switch name {
        case "payload-format-indicator":
            let raw = try number(UInt8.self)
            guard let format = MQTTPayloadFormat(rawValue: raw) else { throw .usage("-D \(name): 0 or 1") }
            return .payloadFormatIndicator(format)
        case "message-expiry-interval": return .messageExpiryInterval(try number(UInt32.self))
        case "content-type": return .contentType(value)
        case "response-topic": return .responseTopic(value)
        case "correlation-data": return .correlationData(ByteBuffer(string: value))
        case "subscription-identifier": return .subscriptionIdentifier(try number(UInt32.self))
        case "session-expiry-interval": return .sessionExpiryInterval(try number(UInt32.self))
        case "authentication-method": return .authenticationMethod(value)
        case "authentication-data": return .authenticationData(ByteBuffer(string: value))
        case "request-problem-information": return .requestProblemInformation(try number(UInt8.self))
        case "will-delay-interval": return .willDelayInterval(try number(UInt32.self))
        case "request-response-information": return .requestResponseInformation(try number(UInt8.self))
        case "receive-maximum": return .receiveMaximum(try number(UInt16.self))
        case "topic-alias-maximum": return .topicAliasMaximum(try number(UInt16.self))
        case "topic-alias": return .topicAlias(try number(UInt16.self))
        case "maximum-packet-size": return .maximumPacketSize(try number(UInt32.self))
        case "user-property": return .userProperty(value, second ?? "")
        default: throw .usage("-D: unknown property \"\(name)\"")
        }
    }
}

/// Exit statuses of `junction pub` and `junction sub`.
enum ToolExit {
    /// Connection refused or lost, publish or subscription refused, protocol error.
    static let failure = ExitCode(1)
    /// Invalid arguments, properties or input file.
    static let usage = ExitCode(2)
    /// `junction sub -W`: the timeout passed first (as mosquitto_sub).
    static let timeout = ExitCode(27)

    /// Runs a tool's body, mapping its errors to a message on standard error and an exit status.
    static func run(_ tool: String, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as ToolError {
            printError("junction \(tool): \(error)")
            throw usage
        } catch let error as MQTTClientError {
            printError("junction \(tool): \(error)")
            throw failure
        }
    }
}

/// A logger for the tools: warnings and above on standard error, everything with `-d`.
func toolLogger(_ tool: String, debug: Bool) -> Logger {
    var logger = Logger(label: "junction.\(tool)", factory: { label in StreamLogHandler.standardError(label: label) })
    logger.logLevel = debug ? .debug : .error
    return logger
}
