extension TLSDefinition {
    /// TLS for an outbound connection: CA, client certificate and key (PEM paths), verification.
    public static func files(ca: String? = nil, certificate: String? = nil, key: String? = nil, verify: Bool = true) -> TLSDefinition {
        var tls = TLSDefinition()
        tls.caFile = ca
        tls.certFile = certificate
        tls.keyFile = key
        tls.verify = verify
        return tls
    }
}
