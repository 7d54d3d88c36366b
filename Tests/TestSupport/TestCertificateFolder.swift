import Foundation
import Synchronization

/// The TLS test certificates of Tests/Scripts/make-test-certs.sh (the `openssl` command), made
/// once per test process in a temporary folder that is removed at exit: a CA `ca`; `server`
/// (localhost, 127.0.0.1); `client` (CN sensor-7, SAN device-42.example); expired, wrong-host
/// and other-CA variants, each as `<name>.pem` and `<name>.key`. See the script for the list.
///
/// The script runs through ``SpawnedChild`` (posix_spawn, never Foundation's `Process`) with a
/// 60 s deadline; its standard error goes to a file whose text a failure carries.
///
/// In the `TestSupport` target shared by every test target.
public enum TestCertificateFolder {
    /// The folder holding the certificates, made on first use.
    public static func url() throws -> URL { try made.get() }

    /// The path of `file` (e.g. `ca.pem`, `server.key`) in the folder.
    public static func path(_ file: String) throws -> String { try url().appendingPathComponent(file).path }

    /// Why the certificates could not be made.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    private static let made: Result<URL, Failure> = {
        let temporary = FileManager.default.temporaryDirectory
        let directory = temporary.appendingPathComponent("junction-certs-\(UUID().uuidString.prefix(8))")
        let errorFile = temporary.appendingPathComponent("junction-certs-\(UUID().uuidString.prefix(8)).log")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            return .failure(Failure(description: "cannot create \(directory.path): \(error)"))
        }
        folderToRemove.withLock { $0 = directory.path }
        atexit { if let folder = TestCertificateFolder.folderToRemove.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: folder) } }
        defer { try? FileManager.default.removeItem(at: errorFile) }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Scripts/make-test-certs.sh")
        let errors = open(errorFile.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard errors >= 0 else { return .failure(Failure(description: "cannot create \(errorFile.path)")) }
        let input = SpawnedChild.devNull()
        let output = SpawnedChild.devNull(writing: true)
        defer {
            close(errors)
            close(input)
            close(output)
        }
        let exited = DispatchSemaphore(value: 0)
        let child: SpawnedChild
        do {
            child = try SpawnedChild("/bin/bash", [script.path, directory.path], stdin: input, stdout: output, stderr: errors) { _ in
                exited.signal()
            }
        } catch {
            return .failure(Failure(description: "cannot run \(script.path): \(error)"))
        }
        // A blocking wait: this runs once, in a static initialiser that cannot suspend.
        if exited.wait(timeout: .now() + 60) == .timedOut {
            child.send(SIGKILL)
            return .failure(Failure(description: "\(script.path) did not finish within 60 s (killed)"))
        }
        guard child.status == 0 else {
            let stderr = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
            return .failure(Failure(description: "making test certificates failed (is openssl installed?), exit \(child.status ?? -1): \(stderr)"))
        }
        return .success(directory)
    }()

    private static let folderToRemove = Mutex<String?>(nil)
}
