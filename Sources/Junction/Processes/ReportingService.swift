import Logging
import ServiceLifecycle

/// Runs a process and reports, instead of propagating, why it could not run.
struct ReportingService: Service {
    let runner: ProcessRunner
    let status: ProcessStatusBoard
    let logger: Logger

    func run() async throws {
        let name = runner.context.name
        var runner = self.runner
        // `running` once the Listen is established: a message published after `/ready` said
        // ready reaches the process (it was set before the subscription, and could be lost).
        runner.onStarted = { [status] in status.set(name, .running) }
        do {
            try await runner.run()
            status.set(name, .stopped)
        } catch {
            status.set(name, .failed("\(error)"))
            logger.error("process failed to start", metadata: ["process.name": "\(name)", "error": "\(error)"])
        }
    }
}
