#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few C library calls the engine makes itself: appending to files without a lock, the
/// status of a file, shell patterns. Every other file reaches the operating system through
/// Foundation or NIO.
enum Platform {
    /// The size and modification time of a file.
    struct FileStatus: Hashable, Sendable {
        var size: Int64
        var seconds: Int64
        var nanoseconds: Int64
    }

    /// Opens `path` for appending, creating it (mode 0644) when missing; the descriptor is
    /// closed on exec. `O_APPEND` makes each `write` land at the end, even with other writers.
    /// -1 when it cannot be opened (see ``lastErrorDescription``).
    static func openForAppending(_ path: String) -> Int32 {
        open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
    }

    /// Writes all of `bytes` to `descriptor`, going on after an interrupted call; false when a
    /// write fails (see ``lastErrorDescription``).
    static func writeAll(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        var offset = 0
        while offset < bytes.count {
            let written = write(descriptor, base + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }

    static func close(_ descriptor: Int32) {
        #if canImport(Glibc)
        _ = Glibc.close(descriptor)
        #elseif canImport(Darwin)
        _ = Darwin.close(descriptor)
        #endif
    }

    /// What the last failed call's `errno` says.
    static var lastErrorDescription: String { String(cString: strerror(errno)) }

    /// The status of the regular file at `path`; nil for a directory, link target missing, or
    /// anything but a regular file.
    static func regularFileStatus(_ path: String) -> FileStatus? {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        #if canImport(Darwin)
        let modified = info.st_mtimespec
        #else
        let modified = info.st_mtim
        #endif
        return FileStatus(size: Int64(info.st_size), seconds: Int64(modified.tv_sec), nanoseconds: Int64(modified.tv_nsec))
    }

    /// Whether `name` matches the shell pattern `glob` (`*`, `?`, `[...]`, as `fnmatch` with no flags).
    static func matches(_ name: String, glob: String) -> Bool { fnmatch(glob, name, 0) == 0 }
}

