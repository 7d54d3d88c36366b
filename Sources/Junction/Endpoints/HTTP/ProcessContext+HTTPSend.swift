import Foundation
import MQTTCore
import NIOCore

extension ProcessContext {
    /// `send` to an `http` connector through libcurl; returns nil topic and QoS for tracking. On
    /// success the document gets `http.status` and `http.response` (the body, up to 64 KiB).
    ///
    /// URL = the connector's `baseUrl` + the rendered path; method = the step's, else the
    /// connector's; headers = the connector's (secrets revealed here only) and then the step's,
    /// rendered; body = the payload. A 2xx answer is success. Transport errors, 5xx, 408 and 429
    /// can pass (`permanent: false`, so `onError.retry` applies); any other status is permanent
    /// (the same request would be refused again). Transport errors are first tried again at once
    /// up to the connector's `retries`.
    func sendHTTP(connector: String, _ definition: HTTPConnectorDefinition, path: Template, method: String?,
                  headers: [(String, Template)], _ document: inout Document, step: Int?) async throws -> (String?, MQTTQoS?) {
        let url = Self.join(definition.baseURL.absoluteString, path.render(document))
        var requestHeaders: [(String, String)] = definition.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value.reveal()) }
        for (name, template) in headers {
            requestHeaders.removeAll { $0.0.lowercased() == name.lowercased() }
            requestHeaders.append((name, template.render(document)))
        }
        if let contentType = document.properties["contentType"],
           !requestHeaders.contains(where: { $0.0.lowercased() == "content-type" }) {
            requestHeaders.append(("Content-Type", contentType))
        }
        let verb = method ?? definition.method
        let request = CurlRequest(url: url, method: verb, headers: requestHeaders,
                                  body: Array(document.payload.readableBytesView),
                                  timeoutMilliseconds: definition.timeoutMilliseconds, tls: definition.tls)
        var transportAttempts = 0
        while true {
            do {
                let response = try await resources.http.client(for: connector).perform(request)
                switch response.status {
                case 200..<300:
                    // The answer becomes part of the document's result for the steps after it;
                    // the payload stays the document's own.
                    document.properties["http.status"] = "\(response.status)"
                    document.properties["http.response"] = String(String(buffer: response.body).prefix(65_536))
                    return (nil, nil)
                default:
                    let permanent = response.status < 500 && response.status != 408 && response.status != 429
                    let excerpt = String(String(buffer: response.body).prefix(200))
                    throw ProcessError(step: step, message: "\(verb) \(Self.redacted(url)) answered \(response.status)\(excerpt.isEmpty ? "" : ": \(excerpt)")",
                                       permanent: permanent)
                }
            } catch let error as CurlError {
                transportAttempts += 1
                if transportAttempts <= definition.retries { continue }
                throw ProcessError(step: step, message: "\(verb) \(Self.redacted(url)) failed: \(error.message)", permanent: false)
            }
        }
    }

    /// `base` and `path` with exactly one slash between them (no slash added to an empty path).
    static func join(_ base: String, _ path: String) -> String {
        guard !path.isEmpty else { return base }
        switch (base.hasSuffix("/"), path.hasPrefix("/")) {
        case (true, true): return base + path.dropFirst()
        case (false, false): return base + "/" + path
        default: return base + path
        }
    }

    /// The URL without user information or query, for logs and errors.
    static func redacted(_ url: String) -> String {
        guard var components = URLComponents(string: url) else { return "<url>" }
        components.user = nil
        components.password = nil
        components.query = nil
        return components.string ?? "<url>"
    }
}
