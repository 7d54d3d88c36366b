import MQTTTransport
import NIOCore
import NIOSSL

extension BrokerConnection {
    /// The user name the transport vouches for: on a TLS listener with `usernameFrom`, the CN or
    /// SAN of the client certificate the handshake verified; nil otherwise (no such listener, or
    /// no certificate presented where client certificates are optional).
    ///
    /// Hook for authentication: when this is non-nil the client authenticated with its
    /// certificate, and CONNECT uses it as the user name in place of the packet's (like
    /// Mosquitto's `use_identity_as_username`); ACL rules with `%u` and `username` see it.
    func certificateUsername() -> String? {
        guard let source = certificateUsernameSource, let context else { return nil }
        let certificate: NIOSSLCertificate?
        do {
            certificate = try context.pipeline.syncOperations.nioSSL_peerCertificate()
        } catch {
            return nil  // no TLS handler in this pipeline
        }
        return certificate.flatMap { source.username(in: $0) }
    }
}
