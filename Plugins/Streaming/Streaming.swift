// streaming: section 8.3 of the chapter and the streaming README, as one plugin on the SDK.
//
//   GET  /stream-basic                  10 text chunks
//   GET  /stream-json                   100 NDJSON lines
//   GET  /download/{filename}           a file from the files directory, as an attachment
//   GET  /download-simple/{filename}    the same (the chapter's FileResponse variant)
//   GET  /download-async/{filename}     the same (the chapter's aiofiles variant)
//   GET  /events                        10 SSE events, 1 s apart, then "Stream complete" (resumable)
//   GET  /events/named                  5 named SSE events with ids, 0.5 s apart (resumable)
//   GET  /events/demo                   a page following the event streams with EventSource
//   GET  /logs/stream                   a live log broadcast (SSE), fed by POST /logs/add
//   POST /logs/add?message=             broadcast a log line to every /logs/stream subscriber
//   GET  /export/csv?rows=10000         a CSV export, streamed with backpressure
//   GET  /stream, /download, /sse, /large-file, /video, /export     the README's endpoints
//
// Files are served by the host (ranges, conditional requests, HEAD) after the name is resolved
// inside the files directory (plugins.config.streaming.files_directory, default "files"): "..",
// ".", slashes, absolute names, symlinks that lead out and directories are 404s. The repository
// ships files/hello.txt and files/video.mp4 (4 s, 65 KB); the README's huge_file.txt is written
// there by the first /large-file request (8 MiB of numbered lines), so every route has real
// content out of the box (and loading the plugin, as `switchboard check` does, writes nothing).
// plugins.config.streaming.interval_scale (default 1) scales every pause (tests use 0.01).
//
// Every stream is an async body (`try await writer.write(…)` waits while the client is behind;
// the task is cancelled when the client leaves), so each endpoint reads like the chapter's generator.

import SwitchboardSDK
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

let rows = Param<Int>.query("rows", default: 10_000).ge(0).le(1_000_000).description("How many data rows")
let message = Param<String>.query("message").maxLength(4096).description("The log line")
let filename = Param<String>.path("filename").description("A file name inside the files directory")

let plugin = Plugin(name: "streaming", version: "1.0.0", description: "Section 8.3 of the chapter and the streaming README") { app in
    let files = FilesDirectory(app.config("files_directory") ?? "files")
    let scale = max(0, Double(app.config("interval_scale") ?? "1") ?? 1)
    let pause: @Sendable (Double) -> Duration = { .nanoseconds(Int64($0 * scale * 1e9)) }

    // MARK: 8.3 basic streaming

    app.get("/stream-basic", summary: "Basic streaming: 10 text chunks", responses: [ResponseDoc(200, "text/plain")]) { _ in
        .stream(contentType: "text/plain; charset=utf-8") { writer in
            for i in 0..<10 { try await writer.write("Chunk \(i)\n") }
        }
    }

    app.get("/stream-json", summary: "Newline-delimited JSON, 100 lines", responses: [ResponseDoc(200, "application/x-ndjson")]) { _ in
        .stream(contentType: "application/x-ndjson") { writer in
            for i in 0..<100 { try await writer.write(#"{"id": \#(i), "name": "Item \#(i)", "value": \#(i * 10)}"# + "\n") }
        }
    }

    // MARK: Files

    for (path, summary) in [
        ("/download/{filename}", "Download a file (streamed, with Content-Length)"),
        ("/download-simple/{filename}", "Download a file (FileResponse)"),
        ("/download-async/{filename}", "Download a file (asynchronous reads)"),
    ] {
        app.get(path, params: [filename], summary: summary, responses: [ResponseDoc(200, "application/octet-stream"), ResponseDoc(404, "application/json")]) { req in
            let name = try req[filename]
            guard let file = files.resolve(name) else { throw HTTPError(404, detail: "File not found") }
            return .file(file, contentType: "application/octet-stream", downloadName: name, attachment: true)
        }
    }

    // Blocking: the first request may write the file (8 MiB), off the event loop.
    app.get("/large-file", summary: "The README's huge_file.txt, streamed", responses: [ResponseDoc(200, "text/plain"), ResponseDoc(404, "application/json")], blocking: true) { _ in
        if let problem = files.ensureLargeFile() { app.log(.warning, problem) }
        guard let file = files.resolve(FilesDirectory.largeFile) else { throw HTTPError(404, detail: "File not found") }
        return .file(file, contentType: "text/plain; charset=utf-8")
    }

    app.get("/video", summary: "The README's video.mp4 (ranges for seeking)", responses: [ResponseDoc(200, "video/mp4"), ResponseDoc(404, "application/json")]) { _ in
        guard let file = files.resolve("video.mp4") else { throw HTTPError(404, detail: "File not found") }
        return .file(file, contentType: "video/mp4")
    }

    // MARK: Server-Sent Events

    app.get("/events", summary: "10 events, 1 s apart, then \"Stream complete\"; resumes after Last-Event-ID (204 after the last)", responses: [ResponseDoc(200, "text/event-stream"), ResponseDoc(204)]) { req in
        let start = resumeID(req)
        // A client resumed after the last event: 204 tells EventSource to stop reconnecting.
        if start >= 11 { return .empty(status: 204) }
        return .eventStream(keepalive: pause(15)) { events in
            for id in (start + 1)..<11 {
                let data = #"{"id": \#(id), "timestamp": "\#(Clock.isoUTC())", "message": "Event \#(id)"}"#
                try await events.send(ServerSentEvent(data: data, id: String(id), retry: id == start + 1 ? 3000 : nil))
                try await Task.sleep(for: pause(1))
            }
            try await events.send(ServerSentEvent(data: #"{"message": "Stream complete"}"#, id: "11"))
        }
    }

    app.get("/events/named", summary: "Named events with ids, 0.5 s apart; resumes after Last-Event-ID (204 after the last)", responses: [ResponseDoc(200, "text/event-stream"), ResponseDoc(204)]) { req in
        let named: [(String, String)] = [
            ("init", #"{"status": "connected"}"#), ("update", #"{"progress": 25}"#), ("update", #"{"progress": 50}"#),
            ("update", #"{"progress": 75}"#), ("complete", #"{"status": "done", "progress": 100}"#),
        ]
        let start = resumeID(req)
        if start >= named.count { return .empty(status: 204) }
        return .eventStream(keepalive: pause(15)) { events in
            for id in (start + 1)...named.count {
                if id > start + 1 { try await Task.sleep(for: pause(0.5)) }
                try await events.send(ServerSentEvent(data: named[id - 1].1, event: named[id - 1].0, id: String(id)))
            }
        }
    }

    app.get("/sse", summary: "The README's endless event stream, one tick a second", responses: [ResponseDoc(200, "text/event-stream")]) { req in
        let start = resumeID(req)
        return .eventStream(keepalive: pause(15)) { events in
            // Endless: it ends when the client leaves (the task is cancelled).
            for tick in (start + 1)... {
                try await events.send(ServerSentEvent(data: #"{"tick": \#(tick), "timestamp": "\#(Clock.isoUTC())"}"#, id: String(tick)))
                try await Task.sleep(for: pause(1))
            }
        }
    }

    app.get("/events/demo", summary: "A page that follows /events, /events/named and /logs/stream with the browser's EventSource", responses: [ResponseDoc(200, "text/html")]) { _ in
        .html(demoPage).header("content-security-policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
    }

    // MARK: Log broadcast

    // The host feeds every subscriber from the topic: the event is encoded once per line posted,
    // and a client that falls 256 lines behind is told so (`event: dropped`) and let go.
    app.get("/logs/stream", summary: "Live log lines as Server-Sent Events", responses: [ResponseDoc(200, "text/event-stream")]) { _ in
        .topicEventStream(topic: "logs", comment: "connected", keepalive: pause(15))
    }

    app.post("/logs/add", params: [message], summary: "Broadcast a log line to every /logs/stream subscriber") { req in
        let line = "[\(Clock.isoUTC())] \(try req[message])"
        let delivered = app.publish("logs", line)
        return .json(raw: #"{"status":"logged","message":\#(JSON.quote(line)),"subscribers":\#(delivered)}"#)
    }

    // MARK: CSV and the README's text streams

    app.get("/export/csv", params: [rows], summary: "A CSV export of generated users", responses: [ResponseDoc(200, "text/csv")]) { req in
        let total = try req[rows]
        return .stream(contentType: "text/csv; charset=utf-8") { writer in
            var csv = CSVWriter(capacity: 2000 * 64)
            for name in ["ID", "Name", "Email", "Created At", "Status"] { csv.nextField(); csv.text(name) }
            csv.endRow()
            for i in stride(from: 1, through: total, by: 1) {
                csv.nextField(); csv.decimal(i)
                csv.nextField(); csv.text("User "); csv.decimal(i)
                csv.nextField(); csv.text("user"); csv.decimal(i); csv.text("@example.com")
                csv.nextField(); csv.text("2024-"); csv.decimal(i % 12 + 1, width: 2); csv.text("-"); csv.decimal(i % 28 + 1, width: 2)
                csv.nextField(); csv.text(i % 2 == 0 ? "active" : "inactive")
                csv.endRow()
                // 2000 rows a write: the writer waits here while the client is behind.
                if i % 2000 == 0 {
                    try await writer.write(csv.bytes)
                    csv = CSVWriter(capacity: 2000 * 64)
                }
            }
            try await writer.write(csv.bytes)
        }.header("content-disposition", "attachment; filename=users_export.csv")
    }

    app.get("/export", summary: "The README's database export: 1000 rows", responses: [ResponseDoc(200, "text/csv")]) { _ in
        .stream(contentType: "text/csv; charset=utf-8") { writer in
            // The README yields f"{row}\n" (a Python tuple's repr) as text/csv; here a row is CSV.
            for i in 1...1000 { try await writer.write("\(i),row-\(i),\(Double(i) * 1.5)\r\n") }
        }
    }

    app.get("/stream", summary: "The README's stream: 10 lines, 0.5 s apart", responses: [ResponseDoc(200, "text/plain")]) { _ in
        .stream(contentType: "text/plain; charset=utf-8") { writer in
            for i in 0..<10 {
                try await writer.write("Event \(i)\n")
                try await Task.sleep(for: pause(0.5))
            }
        }
    }

    app.get("/download", summary: "The README's streamed download: 1000 lines as output.txt", responses: [ResponseDoc(200, "text/plain")]) { _ in
        .stream(contentType: "text/plain; charset=utf-8") { writer in
            for i in 0..<1000 { try await writer.write("Line \(i): streamed content\n") }
        }.header("content-disposition", "attachment; filename=output.txt")
    }
}

@_cdecl("switchboard_plugin_v1") public func entry() -> UnsafeRawPointer { plugin.entry }

// MARK: - Pieces

/// Follows the event streams with the browser's own EventSource. When both finite streams have
/// completed, `<body data-complete>` is set (the browser test waits for it).
let demoPage = #"""
<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>Server-Sent Events</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2em auto; max-width: 60em; padding: 0 1em; }
  section { border-top: 1px solid #ccc; } ol { font-family: ui-monospace, monospace; font-size: 13px; }
</style>
<h1>Server-Sent Events</h1>
<section><h2>/events</h2><ol id="events"></ol></section>
<section><h2>/events/named</h2><ol id="named"></ol></section>
<section><h2>/logs/stream</h2>
  <form id="send"><input name="message" placeholder="a log line" required> <button>POST /logs/add</button></form>
  <ol id="logs"></ol>
</section>
<script>
  const show = (list, text) => {
    const item = document.createElement("li");
    item.textContent = text;
    document.getElementById(list).append(item);
  };
  const done = new Set();
  const finished = (name) => {
    done.add(name);
    if (done.has("events") && done.has("named")) document.body.dataset.complete = "true";
  };

  const events = new EventSource("/events");
  events.onmessage = (e) => {
    show("events", `#${e.lastEventId} ${e.data}`);
    if (JSON.parse(e.data).message === "Stream complete") { events.close(); finished("events"); }
  };

  const named = new EventSource("/events/named");
  for (const type of ["init", "update", "complete"]) {
    named.addEventListener(type, (e) => {
      show("named", `${type} #${e.lastEventId} ${e.data}`);
      if (type === "complete") { named.close(); finished("named"); }
    });
  }

  const logs = new EventSource("/logs/stream");
  logs.onmessage = (e) => show("logs", e.data);
  logs.addEventListener("dropped", (e) => { show("logs", `dropped: ${e.data}`); logs.close(); });
  document.getElementById("send").onsubmit = (e) => {
    e.preventDefault();
    fetch("/logs/add?message=" + encodeURIComponent(e.target.message.value), { method: "POST" });
    e.target.reset();
  };
</script>
</html>
"""#

/// The id after which an event stream resumes: the client's `Last-Event-ID` if it is a decimal
/// number (one past every id these streams send counts as the largest), else 0 (from the start).
func resumeID(_ req: Request) -> Int {
    guard let text = req.header("last-event-id")?.trimmedHTTPSpace, !text.isEmpty,
        text.utf8.allSatisfy({ (0x30...0x39).contains($0) })
    else { return 0 }
    return Int(text).map { min($0, maxEventID) } ?? maxEventID
}

/// The largest id a stream resumes after: ticks counted from it never overflow.
let maxEventID = 1 << 40

/// The files directory and names resolved inside it by real path.
struct FilesDirectory: Sendable {
    let root: String?

    init(_ path: String) {
        root = realpath(path, nil).map { p in defer { free(p) }; return String(cString: p) }
    }

    /// The real path of `name` inside the directory, or nil: empty, ".", "..", a slash, a NUL, a
    /// name that resolves outside (through a symlink) or to anything but a regular file.
    func resolve(_ name: String) -> String? {
        // As bytes: `contains("/")` compares Characters, and a combining mark after a slash makes
        // one Character of the two.
        guard let root, !name.isEmpty, name != ".", name != "..", !name.utf8.contains(UInt8(ascii: "/")), !name.utf8.contains(0) else { return nil }
        return contained(root + "/" + name, in: root)
    }

    /// The README's huge_file.txt.
    static let largeFile = "huge_file.txt"

    /// One writer at a time (in this process; the rename settles a race with another).
    private static let writing = Locked(0)

    /// Writes `largeFile` (8 MiB: 131,072 numbered lines of 64 bytes) into the directory unless it
    /// is there, through a temporary name and a rename, so no reader ever sees half of it. Returns
    /// why it could not, for the log (the route then answers 404). Blocks: call it off the event loop.
    func ensureLargeFile() -> String? {
        guard let root else { return "the files directory does not exist: /download, /video and /large-file answer 404" }
        let path = root + "/" + Self.largeFile
        if access(path, F_OK) == 0 { return nil }
        return Self.writing.withLock { _ in access(path, F_OK) == 0 ? nil : Self.writeLargeFile(to: path) }
    }

    private static func writeLargeFile(to path: String) -> String? {
        let temporary = path + ".\(getpid()).partial"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return "cannot write \(temporary): \(String(cString: strerror(errno)))" }
        var block: [UInt8] = []
        block.reserveCapacity(1 << 16)
        var ok = true
        for line in 1...131_072 where ok {
            // "Line 000001: " + 50 characters + "\n" = 64 bytes
            block += Array("Line \(String(repeating: "0", count: 6 - String(line).count))\(line): ".utf8)
            block += Array("The quick brown fox jumps over the lazy dog 012345\n".utf8)
            if block.count >= 1 << 16 || line == 131_072 {
                ok = block.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == block.count
                block.removeAll(keepingCapacity: true)
            }
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(temporary, path) == 0 else {
            unlink(temporary)
            return "cannot write \(path): \(String(cString: strerror(errno)))"
        }
        return nil
    }

    private func contained(_ candidate: String, in root: String) -> String? {
        guard let resolved = realpath(candidate, nil) else { return nil }
        defer { free(resolved) }
        let path = String(cString: resolved)
        let prefix = root.utf8.last == UInt8(ascii: "/") ? root : root + "/"
        var info = stat()
        // Byte by byte, as the file system compares paths (not `hasPrefix`, by Characters).
        guard path.utf8.starts(with: prefix.utf8), stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return nil }
        return path
    }
}

/// Wall-clock timestamps as Python's `datetime.utcnow().isoformat()` writes them.
enum Clock {
    static func isoUTC() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var t = now.tv_sec
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ n: Int, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))T"
            + "\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2)).\(pad(now.tv_nsec / 1000, 6))"
    }
}
