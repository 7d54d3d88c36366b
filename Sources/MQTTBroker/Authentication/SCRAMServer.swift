import Crypto
import Foundation

/// The server side of one SCRAM-SHA-256 exchange (RFC 5802, RFC 7677) as a pure value: it is
/// given the client's messages and answers with the next step. No channel binding (`n,,` or
/// `y,,`), no authorisation identity other than the user itself.
///
/// MQTT 5 carries it in Authentication Data: client-first in CONNECT (or AUTH 0x19), server-first
/// in AUTH 0x18, client-final in AUTH 0x18, server-final in the CONNACK (or AUTH 0x00).
public struct SCRAMServer: Sendable {
    public static let method = "SCRAM-SHA-256"

    public enum Step: Sendable, Equatable {
        /// Send this server-first message and wait for the client-final one.
        case challenge([UInt8])
        /// The client proved it knows `username`'s password; send the server-final message.
        case success(username: String, serverFinal: [UInt8])
        /// Refuse: a malformed message (`malformed`) or a wrong proof / unknown user.
        case failure(SCRAMFailure)
    }

    private enum Phase: Sendable { case awaitingClientFirst, awaitingClientFinal, finished }

    private var phase = Phase.awaitingClientFirst
    private var username = ""
    private var gs2Header = ""
    private var clientFirstBare = ""
    private var serverFirst = ""
    private var nonce = ""
    private var credentials: SCRAMCredentials?
    private var decoy = false

    public init() {}

    /// Handles client-first. `lookup` gives the user's keys (nil for an unknown user: the exchange
    /// goes on with `decoy`'s iterations and a salt derived from `decoy.salt` and the user name,
    /// the same for every attempt, and fails at the proof, so it does not tell which users exist);
    /// `serverNonce` is fresh random printable text.
    public mutating func start(clientFirst message: [UInt8], serverNonce: String, decoy: SCRAMCredentials,
                               lookup: (String) -> SCRAMCredentials?) -> Step {
        guard phase == .awaitingClientFirst else { return fail(.malformed("client-first sent twice")) }
        guard let text = String(validating: message, as: UTF8.self) else { return fail(.malformed("client-first is not UTF-8")) }
        // gs2-header: "n,," or "y,," (no channel binding), optionally "n,a=authzid,".
        let parts = text.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "n" || parts[0] == "y" else {
            return fail(.malformed(parts.first?.hasPrefix("p") == true ? "channel binding is not supported" : "client-first needs a gs2 header n,, or y,,"))
        }
        let bare = String(parts[2])
        let attributes = Self.attributes(bare)
        guard let rawUser = attributes.first(where: { $0.key == "n" })?.value, let user = Self.unescape(rawUser), !user.isEmpty,
              let clientNonce = attributes.first(where: { $0.key == "r" })?.value, !clientNonce.isEmpty,
              attributes.first?.key == "n", !attributes.contains(where: { $0.key == "m" }) else {
            return fail(.malformed("client-first needs n=user,r=nonce"))
        }
        if !parts[1].isEmpty {
            guard parts[1].hasPrefix("a="), Self.unescape(String(parts[1].dropFirst(2))) == user else {
                return fail(.malformed("an authorisation identity other than the user is not supported"))
            }
        }
        username = user
        gs2Header = "\(parts[0]),\(parts[1]),"
        clientFirstBare = bare
        let found = lookup(user)
        self.decoy = found == nil
        var keys = decoy
        if let found {
            keys = found
        } else {
            let mac = HMAC<SHA256>.authenticationCode(for: Data(user.utf8), using: SymmetricKey(data: decoy.salt))
            keys.salt = Array(Array(mac).prefix(16))
        }
        credentials = keys
        nonce = clientNonce + serverNonce
        serverFirst = "r=\(nonce),s=\(Data(keys.salt).base64EncodedString()),i=\(keys.iterations)"
        phase = .awaitingClientFinal
        return .challenge(Array(serverFirst.utf8))
    }

    /// Handles client-final: checks the channel binding echo, the nonce and the proof.
    public mutating func finish(clientFinal message: [UInt8]) -> Step {
        guard phase == .awaitingClientFinal, let credentials else { return fail(.malformed("client-final out of order")) }
        guard let text = String(validating: message, as: UTF8.self) else { return fail(.malformed("client-final is not UTF-8")) }
        guard let proofRange = text.range(of: ",p=", options: .backwards) else { return fail(.malformed("client-final needs p=proof")) }
        let withoutProof = String(text[..<proofRange.lowerBound])
        let attributes = Self.attributes(withoutProof)
        guard attributes.count >= 2, attributes[0].key == "c", attributes[1].key == "r",
              let binding = Data(base64Encoded: attributes[0].value),
              let proof = Data(base64Encoded: String(text[proofRange.upperBound...])), proof.count == 32 else {
            return fail(.malformed("client-final needs c=binding,r=nonce,p=proof"))
        }
        guard Array(binding) == Array(gs2Header.utf8) else { return fail(.malformed("channel binding does not echo the gs2 header")) }
        guard attributes[1].value == nonce else { return fail(.malformed("the nonce does not continue the exchange")) }
        let authMessage = Data("\(clientFirstBare),\(serverFirst),\(withoutProof)".utf8)
        let clientSignature = Array(HMAC<SHA256>.authenticationCode(for: authMessage, using: SymmetricKey(data: credentials.storedKey)))
        let clientKey = zip(Array(proof), clientSignature).map { $0 ^ $1 }
        let storedKey = Array(SHA256.hash(data: clientKey))
        guard constantTimeEqual(storedKey, credentials.storedKey), !decoy else { return fail(.invalidProof) }
        let serverSignature = HMAC<SHA256>.authenticationCode(for: authMessage, using: SymmetricKey(data: credentials.serverKey))
        phase = .finished
        return .success(username: username, serverFinal: Array("v=\(Data(serverSignature).base64EncodedString())".utf8))
    }

    /// The user named in client-first (empty before it).
    public var user: String { username }

    private mutating func fail(_ failure: SCRAMFailure) -> Step {
        phase = .finished
        return .failure(failure)
    }

    /// `k=v` attributes in order; a value may itself contain `=`.
    static func attributes(_ text: String) -> [(key: String, value: String)] {
        text.split(separator: ",", omittingEmptySubsequences: false).compactMap { (part: Substring) -> (key: String, value: String)? in
            guard let equals = part.firstIndex(of: "="), part.distance(from: part.startIndex, to: equals) == 1 else { return nil }
            return (key: String(part[..<equals]), value: String(part[part.index(after: equals)...]))
        }
    }

    /// saslname: `=2C` is `,`, `=3D` is `=`; any other `=` is malformed.
    static func unescape(_ name: String) -> String? {
        var result = ""
        var rest = Substring(name)
        while let equals = rest.firstIndex(of: "=") {
            result += rest[..<equals]
            let code = rest[equals...].prefix(3)
            switch code {
            case "=2C": result += ","
            case "=3D": result += "="
            default: return nil
            }
            rest = rest[rest.index(equals, offsetBy: 3)...]
        }
        return result + rest
    }

    /// Fresh server nonce: 18 random bytes in base64 (printable, no comma).
    public static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        return Data((0..<18).map { _ in UInt8.random(in: 0...255, using: &generator) }).base64EncodedString()
    }
}

/// Why a SCRAM exchange failed.
public enum SCRAMFailure: Error, Sendable, Equatable, CustomStringConvertible {
    case malformed(String)
    /// Wrong password or unknown user (not told apart).
    case invalidProof

    public var description: String {
        switch self {
        case .malformed(let detail): "malformed SCRAM message: \(detail)"
        case .invalidProof: "invalid proof"
        }
    }
}
