import MQTTTransport
import NIOCore
import NIOSSL

/// TLS for `mqtts://` and `wss://` servers: whom to trust, the client's own certificate, and how
/// strictly the broker's certificate is checked (fully, by default).
public struct MQTTClientTLS: Sendable, Hashable {
    /// How the broker's certificate is checked.
    public enum Verification: String, Sendable, Hashable {
        /// The chain must lead to a trusted CA and the certificate must name the host (default).
        case full
        /// The chain is checked, the host name is not (mosquitto_pub `--insecure`).
        case noHostname
        /// Nothing is checked: anyone in the middle can read and change the traffic.
        case none
    }

    /// PEM file with the CA certificates to trust; nil trusts the system's roots.
    public var caFile: String?
    /// PEM file with the client certificate (and its intermediates), for brokers that ask for one.
    public var certificateFile: String?
    /// PEM file with the client certificate's private key.
    public var keyFile: String?
    public var verification: Verification
    /// The name to check the certificate against and send as SNI, when it is not the URL's host.
    public var serverName: String?

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil,
                verification: Verification = .full, serverName: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.verification = verification
        self.serverName = serverName
    }

    /// The NIOSSL client configuration (TLS 1.2 or later); reads the files now.
    public func makeConfiguration() throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        switch verification {
        case .full: configuration.certificateVerification = .fullVerification
        case .noHostname: configuration.certificateVerification = .noHostnameVerification
        case .none: configuration.certificateVerification = .none
        }
        if let caFile {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw TransportError("cannot read the CA file \(caFile): \(error)")
            }
        }
        switch (certificateFile, keyFile) {
        case (nil, nil):
            break
        case (let certificateFile?, let keyFile?):
            do {
                configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(certificateFile).map { .certificate($0) }
            } catch {
                throw TransportError("cannot read the client certificate \(certificateFile): \(error)")
            }
            do {
                configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: keyFile, format: .pem))
            } catch {
                throw TransportError("cannot read the client key \(keyFile): \(error)")
            }
        default:
            throw TransportError("a client certificate needs its key, and a key its certificate")
        }
        return configuration
    }

    /// The SNI / verification name for `host`: nil for an IP address (checked against the
    /// certificate's IP addresses instead).
    func serverHostname(for host: String) -> String? {
        let name = serverName ?? host
        do {
            _ = try SocketAddress(ipAddress: name, port: 0)
            return nil
        } catch {
            return name
        }
    }
}
