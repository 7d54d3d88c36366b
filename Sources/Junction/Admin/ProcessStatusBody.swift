/// A process and what it is doing: an element of `GET /api/processes` and the answer to
/// `POST /api/processes/NAME/ACTION`.
struct ProcessStatusBody: Codable, Hashable, Sendable {
    var name: String
    /// `starting`, `running`, `paused`, `stopped` or `failed: <why>`.
    var status: String

    init(name: String, _ state: ProcessStatusBoard.State) {
        self.name = name
        switch state {
        case .starting: status = "starting"
        case .running: status = "running"
        case .stopped: status = "stopped"
        case .paused: status = "paused"
        case .failed(let error): status = "failed: \(error)"
        }
    }
}

/// Why the admin API refused a request.
struct AdminErrorBody: Codable, Hashable, Sendable {
    var error: String
}
