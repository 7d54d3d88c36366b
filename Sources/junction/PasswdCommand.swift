import ArgumentParser
import Foundation
import MQTTBroker

/// `junction passwd`: manages the broker's password file like `mosquitto_passwd`.
struct PasswdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passwd",
        abstract: "Add, change or delete a user of the broker's password file (created with mode 0600).",
        discussion: """
        junction passwd FILE USER          prompts for the password twice, without echo
        junction passwd -b FILE USER PASS  takes it from the command line (scripts)
        junction passwd -D FILE USER       deletes the user
        Hashes are SCRAM-SHA-256 keys (PBKDF2-HMAC-SHA256, random salt); lines written by mosquitto_passwd ($7$) are kept as they are.
        """
    )

    @Flag(name: .customShort("b"), help: "Take the password from the command line.")
    var batch = false

    @Flag(name: .customShort("D"), help: "Delete the user.")
    var delete = false

    @Option(name: [.customShort("i"), .long], help: "PBKDF2 iterations (default 210000, at least 4096).")
    var iterations = BrokerPasswordFile.defaultIterations

    @Argument(help: "The password file.")
    var file: String

    @Argument(help: "The user name.")
    var user: String

    @Argument(help: "The password (with -b only).")
    var password: String?

    func validate() throws {
        if batch && delete { throw ValidationError("-b and -D exclude each other") }
        if batch && password == nil { throw ValidationError("-b needs the password as the third argument") }
        if !batch && password != nil { throw ValidationError("a password argument needs -b") }
        if iterations < 4096 { throw ValidationError("at least 4096 iterations (RFC 7677)") }
        if user.isEmpty || user.contains(":") || user.contains("\n") { throw ValidationError("a user name must be non-empty, without : or line breaks") }
    }

    func run() throws {
        var passwords = BrokerPasswordFile()
        if FileManager.default.fileExists(atPath: file) {
            do {
                passwords = try BrokerPasswordFile.load(path: file)
            } catch {
                printError("\(file): \(error)")
                throw ExitCode(1)
            }
        } else if delete {
            printError("\(file): no such file")
            throw ExitCode(1)
        }
        if delete {
            guard passwords.remove(user: user) else {
                printError("\(file): no user \"\(user)\"")
                throw ExitCode(1)
            }
        } else {
            let secret: String
            if let password {
                secret = password
            } else {
                guard let first = Self.prompt("Password: "), let second = Self.prompt("Reenter password: ") else {
                    printError("no password read")
                    throw ExitCode(1)
                }
                guard first == second else {
                    printError("passwords do not match")
                    throw ExitCode(1)
                }
                secret = first
            }
            try passwords.set(user: user, password: secret, iterations: iterations)
        }
        try Self.save(passwords.serialized(), to: file)
    }

    /// Writes atomically (a temporary file renamed over the old one), mode 0600 from the start.
    static func save(_ text: String, to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else {
            printError("\(temporary): \(String(cString: strerror(errno)))")
            throw ExitCode(1)
        }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced, rename(temporary, path) == 0 else {
            printError("\(path): \(String(cString: strerror(errno)))")
            unlink(temporary)
            throw ExitCode(1)
        }
    }

    /// Reads a line from the terminal with echo off (plain stdin when it is not a terminal).
    static func prompt(_ text: String) -> String? {
        FileHandle.standardError.write(Data(text.utf8))
        var saved = termios()
        let isTerminal = tcgetattr(STDIN_FILENO, &saved) == 0
        if isTerminal {
            var silent = saved
            silent.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
        }
        defer {
            if isTerminal {
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
                FileHandle.standardError.write(Data("\n".utf8))
            }
        }
        return readLine(strippingNewline: true)
    }
}
