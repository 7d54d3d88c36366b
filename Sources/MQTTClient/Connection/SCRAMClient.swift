import Crypto
import Foundation
import MQTTCore
import NIOCore
import Synchronization
import _CryptoExtras

/// The client side of one SCRAM-SHA-256 exchange (RFC 5802, RFC 7677) as a pure value:
/// ``clientFirst`` goes out first, ``respond(toServerFirst:)`` answers the server's challenge,
/// ``verify(serverFinal:)`` checks the server's signature.
public struct SCRAMClientExchange: Sendable {
    public let username: String
    private let password: String
    private let clientNonce: String
    private var authMessage: [UInt8] = []
    private var serverKey: [UInt8]?

    public init(username: String, password: String, nonce: String = SCRAMClientExchange.makeNonce()) {
        self.username = username
        self.password = password
        self.clientNonce = nonce
    }

    private var clientFirstBare: String {
        let escaped = username.replacingOccurrences(of: "=", with: "=3D").replacingOccurrences(of: ",", with: "=2C")
        return "n=\(escaped),r=\(clientNonce)"
    }

    /// The client's nonce.
    public var nonce: String { clientNonce }

    /// `n,,n=user,r=nonce`.
    public var clientFirst: [UInt8] { Array("n,,\(clientFirstBare)".utf8) }

    /// Client-final for the server-first message: checks that the server's nonce extends ours,
    /// derives the salted password (PBKDF2, slow) and builds the proof.
    public mutating func respond(toServerFirst message: [UInt8]) throws(SCRAMClientError) -> [UInt8] {
        guard let text = String(validating: message, as: UTF8.self) else { throw .malformed("server-first is not UTF-8") }
        var fields: [String: String] = [:]
        for part in text.split(separator: ",") {
            guard let equals = part.firstIndex(of: "=") else { continue }
            fields[String(part[..<equals])] = String(part[part.index(after: equals)...])
        }
        guard let nonce = fields["r"], let saltText = fields["s"], let salt = Data(base64Encoded: saltText),
              let iterationsText = fields["i"], let iterations = Int(iterationsText), iterations > 0 else {
            throw .malformed("server-first needs r, s and i: \(text)")
        }
        guard nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count else { throw .malformed("the server nonce does not extend the client's") }
        guard iterations >= 4096 else { throw .malformed("\(iterations) iterations is below RFC 7677's minimum of 4096") }
        let salted: SymmetricKey
        do {
            salted = try KDF.Insecure.PBKDF2.deriveKey(from: Array(password.utf8), salt: salt, using: .sha256, outputByteCount: 32,
                                                       unsafeUncheckedRounds: iterations)
        } catch {
            throw .malformed("cannot derive the salted password: \(error)")
        }
        let clientKey = Array(HMAC<SHA256>.authenticationCode(for: Array("Client Key".utf8), using: salted))
        let storedKey = SymmetricKey(data: SHA256.hash(data: clientKey))
        let withoutProof = "c=biws,r=\(nonce)"
        authMessage = Array("\(clientFirstBare),\(text),\(withoutProof)".utf8)
        let signature = Array(HMAC<SHA256>.authenticationCode(for: authMessage, using: storedKey))
        let proof = zip(clientKey, signature).map { $0 ^ $1 }
        serverKey = Array(HMAC<SHA256>.authenticationCode(for: Array("Server Key".utf8), using: salted))
        return Array("\(withoutProof),p=\(Data(proof).base64EncodedString())".utf8)
    }

    /// Checks `v=signature` of the server-final message: proves the server knows the keys.
    public func verify(serverFinal message: [UInt8]) throws(SCRAMClientError) {
        guard let serverKey else { throw .malformed("server-final before server-first") }
        guard let text = String(validating: message, as: UTF8.self) else { throw .malformed("server-final is not UTF-8") }
        if text.hasPrefix("e=") { throw .serverError(String(text.dropFirst(2))) }
        guard text.hasPrefix("v="), let signature = Data(base64Encoded: String(text.dropFirst(2))) else {
            throw .malformed("server-final needs v=signature")
        }
        let expected = Data(HMAC<SHA256>.authenticationCode(for: authMessage, using: SymmetricKey(data: serverKey)))
        guard signature == expected else { throw .serverSignatureMismatch }
    }

    /// 18 random bytes in base64.
    public static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<18).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
    }
}

public enum SCRAMClientError: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    case serverError(String)
    /// The server did not prove it knows the password's keys.
    case serverSignatureMismatch

    public var description: String {
        switch self {
        case .malformed(let detail): "SCRAM: \(detail)"
        case .serverError(let detail): "SCRAM: the server said \(detail)"
        case .serverSignatureMismatch: "SCRAM: the server's signature is wrong"
        }
    }
}

/// SCRAM-SHA-256 for ``MQTTClientConfiguration/authentication``: every CONNECT (reconnects
/// too) carries the same client-first, whose exchange the broker's fresh nonce makes new; the
/// CONNACK's server signature is verified. ``restart()`` starts a separate exchange for
/// re-authentication, whose server signature (in the broker's AUTH 0x00) is verified too.
///
/// ```swift
/// let scram = MQTTSCRAMAuthentication(username: "alice", password: "secret")
/// configuration.authentication = scram.authentication
/// // later, re-authentication:
/// try await client.reauthenticate(data: scram.restart())
/// ```
public final class MQTTSCRAMAuthentication: Sendable {
    public static let method = "SCRAM-SHA-256"
    private let username: String
    private let password: String
    private struct Exchanges {
        var connect: SCRAMClientExchange
        var reauthentication: SCRAMClientExchange?
        /// The re-authentication exchange answered its server-first: the next final data is its.
        var reauthenticating = false
    }

    private let exchanges: Mutex<Exchanges>

    public init(username: String, password: String) {
        self.username = username
        self.password = password
        exchanges = Mutex(Exchanges(connect: SCRAMClientExchange(username: username, password: password)))
    }

    /// Starts a new exchange and returns its client-first message: the data of AUTH 0x19.
    public func restart() -> ByteBuffer {
        let fresh = SCRAMClientExchange(username: username, password: password)
        exchanges.withLock {
            $0.reauthentication = fresh
            $0.reauthenticating = false
        }
        return ByteBuffer(bytes: fresh.clientFirst)
    }

    /// The enhanced-authentication hooks for the configuration.
    public var authentication: MQTTEnhancedAuthentication {
        MQTTEnhancedAuthentication(method: Self.method, initialData: ByteBuffer(bytes: exchanges.withLock { $0.connect.clientFirst }),
            respond: { [self] challenge, _ in
                let serverFirst = challenge.map { Array($0.readableBytesView) } ?? []
                // The server's nonce extends the client nonce of the exchange it answers.
                let text = String(decoding: serverFirst, as: UTF8.self)
                return ByteBuffer(bytes: try exchanges.withLock { exchanges throws(SCRAMClientError) in
                    if var again = exchanges.reauthentication, text.hasPrefix("r=\(again.nonce)") {
                        let final = try again.respond(toServerFirst: serverFirst)
                        exchanges.reauthentication = again
                        exchanges.reauthenticating = true
                        return final
                    }
                    // A (re)connect: a re-authentication that did not finish is abandoned.
                    exchanges.reauthentication = nil
                    exchanges.reauthenticating = false
                    return try exchanges.connect.respond(toServerFirst: serverFirst)
                })
            },
            completed: { [self] data in
                let serverFinal = data.map { Array($0.readableBytesView) } ?? []
                try exchanges.withLock { exchanges throws(SCRAMClientError) in
                    // AUTH 0x00 ending a re-authentication carries that exchange's signature.
                    // Without the server-first round it is refused (a replayed CONNACK signature
                    // must not pass).
                    if let again = exchanges.reauthentication {
                        let answered = exchanges.reauthenticating
                        exchanges.reauthentication = nil
                        exchanges.reauthenticating = false
                        guard answered else { throw .malformed("server-final before server-first") }
                        return try again.verify(serverFinal: serverFinal)
                    }
                    try exchanges.connect.verify(serverFinal: serverFinal)
                }
            })
    }
}
