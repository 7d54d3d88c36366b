import Crypto
import Foundation
import Collections
import _CryptoExtras

/// The broker's password file: one `user:hash` line per user, `#` comments and blank lines
/// ignored. Two kinds of hash are read:
///
/// - `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` (PostgreSQL's layout, base64
///   fields): PBKDF2-HMAC-SHA256 with a random 16-byte salt, 210,000 iterations by default. It
///   checks passwords and carries what SCRAM-SHA-256 needs. `junction passwd` writes this.
/// - `$7$<iterations>$<salt>$<hash>`: Mosquitto 2's PBKDF2-HMAC-SHA512, so files made by
///   `mosquitto_passwd` work for user name and password (not for SCRAM, which needs its keys).
public struct BrokerPasswordFile: Sendable, Hashable, CustomStringConvertible {
    /// One user's stored secret.
    public enum Entry: Sendable, Hashable {
        case scram(SCRAMCredentials)
        case mosquittoPBKDF2(iterations: Int, salt: [UInt8], hash: [UInt8])
    }

    /// Users in file order.
    public private(set) var entries: OrderedDictionary<String, Entry> = [:]

    public init() {}

    /// The default PBKDF2 iteration count of new entries (swift-crypto's minimum for its checked API).
    public static let defaultIterations = 210_000

    /// Parses the text of a password file; every bad line is reported, numbered from 1.
    public static func parse(_ text: String) throws(PasswordFileError) -> BrokerPasswordFile {
        var file = BrokerPasswordFile()
        var problems: [String] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.allSatisfy(\.isWhitespace) || line.hasPrefix("#") { continue }
            guard let colon = line.firstIndex(of: ":"), colon != line.startIndex else {
                problems.append("line \(index + 1): expected user:hash")
                continue
            }
            let user = String(line[..<colon])
            guard file.entries[user] == nil else {
                problems.append("line \(index + 1): user \"\(user)\" appears twice")
                continue
            }
            guard let entry = Entry(hash: line[line.index(after: colon)...]) else {
                problems.append("line \(index + 1): the hash of \"\(user)\" is neither SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey nor $7$iterations$salt$hash")
                continue
            }
            file.entries[user] = entry
        }
        if !problems.isEmpty { throw PasswordFileError(problems: problems) }
        return file
    }

    /// Reads and parses a password file.
    public static func load(path: String) throws(PasswordFileError) -> BrokerPasswordFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PasswordFileError(problems: ["cannot be read"])
        }
        return try parse(String(decoding: data, as: UTF8.self))
    }

    /// The file's text, one line per user.
    public func serialized() -> String {
        entries.map { "\($0.key):\($0.value.hashText)\n" }.joined()
    }

    /// Sets `user`'s password (new salt, PBKDF2-HMAC-SHA256 with `iterations`).
    public mutating func set(user: String, password: String, iterations: Int = defaultIterations) throws {
        guard !user.isEmpty, !user.contains(":"), !user.contains("\n") else { throw PasswordFileError(problems: ["a user name must be non-empty without : or line breaks"]) }
        var salt = [UInt8](repeating: 0, count: 16)
        var generator = SystemRandomNumberGenerator()
        for index in salt.indices { salt[index] = UInt8.random(in: 0...255, using: &generator) }
        entries[user] = .scram(try SCRAMCredentials.derive(password: Array(password.utf8), salt: salt, iterations: iterations))
    }

    /// Removes `user`; false when there was none.
    @discardableResult
    public mutating func remove(user: String) -> Bool { entries.removeValue(forKey: user) != nil }

    /// Whether `password` is `user`'s. Slow on purpose (PBKDF2): call it off the event loop. An
    /// unknown user costs as much as a known one, so timing does not tell which users exist.
    public func verify(user: String, password: [UInt8]) -> Bool {
        guard let entry = entries[user] else {
            _ = Entry.scram(decoyCredentials).matches(password)
            return false
        }
        return entry.matches(password)
    }

    /// SCRAM-SHA-256 keys of `user`, if the file has them.
    public func scramCredentials(of user: String) -> SCRAMCredentials? {
        if case .scram(let credentials) = entries[user] { return credentials }
        return nil
    }

    /// Credentials for unknown users, as costly as the file's first entry.
    var decoyCredentials: SCRAMCredentials {
        var iterations = Self.defaultIterations
        switch entries.values.first {
        case .scram(let c): iterations = c.iterations
        case .mosquittoPBKDF2(let i, _, _): iterations = i
        case nil: break
        }
        return SCRAMCredentials(salt: Self.decoySecret, iterations: iterations,
                                storedKey: [UInt8](repeating: 0, count: 32), serverKey: [UInt8](repeating: 0, count: 32))
    }

    /// Secret of this process from which decoy salts of unknown users are derived.
    private static let decoySecret: [UInt8] = {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }()

    /// Number of users and a digest of the content: enough to see a change in logs, nothing secret.
    public var description: String {
        let digest = SHA256.hash(data: Data(serialized().utf8)).prefix(4).map { String(format: "%02x", $0) }.joined()
        return "\(entries.count) users (sha256 \(digest)…)"
    }
}

/// Problems of a password file, one per bad line.
public struct PasswordFileError: Error, Sendable, CustomStringConvertible {
    public var problems: [String]
    public init(problems: [String]) { self.problems = problems }
    public var description: String { problems.joined(separator: "; ") }
}

/// What a SCRAM-SHA-256 server keeps of a password (RFC 5802 §3): salt, iterations, StoredKey
/// = H(HMAC(SaltedPassword, "Client Key")) and ServerKey = HMAC(SaltedPassword, "Server Key").
public struct SCRAMCredentials: Sendable, Hashable {
    public var salt: [UInt8]
    public var iterations: Int
    public var storedKey: [UInt8]
    public var serverKey: [UInt8]

    public init(salt: [UInt8], iterations: Int, storedKey: [UInt8], serverKey: [UInt8]) {
        self.salt = salt
        self.iterations = iterations
        self.storedKey = storedKey
        self.serverKey = serverKey
    }

    /// Derives the keys of `password` (PBKDF2-HMAC-SHA256, RFC 7677). Slow on purpose.
    public static func derive(password: some DataProtocol, salt: [UInt8], iterations: Int) throws -> SCRAMCredentials {
        let salted = try saltedPassword(password, salt: salt, iterations: iterations)
        let clientKey = Data(HMAC<SHA256>.authenticationCode(for: Data("Client Key".utf8), using: salted))
        let serverKey = Data(HMAC<SHA256>.authenticationCode(for: Data("Server Key".utf8), using: salted))
        return SCRAMCredentials(salt: salt, iterations: iterations, storedKey: Array(SHA256.hash(data: clientKey)),
                                serverKey: Array(serverKey))
    }

    static func saltedPassword(_ password: some DataProtocol, salt: [UInt8], iterations: Int) throws -> SymmetricKey {
        try KDF.Insecure.PBKDF2.deriveKey(from: password, salt: salt, using: .sha256, outputByteCount: 32,
                                          unsafeUncheckedRounds: iterations)
    }
}

extension BrokerPasswordFile.Entry {
    init?(hash: Substring) {
        if hash.hasPrefix("SCRAM-SHA-256$") {
            let parts = hash.dropFirst("SCRAM-SHA-256$".count).split(separator: "$", omittingEmptySubsequences: false)
            guard parts.count == 2 else { return nil }
            let head = parts[0].split(separator: ":", omittingEmptySubsequences: false)
            let keys = parts[1].split(separator: ":", omittingEmptySubsequences: false)
            guard head.count == 2, keys.count == 2, let iterations = Int(head[0]), (1...100_000_000).contains(iterations),
                  let salt = Data(base64Encoded: String(head[1])), !salt.isEmpty,
                  let stored = Data(base64Encoded: String(keys[0])), stored.count == 32,
                  let server = Data(base64Encoded: String(keys[1])), server.count == 32 else { return nil }
            self = .scram(SCRAMCredentials(salt: Array(salt), iterations: iterations, storedKey: Array(stored), serverKey: Array(server)))
        } else if hash.hasPrefix("$7$") {
            let parts = hash.dropFirst(3).split(separator: "$", omittingEmptySubsequences: false)
            guard parts.count == 3, let iterations = Int(parts[0]), (1...100_000_000).contains(iterations),
                  let salt = Data(base64Encoded: String(parts[1])), !salt.isEmpty,
                  let digest = Data(base64Encoded: String(parts[2])), digest.count == 64 else { return nil }
            self = .mosquittoPBKDF2(iterations: iterations, salt: Array(salt), hash: Array(digest))
        } else {
            return nil
        }
    }

    var hashText: String {
        switch self {
        case .scram(let c):
            "SCRAM-SHA-256$\(c.iterations):\(Data(c.salt).base64EncodedString())$\(Data(c.storedKey).base64EncodedString()):\(Data(c.serverKey).base64EncodedString())"
        case .mosquittoPBKDF2(let iterations, let salt, let hash):
            "$7$\(iterations)$\(Data(salt).base64EncodedString())$\(Data(hash).base64EncodedString())"
        }
    }

    /// Recomputes the hash of `password` and compares in constant time. The derivation fails only
    /// for parameters the file's parser already refused; such an entry matches nothing.
    func matches(_ password: [UInt8]) -> Bool {
        do {
            switch self {
            case .scram(let stored):
                let derived = try SCRAMCredentials.derive(password: password, salt: stored.salt, iterations: stored.iterations)
                return constantTimeEqual(derived.storedKey, stored.storedKey)
            case .mosquittoPBKDF2(let iterations, let salt, let hash):
                let key = try KDF.Insecure.PBKDF2.deriveKey(from: password, salt: salt, using: .sha512, outputByteCount: 64,
                                                            unsafeUncheckedRounds: iterations)
                return key.withUnsafeBytes { constantTimeEqual(Array($0), hash) }
            }
        } catch {
            return false
        }
    }
}

/// Equal length and content, in time that depends only on the length.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for index in a.indices { difference |= a[index] ^ b[index] }
    return difference == 0
}
