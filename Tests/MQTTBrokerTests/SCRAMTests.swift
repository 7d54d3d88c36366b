import Foundation
import MQTTBroker
import MQTTClient
import Testing

/// The SCRAM-SHA-256 state machines and the password file, without I/O.
@Suite("SCRAM and password file")
struct SCRAMTests {
    // RFC 7677 §3: user "user", password "pencil".
    static let rfcClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    static let rfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    static let rfcServerFirst = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    static let rfcClientFinal = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    static let rfcServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

    static func rfcCredentials() throws -> SCRAMCredentials {
        try SCRAMCredentials.derive(password: Array("pencil".utf8), salt: Array(Data(base64Encoded: "W22ZaJ0SNY7soEsUEjb6gQ==")!), iterations: 4096)
    }

    static let decoy = SCRAMCredentials(salt: [1, 2, 3], iterations: 4096, storedKey: Array(repeating: 0, count: 32),
                                        serverKey: Array(repeating: 0, count: 32))

    @Test("The server side reproduces RFC 7677's example exchange byte for byte")
    func serverMatchesRFC7677() throws {
        let credentials = try Self.rfcCredentials()
        var server = SCRAMServer()
        let first = server.start(clientFirst: Array(Self.rfcClientFirst.utf8), serverNonce: Self.rfcServerNonce, decoy: Self.decoy) {
            $0 == "user" ? credentials : nil
        }
        #expect(first == .challenge(Array(Self.rfcServerFirst.utf8)))
        let final = server.finish(clientFinal: Array(Self.rfcClientFinal.utf8))
        #expect(final == .success(username: "user", serverFinal: Array(Self.rfcServerFinal.utf8)))
    }

    @Test("The client side computes RFC 7677's proof and accepts its server signature")
    func clientMatchesRFC7677() throws {
        var client = SCRAMClientExchange(username: "user", password: "pencil", nonce: "rOprNGfwEbeRWgbNEkqO")
        #expect(String(decoding: client.clientFirst, as: UTF8.self) == Self.rfcClientFirst)
        let final = try client.respond(toServerFirst: Array(Self.rfcServerFirst.utf8))
        #expect(String(decoding: final, as: UTF8.self) == Self.rfcClientFinal)
        try client.verify(serverFinal: Array(Self.rfcServerFinal.utf8))
        #expect(throws: SCRAMClientError.serverSignatureMismatch) {
            try client.verify(serverFinal: Array("v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".utf8))
        }
    }

    /// Runs client and server against each other; returns the server's last step.
    static func exchange(user: String, password: String, file: BrokerPasswordFile) throws -> SCRAMServer.Step {
        var client = SCRAMClientExchange(username: user, password: password)
        var server = SCRAMServer()
        let first = server.start(clientFirst: client.clientFirst, serverNonce: SCRAMServer.makeNonce(), decoy: Self.decoy,
                                 lookup: file.scramCredentials(of:))
        guard case .challenge(let serverFirst) = first else { return first }
        return server.finish(clientFinal: try client.respond(toServerFirst: serverFirst))
    }

    @Test("Right password succeeds; a wrong password and an unknown user fail alike (invalid proof)")
    func rightAndWrong() throws {
        var file = BrokerPasswordFile()
        try file.set(user: "al,i=ce", password: "s3cret", iterations: 4096)
        guard case .success(let user, _) = try Self.exchange(user: "al,i=ce", password: "s3cret", file: file) else {
            Issue.record("the right password failed"); return
        }
        #expect(user == "al,i=ce")
        #expect(try Self.exchange(user: "al,i=ce", password: "wrong", file: file) == .failure(.invalidProof))
        #expect(try Self.exchange(user: "nobody", password: "s3cret", file: file) == .failure(.invalidProof))
    }

    @Test("An unknown user gets a salt of its own, the same on every attempt, like a real user")
    func decoySalt() {
        func salt(_ user: String) -> String {
            var server = SCRAMServer()
            guard case .challenge(let first) = server.start(clientFirst: Array("n,,n=\(user),r=abc".utf8), serverNonce: "n", decoy: Self.decoy, lookup: { _ in nil }) else { return "" }
            return String(decoding: first, as: UTF8.self).split(separator: ",")[1].description
        }
        #expect(salt("ghost") == salt("ghost"))
        #expect(salt("ghost") != salt("phantom"))
        #expect(salt("ghost") != "s=" + Data(Self.decoy.salt).base64EncodedString())
    }

    @Test("Malformed or out-of-order messages fail as malformed", arguments: [
        "", "n,n=user,r=x", "p=tls-unique,,n=user,r=abc", "n,,r=abc,n=user", "n,,n=us=4er,r=abc", "n,,n=user", "n,a=other,n=user,r=abc",
    ])
    func malformedClientFirst(message: String) {
        var server = SCRAMServer()
        let step = server.start(clientFirst: Array(message.utf8), serverNonce: "n", decoy: Self.decoy) { _ in Self.decoy }
        guard case .failure(.malformed) = step else { Issue.record("\(message): \(step)"); return }
    }

    @Test("Client-final with a foreign nonce or a wrong channel binding echo fails")
    func badClientFinal() throws {
        let credentials = try Self.rfcCredentials()
        for final in [Self.rfcClientFinal.replacingOccurrences(of: "r=rOpr", with: "r=XOpr"),
                      Self.rfcClientFinal.replacingOccurrences(of: "c=biws", with: "c=eSws"), "c=biws"] {
            var server = SCRAMServer()
            _ = server.start(clientFirst: Array(Self.rfcClientFirst.utf8), serverNonce: Self.rfcServerNonce, decoy: Self.decoy) { _ in credentials }
            guard case .failure(.malformed) = server.finish(clientFinal: Array(final.utf8)) else { Issue.record("\(final) accepted"); continue }
        }
    }

    @Test("Password file: lines round-trip, passwords verify, a file with bad lines lists each by number")
    func passwordFile() throws {
        var file = BrokerPasswordFile()
        try file.set(user: "alice", password: "wonderland", iterations: 4096)
        try file.set(user: "bob", password: "builder", iterations: 4096)
        let text = file.serialized()
        #expect(text.hasPrefix("alice:SCRAM-SHA-256$4096:"))
        let parsed = try BrokerPasswordFile.parse("# users\n\n" + text)
        #expect(parsed == file)
        #expect(parsed.verify(user: "alice", password: Array("wonderland".utf8)))
        #expect(!parsed.verify(user: "alice", password: Array("builder".utf8)))
        #expect(!parsed.verify(user: "carol", password: Array("wonderland".utf8)))
        var removed = parsed
        #expect(removed.remove(user: "alice") && removed.entries.keys.elements == ["bob"])
        #expect(throws: PasswordFileError(problems: ["line 1: expected user:hash", "line 3: the hash of \"c\" is neither SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey nor $7$iterations$salt$hash", "line 4: user \"alice\" appears twice"])) {
            try BrokerPasswordFile.parse("nohash\n" + text.split(separator: "\n")[0] + "\nc:$6$abc\n" + text.split(separator: "\n")[0] + "\n")
        }
        #expect(!file.description.contains("SCRAM") && file.description.hasPrefix("2 users"))
    }
}

extension PasswordFileError: Equatable {
    public static func == (a: PasswordFileError, b: PasswordFileError) -> Bool { a.problems == b.problems }
}
