import Foundation

/// Puts plugin files into a watched directory the ways users do.
enum Drop {
    /// Writes `source` beside `target` under a hidden name, then renames it over `target` (what
    /// `mv`, `install` and linkers do): the watcher sees one complete new inode.
    static func rename(_ source: String, to target: String) throws {
        let temporary = (target as NSString).deletingLastPathComponent + "/.incoming-\(UUID().uuidString.prefix(8))"
        try FileManager.default.copyItem(atPath: source, toPath: temporary)
        guard Foundation.rename(temporary, target) == 0 else { throw RawHTTP.Failure(description: "rename failed: errno \(errno)") }
    }

    /// Overwrites `target` in place, like `cp` onto an existing file: same inode, truncated, then
    /// written in `pieces` writes with `pause` seconds between them.
    static func overwriteInPlace(_ source: String, to target: String, pieces: Int = 1, pause: Double = 0) throws {
        let bytes = [UInt8](FileManager.default.contents(atPath: source)!)
        let fd = open(target, O_WRONLY | O_TRUNC | O_CREAT, 0o644)
        guard fd >= 0 else { throw RawHTTP.Failure(description: "open failed: errno \(errno)") }
        defer { close(fd) }
        let size = (bytes.count + pieces - 1) / pieces
        var offset = 0
        while offset < bytes.count {
            let end = min(offset + size, bytes.count)
            let written = bytes[offset..<end].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written == end - offset else { throw RawHTTP.Failure(description: "write failed") }
            offset = end
            if pause > 0 && offset < bytes.count { usleep(UInt32(pause * 1_000_000)) }
        }
    }
}

/// Polls `condition` every 10 ms until it holds or `timeout` seconds pass (times
/// `SWITCHBOARD_TEST_TIME_SCALE`, which scripts/sanitizers sets: instrumented code runs many times
/// slower, and a deadline is a bound on waiting, not a speed target).
@discardableResult
func waitUntil(timeout: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout * testTimeScale)
    while Date() < deadline {
        if try condition() { return true }
        usleep(10_000)
    }
    return try condition()
}

/// `waitUntil` for async tests: sleeps between polls without holding a thread of the
/// cooperative pool (the in-process test host's async tests need them while a live test waits).
func eventually(timeout: Double = 10, _ condition: () throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout * testTimeScale)
    while Date() < deadline {
        if try condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try condition()
}

/// `eventually` for a condition that awaits (a request to the in-process test host).
func eventuallyAsync(timeout: Double = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout * testTimeScale)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return try await condition()
}

/// A client of `/_switchboard/events` on its own thread: collects every Server-Sent Event.
final class EventStreamClient: @unchecked Sendable {
    struct Event {
        var id: Int
        var type: String
        var data: [String: Any]
        var file: String { data["file"] as? String ?? "" }
        var reason: String? { data["reason"] as? String }
        var generation: Int? { data["generation"] as? Int }
    }

    private let lock = NSLock()
    private var text = ""
    private let fd: Int32

    private var ended = false

    /// Opens `path` (the admin API's lifecycle events by default; any event stream will do).
    init(port: Int, path: String = "/_switchboard/events?after=0", headers: [(String, String)] = []) throws {
        fd = try RawHTTP.connect(port: port, timeout: 0)
        var head = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        _ = head.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 16384)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
                lock.lock()
                if n > 0 { text += String(decoding: buffer[0..<n], as: UTF8.self) } else { ended = true }
                lock.unlock()
                guard n > 0 else { return }
            }
        }
        thread.start()
    }

    /// Every event's `id`, in order of arrival.
    var ids: [Int] {
        // ("\r\n" is one Character: the chunk framing's lines are split first.)
        raw.split(separator: "\r\n").flatMap { $0.split(separator: "\n") }.compactMap { line in
            line.hasPrefix("id: ") ? Int(line.dropFirst(4).trimmingCharacters(in: .whitespaces)) : nil
        }
    }

    /// Waits until the server ends the response (or `timeout` seconds pass).
    func waitForEnd(timeout: Double = 10) -> Bool {
        waitUntil(timeout: timeout) {
            lock.lock()
            defer { lock.unlock() }
            return ended
        }
    }

    /// The response ended with the chunked body's last chunk (`0\r\n\r\n`): a clean end, after
    /// which EventSource reconnects, not a cut.
    var endedCleanly: Bool { raw.hasSuffix("\r\n0\r\n\r\n") }

    /// The events received so far (chunk framing is skipped: only `event:`/`data:` lines count).
    var events: [Event] {
        lock.lock()
        let raw = text
        lock.unlock()
        var out: [Event] = []
        var type: String? = nil
        var id = 0
        for line in raw.split(separator: "\r\n").flatMap({ $0.split(separator: "\n", omittingEmptySubsequences: false) }) {
            if line.hasPrefix("id: ") { id = Int(line.dropFirst(4)) ?? 0 }
            if line.hasPrefix("event: ") { type = String(line.dropFirst(7)) }
            if line.hasPrefix("data: "), let type,
                let json = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(6).utf8)) as? [String: Any]
            {
                out.append(Event(id: id, type: type, data: json))
            }
        }
        return out
    }

    var raw: String {
        lock.lock()
        defer { lock.unlock() }
        return text
    }

    func waitFor(timeout: Double = 10, _ match: (Event) -> Bool) -> Event? {
        var found: Event? = nil
        waitUntil(timeout: timeout) {
            found = events.last(where: match)
            return found != nil
        }
        return found
    }

    private var closed = false

    /// Closes the connection; the reader thread then ends. Idempotent.
    func close() {
        lock.lock()
        defer { lock.unlock() }
        guard !closed else { return }
        closed = true
        shutdown(fd, Int32(SHUT_RDWR))
        Foundation.close(fd)
    }

    deinit { close() }
}

/// One request on its own thread, for a response that takes a while (a stream): `started` is
/// signalled at its first bytes, `wait` returns the whole response.
final class BackgroundRequest: @unchecked Sendable {
    let started = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private var result: Result<RawResponse, any Error>? = nil

    init(port: Int, path: String, timeout: Double = 30) {
        Thread { [self] in
            result = Result { try RawHTTP.request(port: port, path: path, timeout: timeout) { started.signal() } }
            finished.signal()
        }.start()
    }

    func waitForStart(timeout: Double = 10) -> Bool { started.wait(timeout: .now() + timeout) == .success }

    /// The response, or nil if it has not ended within `timeout` seconds.
    func wait(timeout: Double = 20) throws -> RawResponse? {
        guard finished.wait(timeout: .now() + timeout) == .success else { return nil }
        return try result?.get()
    }
}

extension ServerProcess {
    /// The admin API's JSON for a path.
    func adminJSON(_ path: String, method: String = "GET", headers: [(String, String)] = []) throws -> [String: Any] {
        let response = try get(path, method: method, headers: headers)
        return (try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
    }

    /// The serving generation of a plugin, from the admin API.
    func plugin(_ name: String) throws -> [String: Any]? {
        let list = try adminJSON("/_switchboard/plugins")
        return (list["plugins"] as? [[String: Any]])?.first { $0["name"] as? String == name }
    }

    var isRunning: Bool { process.isRunning }
}

/// How much slower than normal the code under test may run (1 unless the environment says).
let testTimeScale: Double = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_TIME_SCALE"].flatMap(Double.init) ?? 1

/// False under AddressSanitizer (scripts/sanitizers sets SWITCHBOARD_TEST_SANITIZER): its
/// quarantine keeps freed memory out of reuse on purpose, so resident-memory bounds do not apply.
let residentMemoryIsMeaningful = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_SANITIZER"] != "address"
