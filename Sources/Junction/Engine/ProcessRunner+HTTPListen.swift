extension ProcessRunner {
    /// HTTP Listen on an `http-listener` connector.
    func runHTTPListen(_ listen: ListenDefinition.HTTPListen) async throws {
        throw ProcessError(message: "HTTP listen is not supported by this version of the engine yet", permanent: true)
    }
}
