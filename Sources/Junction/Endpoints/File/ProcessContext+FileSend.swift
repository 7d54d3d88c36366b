import Foundation
import NIOCore

extension ProcessContext {
    /// File send: `overwrite` writes atomically (temporary file and rename); `append` adds the
    /// payload as one line. The name may not leave the connector's directory.
    func write(_ document: Document, connector: String, name: String, append: Bool, step: Int?) throws {
        guard let directory = directory(of: connector) else {
            throw ProcessError(step: step, message: "connector \(connector) is not a file connector", permanent: true)
        }
        let parts = name.split(separator: "/")
        guard !name.isEmpty, !name.hasPrefix("/"), !parts.contains("..") else {
            throw ProcessError(step: step, message: "file name \"\(name)\" must stay inside \(directory.path)", permanent: true)
        }
        let url = directory.appendingPathComponent(name)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            var data = Data(bytesOf: document.payload)
            if append {
                if data.last != 0x0A { data.append(0x0A) }
                // O_APPEND makes each line one write at the end, so documents in flight at the same
                // time never overwrite each other.
                let descriptor = Platform.openForAppending(url.path)
                guard descriptor >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path]) }
                let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
                try handle.write(contentsOf: data)
            } else {
                try data.write(to: url, options: .atomic)
            }
        } catch {
            throw ProcessError(step: step, message: "writing \(url.path) failed: \(error)", permanent: false)
        }
    }
}
