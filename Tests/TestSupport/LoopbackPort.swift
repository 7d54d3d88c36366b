import Foundation

/// Loopback ports for children that must be told their port up front (mosquitto, a port that
/// must refuse connections).
///
/// A port found by binding port 0 and closing comes from the kernel's ephemeral range, which is
/// exactly where every other port-0 listener of the test run (and of other runs on the machine)
/// gets its port: on a loaded machine another test takes it before the child binds it. These
/// ports are drawn from below that range instead, where nothing binds by chance, and a launch is
/// confirmed with ``isListening(pid:port:)`` (the child itself owns the listening socket), not by
/// a connection that any other program on that port would accept too.
///
/// In the `TestSupport` target shared by every test target.
public enum LoopbackPort {
    /// A port below the ephemeral range on which nothing listens right now.
    public static func pick() throws -> Int {
        let upper = min(32_000, ephemeralLow())
        let lower = max(10_000, upper - 12_000)
        for _ in 0..<500 {
            let port = Int.random(in: lower..<upper)
            if isFree(port) { return port }
        }
        throw PortFailure(description: "no free loopback port in \(lower)..<\(upper)")
    }

    /// The first port of the kernel's ephemeral range (32768 by default).
    public static func ephemeralLow() -> Int {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        return text.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32_768
    }

    /// Whether 127.0.0.1:`port` can be bound for listening (with SO_REUSEADDR, as servers do, so
    /// connections in TIME_WAIT do not count).
    public static func isFree(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        return withAddress(port) { bind(fd, $0, $1) } == 0 && listen(fd, 1) == 0
    }

    /// Whether a TCP connection to 127.0.0.1:`port` is accepted within `milliseconds`.
    public static func accepts(_ port: Int, milliseconds: Int32 = 500) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        if withAddress(port, { connect(fd, $0, $1) }) == 0 { return true }
        guard errno == EINPROGRESS else { return false }
        var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&descriptor, 1, milliseconds) == 1 else { return false }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0
    }

    /// Calls `body` (bind, connect) with the address 127.0.0.1:`port`.
    private static func withAddress(_ port: Int, _ body: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// Whether process `pid` holds a TCP socket listening on `port` (any local address), read from
    /// /proc: the listening sockets' inodes in /proc/net/tcp{,6} against the process's open files.
    public static func isListening(pid: Int32, port: Int) -> Bool {
        let hexPort = String(format: ":%04X", port)
        var inodes: Set<String> = []
        for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
            for line in readAll(table).split(separator: "\n").dropFirst() {
                let fields = line.split(whereSeparator: \.isWhitespace)
                guard fields.count > 9, fields[1].hasSuffix(hexPort), fields[3] == "0A" else { continue }
                inodes.insert("socket:[\(fields[9])]")
            }
        }
        guard !inodes.isEmpty else { return false }
        let directory = "/proc/\(pid)/fd"
        guard let descriptors = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return false }
        return descriptors.contains { descriptor in
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "\(directory)/\(descriptor)")).map(inodes.contains) ?? false
        }
    }

    /// The whole of a /proc file. procfs reports a size of 0, and Foundation's file reading
    /// then stops after its first buffer (about 4 KB of /proc/net/tcp: ~27 sockets, far fewer
    /// than a test run holds), so this reads to the end itself.
    public static func readAll(_ path: String) -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return "" }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            bytes += buffer[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public struct PortFailure: Error, CustomStringConvertible {
        public var description: String
    }
}
