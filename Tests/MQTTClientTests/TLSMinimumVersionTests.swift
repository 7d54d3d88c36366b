import Foundation
import MQTTBroker
import TestSupport
import Testing

/// TLS 1.2 is the minimum of our TLS listener: real TLS 1.1 clients (Python's ssl module and
/// `openssl s_client`, both at OpenSSL security level 0, which OpenSSL 3 needs for TLS 1.1) are
/// refused, after the same client is shown to complete TLS 1.1 where the server allows it.
@Suite("TLS listener: TLS 1.1 refused, TLS 1.2 accepted", .timeLimit(.minutes(1)))
struct TLSMinimumVersionTests {
    /// argv: broker port, server certificate, server key. Prints one line per attempt.
    static let script = #"""
    import socket, ssl, sys, threading, warnings
    warnings.simplefilter("ignore", DeprecationWarning)
    port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]

    def client(version):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ctx.maximum_version = version
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        return ctx

    def attempt(name, port, version, mqtt=False):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with client(version).wrap_socket(raw) as tls:
                    line = "%s ok %s" % (name, tls.version())
                    if mqtt:  # CONNECT (3.1.1, clean, keepalive 10, id "t") must get a CONNACK 0x00
                        tls.sendall(bytes([0x10, 13, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 10, 0, 1]) + b"t")
                        line += " connack " + tls.recv(4).hex()
                    print(line, flush=True)
        except (ssl.SSLError, OSError) as error:
            print("%s refused %s" % (name, type(error).__name__), flush=True)

    # Control: a TLS 1.1-only server on this machine, so a refusal below is the listener's doing.
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.minimum_version = server_ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    server_ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    server_ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    def serve():
        connection, _ = listener.accept()
        try:
            with server_ctx.wrap_socket(connection, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    attempt("control-tls1.1", listener.getsockname()[1], ssl.TLSVersion.TLSv1_1)
    thread.join(10)
    attempt("broker-tls1.1", port, ssl.TLSVersion.TLSv1_1)
    attempt("broker-tls1.2", port, ssl.TLSVersion.TLSv1_2, mqtt=True)
    """#

    @Test("Python ssl: TLS 1.1 works against a TLS 1.1 server but our listener refuses it; TLS 1.2 connects and gets a CONNACK")
    func pythonClient() async throws {
        let python = try installedTool("python3")
        let script = FileManager.default.temporaryDirectory.appendingPathComponent("junction-tls11-\(UUID().uuidString.prefix(8)).py")
        try Data(Self.script.utf8).write(to: script)
        defer { try? FileManager.default.removeItem(at: script) }
        try await withBroker(listeners: [.test(tls: try TestCertificates.listener())]) { ports in
            let outcome = try await ChildProcess.run(python, [script.path, "\(ports[0])", try TestCertificates.pem("server"),
                                                              try TestCertificates.key("server")], timeout: .seconds(30))
            let lines = outcome.stdoutText.split(separator: "\n").map(String.init)
            #expect(outcome.status == 0, "\(outcome.summary)")
            #expect(lines.contains("control-tls1.1 ok TLSv1.1"), "the client cannot do TLS 1.1 here: \(outcome.summary)")
            #expect(lines.contains { $0.hasPrefix("broker-tls1.1 refused") }, "\(outcome.summary)")
            #expect(lines.contains("broker-tls1.2 ok TLSv1.2 connack 20020000"), "\(outcome.summary)")
        }
    }

    @Test("openssl s_client -tls1_1 (security level 0) completes with a TLS 1.1 s_server but is refused by our listener; -tls1_2 connects")
    func opensslClient() async throws {
        let openssl = try installedTool("openssl", package: "openssl")
        func handshake(_ port: Int, _ version: String) async throws -> ChildProcess.Outcome {
            try await ChildProcess.run(openssl, ["s_client", "-connect", "127.0.0.1:\(port)", version,
                                                 "-cipher", "DEFAULT:@SECLEVEL=0", "-CAfile", try TestCertificates.pem("ca")],
                                       timeout: .seconds(20))
        }
        // Control: openssl's own TLS 1.1 server (one connection) accepts the same client.
        let port = try LoopbackPort.pick()  // s_server cannot report a port 0 it bound
        let server = try ChildProcess(openssl, ["s_server", "-accept", "127.0.0.1:\(port)", "-naccept", "1", "-www", "-tls1_1",
                                                "-cipher", "DEFAULT:@SECLEVEL=0", "-cert", try TestCertificates.pem("server"),
                                                "-key", try TestCertificates.key("server")])
        #expect(await server.waitForOutput(containing: "ACCEPT"), "s_server did not start: \(server.stderrSoFar)")
        let control = try await handshake(port, "-tls1_1")
        _ = await server.finish(timeout: .seconds(5))
        #expect(control.status == 0 && control.stdoutText.contains("Protocol  : TLSv1.1") && !control.stdoutText.contains("Cipher is (NONE)"),
                "openssl cannot do TLS 1.1 here: \(control.summary)")
        try await withBroker(listeners: [.test(tls: try TestCertificates.listener())]) { ports in
            let old = try await handshake(ports[0], "-tls1_1")
            #expect(old.status != 0, "\(old.summary)")
            #expect(old.stderr.contains("alert protocol version") && old.stdoutText.contains("Cipher is (NONE)"), "\(old.summary)")
            let current = try await handshake(ports[0], "-tls1_2")
            #expect(current.status == 0, "\(current.summary)")
            #expect(current.stdoutText.contains("Protocol  : TLSv1.2") && !current.stdoutText.contains("Cipher is (NONE)"), "\(current.summary)")
        }
    }
}
