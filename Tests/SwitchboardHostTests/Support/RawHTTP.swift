import Foundation

/// A minimal HTTP/1.1 client over a blocking socket: one request per connection, so tests see
/// exactly the bytes the server sends (HEAD, chunked bodies, header names).
struct RawResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    var text: String { String(decoding: body, as: UTF8.self) }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

enum RawHTTP {
    struct Failure: Error, CustomStringConvertible {
        let description: String
        /// A chunked body cut off before its last chunk: what had arrived, decoded.
        var partialBody: [UInt8]? = nil
    }

    static func request(
        port: Int, method: String = "GET", path: String, headers: [(String, String)] = [], body: [UInt8] = [],
        timeout: Double = 10, onFirstBytes: () -> Void = {}
    ) throws -> RawResponse {
        let fd = try connect(port: port, timeout: timeout)
        defer { close(fd) }
        var head = "\(method) \(path) HTTP/1.1\r\nConnection: close\r\n"
        if !headers.contains(where: { $0.0.lowercased() == "host" }) { head += "Host: 127.0.0.1:\(port)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        let out = Array(head.utf8) + body
        var sent = 0
        while sent < out.count {
            let n = out.withUnsafeBytes { send(fd, $0.baseAddress! + sent, out.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure(description: "send failed") }
            sent += n
        }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n < 0 { throw Failure(description: "recv failed or timed out: errno \(errno)") }
            if n == 0 { break }
            if data.isEmpty { onFirstBytes() }
            data.append(contentsOf: buffer[0..<n])
        }
        return try parse(data, method: method)
    }

    /// A blocking TCP socket connected to 127.0.0.1:`port`; reads time out after `timeout`
    /// seconds (0: never). `receiveBuffer` (bytes, 0: the kernel's) makes a client that stops
    /// reading stop the server's writes sooner. The caller closes it.
    static func connect(port: Int, timeout: Double, receiveBuffer: Int32 = 0) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket failed") }
        var size = receiveBuffer
        if size > 0 { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        if timeout > 0 {
            var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Foundation.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            close(fd)
            throw Failure(description: "connect to \(port) failed: errno \(code)")
        }
        return fd
    }

    static func parse(_ data: [UInt8], method: String) throws -> RawResponse {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let split = data.firstRange(of: separator) else { throw Failure(description: "no header end in \(data.count) bytes") }
        let headText = String(decoding: data[..<split.lowerBound], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw Failure(description: "bad status line") }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var body = Array(data[split.upperBound...])
        // A HEAD response advertises the GET's framing but carries no body: keep what came, raw.
        if method != "HEAD", headers.contains(where: { $0.0.lowercased() == "transfer-encoding" && $0.1.lowercased() == "chunked" }) {
            body = try dechunk(body)
        }
        return RawResponse(status: status, headers: headers, body: body)
    }

    private static func dechunk(_ data: [UInt8]) throws -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while true {
            guard let lineEnd = data[i...].firstRange(of: [13, 10]) else {
                throw Failure(description: "the chunked body ended without its last chunk", partialBody: out)
            }
            let sizeText = String(decoding: data[i..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText, radix: 16) else { throw Failure(description: "bad chunk size") }
            i = lineEnd.upperBound
            if size == 0 { return out }
            guard i + size <= data.count else {
                throw Failure(description: "the chunked body ended inside a chunk", partialBody: out + data[i...])
            }
            out.append(contentsOf: data[i..<(i + size)])
            i += size + 2
        }
    }
}

/// Blocking work (raw sockets, waits) run on threads of their own: a task group would hold the
/// cooperative pool's few threads (two on this machine) for the whole run, and every other test's
/// async code would starve behind it.
enum Blocking {
    /// Runs `body(0..<count)` on a private queue's threads, at most `width` at a time (the other
    /// tests share the machine); the results in order.
    static func concurrently<T: Sendable>(_ count: Int, width: Int = 32, _ body: @escaping @Sendable (Int) -> T) async -> [T] {
        let queue = DispatchQueue(label: "tests.blocking", attributes: .concurrent)
        let slots = DispatchSemaphore(value: width)
        let results = ResultSlots<T>(count)
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let group = DispatchGroup()
            for i in 0..<count {
                queue.async(group: group) {
                    slots.wait()
                    defer { slots.signal() }
                    results.set(i, body(i))
                }
            }
            group.notify(queue: .global()) { done.resume() }
        }
        return results.values
    }
}

/// Results written by concurrent workers, each to its own slot.
final class ResultSlots<T: Sendable>: @unchecked Sendable {
    private var slots: [T?]
    private let lock = NSLock()
    init(_ count: Int) { slots = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ value: T) { lock.withLock { slots[i] = value } }
    var values: [T] { lock.withLock { slots.map { $0! } } }
}
