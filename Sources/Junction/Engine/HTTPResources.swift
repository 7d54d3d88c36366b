import Logging
import ServiceLifecycle

/// HTTP for the engine: the libcurl client behind `send` to `http` connectors and the servers
/// behind `http-listener` connectors. (Not written yet: every HTTP connector is refused at start.)
public final class HTTPResources: Sendable {
    public init(definitions: Definitions, logger: Logger) {}

    /// Services to run: one server per http-listener connector in use.
    public var services: [any Service] { [] }

    /// Throws when a process may not send to this connector here.
    public func checkSend(connector: String, _ definition: HTTPConnectorDefinition) throws {
        throw ProcessError(message: "connector \(connector) (http) is not supported by this version of the engine yet", permanent: true)
    }

    /// Throws when a process may not listen on this connector here.
    public func checkListen(connector: String, _ definition: HTTPListenerDefinition) throws {
        throw ProcessError(message: "connector \(connector) (http-listener) is not supported by this version of the engine yet", permanent: true)
    }
}
