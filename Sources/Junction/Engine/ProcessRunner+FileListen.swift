extension ProcessRunner {
    /// File Listen: files matching the glob in the connector's directory become documents.
    func runFileListen(_ listen: ListenDefinition.FileListen) async throws {
        throw ProcessError(message: "file listen is not supported by this version of the engine yet", permanent: true)
    }
}
