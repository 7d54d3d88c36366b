/// Where the admin endpoints listen (docs/design.md): loopback by default; any other address needs
/// a token.
public struct AdminConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port.
    public var port: Int
    public var token: Secret?

    public init(host: String = "127.0.0.1", port: Int = 8090, token: Secret? = nil) {
        self.host = host
        self.port = port
        self.token = token
    }

    /// Refuses an admin API reachable from other machines without a token.
    public func validate() throws {
        let loopback = host == "127.0.0.1" || host == "::1" || host == "localhost"
        if !loopback && token == nil {
            throw ProcessError(message: "the admin API on \(host) needs a token (--admin-token); without one it stays on 127.0.0.1",
                               permanent: true)
        }
    }
}
