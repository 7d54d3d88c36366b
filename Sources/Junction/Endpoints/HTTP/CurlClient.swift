import CCurl
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// One HTTP request for ``CurlClient``.
public struct CurlRequest: Sendable {
    public var url: String
    public var method: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var timeoutMilliseconds: Int64
    public var tls: TLSDefinition?

    public init(url: String, method: String = "GET", headers: [(String, String)] = [], body: [UInt8] = [],
                timeoutMilliseconds: Int64 = 30_000, tls: TLSDefinition? = nil) {
        self.url = url
        self.method = method
        self.headers = headers
        self.body = body
        self.timeoutMilliseconds = timeoutMilliseconds
        self.tls = tls
    }
}

/// The answer to a ``CurlRequest``: status, headers (names lowercased) and body.
public struct CurlResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: ByteBuffer
}

/// A transport failure (no HTTP status): connection refused, timeout, TLS.
public struct CurlError: Error, Sendable, CustomStringConvertible {
    public var code: Int
    public var message: String
    public var description: String { "curl error \(code): \(message)" }
}

/// HTTP through libcurl (docs/design.md). The transfers of a client run concurrently on one thread
/// of its own through a libcurl multi handle (``CurlMulti``): no event loop and no cooperative
/// thread waits for the network, connections are kept alive and reused across requests, and
/// easy handles are kept for the next transfers.
public final class CurlClient: Sendable {
    static let globalInit: Bool = curl_global_init(3) == CURLE_OK  // CURL_GLOBAL_ALL

    private let multi: CurlMulti

    public init(maxIdleHandles: Int = 64) {
        _ = Self.globalInit
        multi = CurlMulti(maxIdleHandles: maxIdleHandles)
    }

    /// Performs `request`; throws ``CurlError`` when there is no HTTP response at all.
    public func perform(_ request: CurlRequest) async throws -> CurlResponse {
        try await multi.perform(request)
    }
}
