import NIOCore
import NIOSSL

/// TLS of a listening socket (a broker listener, an HTTP listener): the server's certificate
/// chain and key, the CA that client certificates must chain to, whether clients must present
/// one, and whether the certificate names the MQTT user.
///
/// TLS 1.2 is the minimum version. Files are PEM.
public struct ListenerTLS: Sendable, Hashable {
    /// Whether clients present a certificate.
    public enum ClientCertificates: String, Sendable, Hashable, CaseIterable {
        /// Not asked for.
        case none
        /// Asked for; one that is presented must be valid (chain to `caFile`), none is fine too.
        case optional
        /// A valid client certificate is required: the handshake fails without one.
        case required
    }

    /// Which part of a client certificate becomes the MQTT user name.
    public enum UsernameSource: String, Sendable, Hashable, CaseIterable {
        /// The subject's Common Name.
        case cn
        /// The first DNS name, e-mail address or URI among the Subject Alternative Names.
        case san
    }

    /// PEM file with the server certificate, then its intermediates.
    public var certificateFile: String
    /// PEM file with the server's private key.
    public var keyFile: String
    /// PEM file with the CA certificates client certificates are checked against; nil uses the
    /// system's trust roots.
    public var caFile: String?
    public var clientCertificates: ClientCertificates
    /// When set, a verified client certificate's CN or SAN is the connection's user name
    /// (instead of the CONNECT user name), like Mosquitto's `use_identity_as_username`.
    public var usernameFrom: UsernameSource?

    public init(certificateFile: String, keyFile: String, caFile: String? = nil,
                clientCertificates: ClientCertificates = .none, usernameFrom: UsernameSource? = nil) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.caFile = caFile
        self.clientCertificates = clientCertificates
        self.usernameFrom = usernameFrom
    }

    /// The NIOSSL server configuration: reads the certificate and key files now.
    public func makeServerConfiguration() throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw TransportError("cannot read the TLS certificate \(certificateFile): \(error)")
        }
        guard !chain.isEmpty else { throw TransportError("no PEM certificate in \(certificateFile)") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw TransportError("cannot read the TLS private key \(keyFile): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) },
                                                                     privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        switch clientCertificates {
        case .none: configuration.certificateVerification = .none
        case .optional: configuration.certificateVerification = .optionalVerification
        case .required: configuration.certificateVerification = .noHostnameVerification
        }
        if let caFile {
            let roots: [NIOSSLCertificate]
            do {
                roots = try NIOSSLCertificate.fromPEMFile(caFile)
            } catch {
                throw TransportError("cannot read the TLS CA file \(caFile): \(error)")
            }
            configuration.trustRoots = .certificates(roots)
            configuration.sendCANameList = clientCertificates != .none
        }
        return configuration
    }

    /// A context for server handlers; creating it checks that certificate and key match.
    public func makeServerContext() throws -> NIOSSLContext {
        let configuration = try makeServerConfiguration()
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TransportError("TLS set-up with \(certificateFile) and \(keyFile) failed: \(error)")
        }
    }
}

extension ListenerTLS.UsernameSource {
    /// The user name this source reads from `certificate`, or nil when it has none.
    public func username(in certificate: NIOSSLCertificate) -> String? {
        switch self {
        case .cn:
            return certificate.subjectName.first { $0.type == .commonName }?.value
        case .san:
            for name in certificate._subjectAlternativeNames() {
                switch name.nameType {
                case .dnsName, .email, .uri:
                    let text = String(decoding: name.contents, as: UTF8.self)
                    if !text.isEmpty { return text }
                default:
                    continue
                }
            }
            return nil
        }
    }
}

/// A transport could not be set up (TLS files, WebSocket upgrade); the description says why.
public struct TransportError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
