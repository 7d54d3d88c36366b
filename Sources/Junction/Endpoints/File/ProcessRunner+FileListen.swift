import Foundation
import NIOCore
import ServiceLifecycle
import Synchronization

extension ProcessRunner {
    /// File Listen: the connector's directory is polled every `pollMilliseconds`; a regular file
    /// whose name matches the glob (not starting with ".") and whose size and modification time
    /// did not change since the previous poll (so it is no longer being written) becomes a
    /// document with properties `file.name` and `file.size`. After its trip it moves to
    /// `processed/` (completed or dead-lettered) or `failed/` beside it; until then it stays
    /// where it is, so a crash never loses it. At most `maxInFlight` files at once; graceful
    /// shutdown stops polling and lets the files in flight finish.
    func runFileListen(_ listen: ListenDefinition.FileListen) async throws {
        guard let directory = context.directory(of: listen.connector) else {
            throw ProcessError(message: "connector \(listen.connector) is not a file connector", permanent: true)
        }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw ProcessError(message: "cannot create \(directory.path): \(error)", permanent: false)
        }
        let maxInFlight = max(1, context.definition.maxInFlight)
        let interval = Duration.milliseconds(max(1, listen.pollMilliseconds))
        let inFlight = FileListenInFlight()
        started([
            "process.name": "\(context.name)", "file.directory": "\(directory.path)", "file.glob": "\(listen.glob)",
        ])
        await withTaskGroup(of: Void.self) { group in
            var previous: [String: FileListenObservation] = [:]
            while !Task.isShuttingDownGracefully && !Task.isCancelled {
                let current = Self.scan(directory, glob: listen.glob)
                for name in current.keys.sorted() {
                    guard let seen = current[name], previous[name] == seen else { continue }
                    let started = inFlight.names.withLock { names -> Bool in
                        guard names.count < maxInFlight, !names.contains(name) else { return false }
                        names.insert(name)
                        return true
                    }
                    guard started else { continue }
                    group.addTask {
                        await pickUp(name, size: seen.size, in: directory, listen)
                        _ = inFlight.names.withLock { $0.remove(name) }
                    }
                }
                previous = current
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            }
            await group.waitForAll()
        }
        context.logger.info("process stopped", metadata: ["process.name": "\(context.name)"])
    }

    /// One file through the process, then to `processed/` or `failed/`.
    func pickUp(_ name: String, size: Int64, in directory: URL, _ listen: ListenDefinition.FileListen) async {
        let url = directory.appendingPathComponent(name)
        guard let data = try? Data(contentsOf: url) else { return }  // gone meanwhile: nothing to do
        var buffer = ByteBufferAllocator().buffer(capacity: data.count)
        buffer.writeBytes(data)
        var document = Document(payload: buffer, properties: ["file.name": name, "file.size": "\(data.count)"])
        let outcome = await process(&document, connector: listen.connector, options: listen.options, qos: nil)
        let folder: String
        switch outcome {
        case .completed, .deadLettered: folder = "processed"
        case .failed: folder = "failed"
        }
        do {
            try Self.move(url, to: directory.appendingPathComponent(folder))
        } catch {
            context.logger.error("cannot move picked-up file", metadata: [
                "process.name": "\(context.name)", "file.name": "\(name)", "error": "\(error)",
            ])
        }
    }

    /// Moves `file` into `folder` (created if needed); a name already there gets a time suffix.
    static func move(_ file: URL, to folder: URL) throws {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var target = folder.appendingPathComponent(file.lastPathComponent)
        if FileManager.default.fileExists(atPath: target.path) {
            let stamp = Int64(Date().timeIntervalSince1970 * 1000)
            target = folder.appendingPathComponent("\(file.lastPathComponent).\(stamp)-\(UUID().uuidString.prefix(8).lowercased())")
        }
        try FileManager.default.moveItem(at: file, to: target)
    }

    /// The regular, visible files of `directory` matching `glob`, with their size and mtime.
    static func scan(_ directory: URL, glob: String) -> [String: FileListenObservation] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [:] }
        var found: [String: FileListenObservation] = [:]
        for name in names where !name.hasPrefix(".") && Platform.matches(name, glob: glob) {
            guard let status = Platform.regularFileStatus(directory.appendingPathComponent(name).path) else { continue }
            found[name] = FileListenObservation(size: status.size, seconds: status.seconds, nanoseconds: status.nanoseconds)
        }
        return found
    }
}

/// The names of the files being processed.
final class FileListenInFlight: Sendable {
    let names = Mutex<Set<String>>([])
}

/// What one poll saw of a file: unchanged across two polls means it is complete.
struct FileListenObservation: Hashable, Sendable {
    var size: Int64
    var seconds: Int64
    var nanoseconds: Int64
}
