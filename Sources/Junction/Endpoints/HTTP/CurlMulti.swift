import CCurl
import Foundation
import NIOCore
import Synchronization

/// Runs the transfers of one ``CurlClient`` concurrently on one thread of its own, through a
/// libcurl multi handle: every transfer shares the multi handle's connection cache (keep-alive
/// across requests), and a thousand requests in flight cost one thread, not a thousand.
///
/// Callers queue a ``Transfer`` and wake the thread (`curl_multi_wakeup`); the thread adds queued
/// transfers, drives them with `curl_multi_perform`/`curl_multi_poll`, and resumes each caller
/// when its transfer is done. The thread ends after a second without work and starts again with
/// the next request, so an idle client holds no thread (nothing is left running at exit).
final class CurlMulti: Sendable {
    private struct Shared: ~Copyable {
        var queue: [Transfer] = []
        var running = false
        var multi: MultiHandle?
    }

    /// The multi handle, shared with callers only for `curl_multi_wakeup`, which is thread-safe.
    private struct MultiHandle: @unchecked Sendable { let pointer: UnsafeMutableRawPointer }

    private let shared = Mutex(Shared())
    private let maxIdleHandles: Int

    init(maxIdleHandles: Int) { self.maxIdleHandles = maxIdleHandles }

    func perform(_ request: CurlRequest) async throws -> CurlResponse {
        try await withCheckedThrowingContinuation { continuation in
            let transfer = Transfer(request: request, continuation: continuation)
            let (start, multi) = shared.withLock { shared -> (Bool, MultiHandle?) in
                shared.queue.append(transfer)
                if shared.running { return (false, shared.multi) }
                shared.running = true
                return (true, nil)
            }
            if start {
                let thread = Thread { [self] in run() }
                thread.name = "junction-curl"
                thread.start()
            } else if let multi {
                curl_multi_wakeup(multi.pointer)
            }
        }
    }

    /// The thread: until a second passes with nothing to do.
    private func run() {
        guard let multi = curl_multi_init() else {
            let queued = shared.withLock { shared in
                shared.running = false
                defer { shared.queue = [] }
                return shared.queue
            }
            for transfer in queued { transfer.finish(.failure(CurlError(code: -1, message: "curl_multi_init failed"))) }
            return
        }
        _ = junction_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, 64)
        let handle = MultiHandle(pointer: multi)
        shared.withLock { $0.multi = handle }
        var active: [UnsafeMutableRawPointer: Transfer] = [:]
        var idle: [UnsafeMutableRawPointer] = []
        var lastWork = ContinuousClock.now
        while true {
            let incoming: [Transfer]? = shared.withLock { shared in
                if shared.queue.isEmpty && active.isEmpty && ContinuousClock.now - lastWork > .seconds(1) {
                    shared.running = false
                    shared.multi = nil
                    return nil
                }
                defer { shared.queue = [] }
                return shared.queue
            }
            guard let incoming else { break }
            for transfer in incoming {
                guard let easy = idle.popLast() ?? curl_easy_init() else {
                    transfer.finish(.failure(CurlError(code: -1, message: "curl_easy_init failed")))
                    continue
                }
                transfer.configure(easy)
                active[easy] = transfer
                curl_multi_add_handle(multi, easy)
            }
            if !active.isEmpty { lastWork = .now }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var left: Int32 = 0
            while let message = curl_multi_info_read(multi, &left) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                let code = junction_curl_msg_result(message)
                curl_multi_remove_handle(multi, easy)
                guard let transfer = active.removeValue(forKey: easy) else { continue }
                transfer.complete(easy, code: code)
                // A failed transfer's connection may be in any state: that handle goes.
                if code == CURLE_OK && idle.count < maxIdleHandles { idle.append(easy) } else { curl_easy_cleanup(easy) }
            }
            curl_multi_poll(multi, nil, 0, 100, nil)
        }
        for easy in idle { curl_easy_cleanup(easy) }
        curl_multi_cleanup(multi)
    }
}

/// One request on its way through ``CurlMulti``: owned by the caller until queued, then by the
/// multi thread alone.
final class Transfer: @unchecked Sendable {
    let request: CurlRequest
    private let continuation: CheckedContinuation<CurlResponse, Error>
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var body: [UInt8] = []
    private var headers: [(String, String)] = []

    init(request: CurlRequest, continuation: CheckedContinuation<CurlResponse, Error>) {
        self.request = request
        self.continuation = continuation
    }

    deinit { curl_slist_free_all(headerList) }

    func finish(_ result: Result<CurlResponse, CurlError>) { continuation.resume(with: result.mapError { $0 as Error }) }

    /// Sets every option of the request on `curl` (reset first: the handle may have served another).
    func configure(_ curl: UnsafeMutableRawPointer) {
        curl_easy_reset(curl)
        for (name, value) in request.headers { headerList = curl_slist_append(headerList, "\(name): \(value)") }
        headerList = curl_slist_append(headerList, "Expect:")
        let context = Unmanaged.passUnretained(self).toOpaque()
        _ = junction_curl_setopt_string(curl, CURLOPT_URL, request.url)
        _ = junction_curl_setopt_long(curl, CURLOPT_NOSIGNAL, 1)
        _ = junction_curl_setopt_long(curl, CURLOPT_TIMEOUT_MS, Int(request.timeoutMilliseconds))
        _ = junction_curl_setopt_long(curl, CURLOPT_CONNECTTIMEOUT_MS, Int(min(request.timeoutMilliseconds, 10_000)))
        _ = junction_curl_setopt_long(curl, CURLOPT_TCP_KEEPALIVE, 1)
        _ = junction_curl_setopt_long(curl, CURLOPT_TCP_NODELAY, 1)
        _ = junction_curl_setopt_slist(curl, CURLOPT_HTTPHEADER, headerList)
        _ = junction_curl_setopt_writefunction(curl, { data, size, count, context in
            guard let data, let context else { return 0 }
            Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue().body
                .append(contentsOf: UnsafeRawBufferPointer(start: data, count: size * count))
            return size * count
        })
        _ = junction_curl_setopt_pointer(curl, CURLOPT_WRITEDATA, context)
        _ = junction_curl_setopt_headerfunction(curl, { data, size, count, context in
            guard let data, let context else { return 0 }
            let line = String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self)
            let transfer = Unmanaged<Transfer>.fromOpaque(context).takeUnretainedValue()
            if line.hasPrefix("HTTP/") { transfer.headers.removeAll() }  // a new response (after 100 or a redirect)
            if let colon = line.firstIndex(of: ":") {
                transfer.headers.append((line[..<colon].lowercased(),
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
        switch request.method {
        case "GET" where request.body.isEmpty: _ = junction_curl_setopt_long(curl, CURLOPT_HTTPGET, 1)
        case "HEAD": _ = junction_curl_setopt_long(curl, CURLOPT_NOBODY, 1)
        default:
            _ = junction_curl_setopt_string(curl, CURLOPT_CUSTOMREQUEST, request.method)
            // COPYPOSTFIELDS: libcurl keeps its own copy, so the body needs no storage here.
            _ = junction_curl_setopt_off_t(curl, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count))
            let storage = request.body.isEmpty ? [UInt8(0)] : request.body
            storage.withUnsafeBufferPointer { bytes in
                _ = junction_curl_setopt_pointer(curl, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress))
            }
        }
    }

    /// The transfer on `curl` ended with `code`: resumes the caller with the response or the error.
    func complete(_ curl: UnsafeMutableRawPointer, code: CURLcode) {
        guard code == CURLE_OK else {
            return finish(.failure(CurlError(code: Int(code.rawValue), message: String(cString: curl_easy_strerror(code)))))
        }
        var status = 0
        _ = junction_curl_getinfo_long(curl, CURLINFO_RESPONSE_CODE, &status)
        finish(.success(CurlResponse(status: status, headers: headers, body: ByteBuffer(bytes: body))))
    }
}
