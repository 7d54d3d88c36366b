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

/// HTTP through libcurl (DESIGN §1). Blocking `curl_easy_perform` runs on a small thread pool
/// so that no event loop and no cooperative thread waits for the network; easy handles are kept
/// in a pool after use, and each keeps its connections alive, so the next request to the same
/// host reuses a connection.
public final class CurlClient: Sendable {
    /// Blocking transfers run on NIO's process-wide thread pool. A private pool that is never
    /// shut down kept its threads alive at process exit and could leave the test runner hanging
    /// after its last test.
    static var threads: NIOThreadPool { NIOThreadPool.singleton }

    static let globalInit: Bool = curl_global_init(3) == CURLE_OK  // CURL_GLOBAL_ALL

    private let idle = Mutex<[EasyHandle]>([])
    private let maxIdle: Int

    public init(maxIdleHandles: Int = 8) {
        _ = Self.globalInit
        maxIdle = maxIdleHandles
    }

    deinit {
        for handle in idle.withLock({ $0 }) { curl_easy_cleanup(handle.pointer) }
    }

    /// Performs `request`; throws ``CurlError`` when there is no HTTP response at all.
    public func perform(_ request: CurlRequest) async throws -> CurlResponse {
        let handle = idle.withLock { $0.popLast() } ?? EasyHandle(pointer: curl_easy_init())
        guard handle.pointer != nil else { throw CurlError(code: -1, message: "curl_easy_init failed") }
        let result: Result<CurlResponse, CurlError> = try await Self.threads.runIfActive {
            Self.transfer(handle, request)
        }
        switch result {
        case .success:
            let kept = idle.withLock { idle in
                guard idle.count < maxIdle else { return false }
                idle.append(handle)
                return true
            }
            if !kept { curl_easy_cleanup(handle.pointer) }
        case .failure:
            curl_easy_cleanup(handle.pointer)  // its connection may be in any state
        }
        return try result.get()
    }

    /// The blocking part, on a pool thread.
    private static func transfer(_ handle: EasyHandle, _ request: CurlRequest) -> Result<CurlResponse, CurlError> {
        let curl = handle.pointer
        curl_easy_reset(curl)  // keeps the live connections
        let sink = ResponseSink()
        let context = Unmanaged.passUnretained(sink).toOpaque()
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        for (name, value) in request.headers { headerList = curl_slist_append(headerList, "\(name): \(value)") }
        headerList = curl_slist_append(headerList, "Expect:")

        _ = junction_curl_setopt_string(curl, CURLOPT_URL, request.url)
        _ = junction_curl_setopt_long(curl, CURLOPT_NOSIGNAL, 1)
        _ = junction_curl_setopt_long(curl, CURLOPT_TIMEOUT_MS, Int(request.timeoutMilliseconds))
        _ = junction_curl_setopt_long(curl, CURLOPT_CONNECTTIMEOUT_MS, Int(min(request.timeoutMilliseconds, 10_000)))
        _ = junction_curl_setopt_long(curl, CURLOPT_TCP_KEEPALIVE, 1)
        _ = junction_curl_setopt_slist(curl, CURLOPT_HTTPHEADER, headerList)
        _ = junction_curl_setopt_writefunction(curl, { data, size, count, context in
            guard let data, let context else { return 0 }
            Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue().body
                .append(contentsOf: UnsafeRawBufferPointer(start: data, count: size * count))
            return size * count
        })
        _ = junction_curl_setopt_pointer(curl, CURLOPT_WRITEDATA, context)
        _ = junction_curl_setopt_headerfunction(curl, { data, size, count, context in
            guard let data, let context else { return 0 }
            let line = String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self)
            let sink = Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue()
            if line.hasPrefix("HTTP/") { sink.headers.removeAll() }  // a new response (after 100 or a redirect)
            if let colon = line.firstIndex(of: ":") {
                sink.headers.append((line[..<colon].lowercased(),
                                     line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)))
            }
            return size * count
        })
        _ = junction_curl_setopt_pointer(curl, CURLOPT_HEADERDATA, context)
        let tls = request.tls ?? TLSDefinition()
        _ = junction_curl_setopt_long(curl, CURLOPT_SSL_VERIFYPEER, tls.verify ? 1 : 0)
        _ = junction_curl_setopt_long(curl, CURLOPT_SSL_VERIFYHOST, tls.verify ? 2 : 0)
        if let caFile = tls.caFile { _ = junction_curl_setopt_string(curl, CURLOPT_CAINFO, caFile) }
        if let certFile = tls.certFile { _ = junction_curl_setopt_string(curl, CURLOPT_SSLCERT, certFile) }
        if let keyFile = tls.keyFile { _ = junction_curl_setopt_string(curl, CURLOPT_SSLKEY, keyFile) }

        // libcurl wants a pointer even for an empty body: one byte of storage, a size of 0.
        let storage = request.body.isEmpty ? [UInt8(0)] : request.body
        let code: CURLcode = storage.withUnsafeBufferPointer { body in
            switch request.method {
            case "GET" where request.body.isEmpty: _ = junction_curl_setopt_long(curl, CURLOPT_HTTPGET, 1)
            case "HEAD": _ = junction_curl_setopt_long(curl, CURLOPT_NOBODY, 1)
            default:
                _ = junction_curl_setopt_string(curl, CURLOPT_CUSTOMREQUEST, request.method)
                _ = junction_curl_setopt_pointer(curl, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: body.baseAddress))
                _ = junction_curl_setopt_off_t(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
            }
            return curl_easy_perform(curl)
        }
        guard code == CURLE_OK else {
            return .failure(CurlError(code: Int(code.rawValue), message: String(cString: curl_easy_strerror(code))))
        }
        var status = 0
        _ = junction_curl_getinfo_long(curl, CURLINFO_RESPONSE_CODE, &status)
        return .success(CurlResponse(status: status, headers: sink.headers, body: ByteBuffer(bytes: sink.body)))
    }
}

/// A libcurl easy handle: used by one transfer at a time, handed between threads by the pool.
struct EasyHandle: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer?
}

/// Where the callbacks of one transfer write; only touched by the thread running it.
private final class ResponseSink {
    var body: [UInt8] = []
    var headers: [(String, String)] = []
}
