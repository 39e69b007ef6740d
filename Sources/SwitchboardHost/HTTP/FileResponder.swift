import CSwitchboard
import HTTPTypes
import Hummingbird
import NIOCore
import NIOPosix
import SwitchboardRouting
import SwitchboardCore

#if canImport(Glibc)
import Glibc
#endif

/// Serves `response_file`: a regular file the plugin named (it has already checked that the path
/// is inside what it serves), with what RFC 9110 asks of a file server — a strong validator
/// (`ETag`), `Last-Modified`, conditional requests (the SDK's `Validators`: `If-Match` and
/// `If-Unmodified-Since` → 412; `If-None-Match` with weak comparison, lists and `*`, then
/// `If-Modified-Since` → 304 with its validators), byte ranges (single, suffix,
/// open-ended; several as `multipart/byteranges`; 416 with `Content-Range: bytes */size` when
/// none is satisfiable; `If-Range`), HEAD, and `Content-Disposition` with an RFC 6266 / RFC 8187
/// `filename*` for names that are not plain ASCII.
///
/// The file is opened when the plugin calls (so the body is the file it checked, even if the
/// name is replaced later) and read in 32 KiB chunks on the thread pool; memory per download is
/// one chunk read ahead plus what the connection has not taken yet (`limits.write_buffer_bytes`
/// and one chunk): about 100 KiB for a client that stops reading, so 500 slow readers cost
/// tens of MiB rather than hundreds (bench/slowclients.sh).
enum FileResponder {
    static let chunkSize = 32 * 1024

    static func respond(_ exchange: Exchange, spec: sb_file_spec) -> sb_status {
        // Opened by its bytes, as the plugin named it: a Linux file name need not be UTF-8, and
        // a repaired copy could name another file. A NUL would cut the name short: refused.
        let path = spec.path.bytes
        guard path.first == UInt8(ascii: "/"), !path.contains(0) else { return SB_ERR_INVALID_ARGUMENT }
        let fd = (Array(path) + [0]).withUnsafeBufferPointer { name in
            name.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) }
        }
        guard fd >= 0 else { return errno == ENOENT || errno == ELOOP || errno == ENOTDIR ? SB_ERR_NOT_FOUND : SB_ERR_IO }
        let file = OpenFile(fd: fd)
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return SB_ERR_NOT_FOUND }
        let size = Int(info.st_size)
        let modifiedSeconds = Int(info.st_mtim.tv_sec)
        let etag = "\"\(String(size, radix: 16))-\(String(Int(info.st_mtim.tv_sec) * 1_000_000_000 + info.st_mtim.tv_nsec, radix: 16))\""
        let lastModified = HTTPDate.format(modifiedSeconds)
        let contentType = spec.content_type.isEmpty ? "application/octet-stream" : spec.content_type.string
        let headers = exchange.request.headers

        var fields: [(String, String)] = [("ETag", etag), ("Last-Modified", lastModified), ("Accept-Ranges", "bytes")]
        if !spec.download_name.isEmpty {
            fields.append(("Content-Disposition", contentDisposition(spec.download_name.string, attachment: spec.flags & SB_FILE_ATTACHMENT != 0)))
        }

        // Conditional requests (RFC 9110 §13.2.2), evaluated as plugins evaluate them.
        let validators = Validators(etag: etag, lastModified: modifiedSeconds)
        switch validators.evaluate(method: exchange.request.method.rawValue, header: { exchange.request.head.fieldList(named: $0.utf8) }) {
        case .proceed: break
        case .notModified: return send(exchange, status: 304, fields: fields, body: nil)
        case .preconditionFailed:
            fields.append(("Content-Type", "application/json"))
            return send(exchange, status: 412, fields: fields, body: .bytes(Array(#"{"detail":"Precondition Failed"}"#.utf8)))
        }

        var ranges: [ClosedRange<Int>]? = nil
        if let header = headers[.range], exchange.request.method == .get || exchange.request.method == .head {
            let ifRange = headers[.ifRange]
            let rangeApplies = ifRange.map { value in
                value.hasBytePrefix("\"") ? value.hasSameCodePoints(as: etag) : HTTPDate.parse(value).map { $0 == modifiedSeconds } ?? false
            } ?? true
            if rangeApplies {
                switch ByteRanges.parse(header, size: size) {
                case .ignore: break
                case .unsatisfiable:
                    fields.append(("Content-Range", "bytes */\(size)"))
                    fields.append(("Content-Type", "application/json"))
                    return send(exchange, status: 416, fields: fields, body: .bytes(Array(#"{"detail":"Range Not Satisfiable"}"#.utf8)))
                case .ranges(let parsed): ranges = parsed
                }
            }
        }

        guard let ranges else {
            fields.append(("Content-Type", contentType))
            return send(exchange, status: 200, fields: fields, body: .file(file, [0...max(size - 1, 0)], size == 0 ? 0 : size, nil))
        }
        if ranges.count == 1 {
            let range = ranges[0]
            fields.append(("Content-Type", contentType))
            fields.append(("Content-Range", "bytes \(range.lowerBound)-\(range.upperBound)/\(size)"))
            return send(exchange, status: 206, fields: fields, body: .file(file, ranges, range.count, nil))
        }
        let boundary = "switchboard-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let parts = ranges.map { range in
            Array("\r\n--\(boundary)\r\nContent-Type: \(contentType)\r\nContent-Range: bytes \(range.lowerBound)-\(range.upperBound)/\(size)\r\n\r\n".utf8)
        }
        let closing = Array("\r\n--\(boundary)--\r\n".utf8)
        let length = zip(parts, ranges).reduce(closing.count) { $0 + $1.0.count + $1.1.count }
        fields.append(("Content-Type", "multipart/byteranges; boundary=\(boundary)"))
        return send(exchange, status: 206, fields: fields, body: .file(file, ranges, length, (parts, closing)))
    }

    private enum Body {
        case bytes([UInt8])
        /// The file's ranges, the total length, and for multipart the part headers and the closing.
        case file(OpenFile, [ClosedRange<Int>], Int, ([[UInt8]], [UInt8])?)
    }

    private static func send(_ exchange: Exchange, status: UInt16, fields: [(String, String)], body: Body?) -> sb_status {
        for (name, value) in fields {
            let result = exchange.addHeader(name: name, value: value)
            guard result == SB_OK else { return result }
        }
        return exchange.respond(status: status) { _ in
            switch body {
            case nil: return .bytes(ByteBuffer())
            case .bytes(let bytes): return .bytes(ByteBuffer(bytes: bytes))
            case .file(let file, let ranges, let length, let multipart):
                if length == 0 { return .bytes(ByteBuffer()) }
                let eventLoop = exchange.eventLoop
                return .writer(ResponseBody(contentLength: length) { writer in
                    var paced = PacedWriter(eventLoop: eventLoop)
                    for (i, range) in ranges.enumerated() {
                        if let (parts, _) = multipart { try await writer.write(ByteBuffer(bytes: parts[i])) }
                        var offset = range.lowerBound
                        while offset <= range.upperBound {
                            let count = min(chunkSize, range.upperBound - offset + 1)
                            let chunk = try await file.read(at: offset, count: count)
                            try await paced.write([chunk], to: &writer)
                            offset += count
                        }
                    }
                    if let (_, closing) = multipart { try await writer.write(ByteBuffer(bytes: closing)) }
                    try await writer.finish(nil)
                })
            }
        }
    }

    /// `attachment; filename="report.csv"`, plus `filename*=UTF-8''…` when the name is not plain
    /// printable ASCII (RFC 6266 §4.3; the plain form then carries an ASCII stand-in).
    static func contentDisposition(_ name: String, attachment: Bool) -> String {
        let kind = attachment ? "attachment" : "inline"
        let plain = name.unicodeScalars.allSatisfy { $0.value >= 0x20 && $0.value < 0x7F && $0 != "\"" && $0 != "\\" && $0 != "%" }
        if plain { return "\(kind); filename=\"\(name)\"" }
        let fallback = String(name.unicodeScalars.map { s -> Character in
            s.value >= 0x20 && s.value < 0x7F && s != "\"" && s != "\\" && s != "%" ? Character(s) : "_"
        })
        var encoded = ""
        for byte in name.utf8 {
            let unreserved = (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte)
                || "!#$&+-.^_`|~".utf8.contains(byte)
            encoded += unreserved ? String(UnicodeScalar(byte)) : String(format2hex: byte)
        }
        return "\(kind); filename=\"\(fallback)\"; filename*=UTF-8''\(encoded)"
    }
}

extension String {
    fileprivate init(format2hex byte: UInt8) {
        let digits = Array("0123456789ABCDEF")
        self = "%" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 0xF)])
    }
}

/// An open file, closed when the last response body that reads it is gone (also when a HEAD or
/// 304 never reads it).
final class OpenFile: Sendable {
    let fd: Int32
    init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    /// Reads `count` bytes at `offset` on the thread pool (a short file read is an error: the
    /// file shrank under the response, which must not end as a silently short body).
    func read(at offset: Int, count: Int) async throws -> ByteBuffer {
        try await NIOThreadPool.singleton.runIfActive {
            var buffer = ByteBufferAllocator().buffer(capacity: count)
            let got = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { target in
                var done = 0
                while done < count {
                    let n = pread(self.fd, target.baseAddress! + done, count - done, off_t(offset + done))
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { break }
                    done += n
                }
                return done
            }
            guard got == count else { throw FileChanged() }
            return buffer
        }
    }

    struct FileChanged: Error {}
}

/// `Range: bytes=…` (RFC 9110 §14.1.2), against a representation of `size` bytes.
enum ByteRanges {
    enum Outcome: Equatable {
        /// Not a byte-range request this server understands: serve the whole file (RFC 9110 lets
        /// a server ignore a Range it cannot parse).
        case ignore
        /// Every range starts past the end (or the file is empty): 416.
        case unsatisfiable
        case ranges([ClosedRange<Int>])
    }

    /// More ranges than this, or overlapping ones, are merged; a request for many tiny ranges is
    /// a known amplification attack.
    static let maxRanges = 16

    static func parse(_ header: String, size: Int) -> Outcome {
        // Read as bytes: Characters would glue a combining mark onto a delimiter or a digit.
        let trimmed = Substring(header.utf8.trimmingHTTPSpace)
        guard trimmed.utf8.hasPrefixIgnoringASCIICase("bytes=".utf8) else { return .ignore }
        var ranges: [ClosedRange<Int>] = []
        var sawSpec = false
        for spec in Substring(trimmed.utf8.dropFirst(6)).httpFieldParts(separatedBy: UInt8(ascii: ",")) {
            guard let dash = spec.utf8.firstIndex(of: UInt8(ascii: "-")) else { return .ignore }
            let first = spec[..<dash], last = spec[spec.utf8.index(after: dash)...]
            let digits: (Substring) -> Bool = { !$0.isEmpty && $0.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } }
            sawSpec = true
            if first.isEmpty {
                // Suffix: the last N bytes.
                guard digits(last), let n = Int(last) else { return .ignore }
                if n == 0 || size == 0 { continue }
                ranges.append(max(0, size - n)...(size - 1))
            } else {
                guard digits(first), let start = Int(first) else { return .ignore }
                var end = size - 1
                if !last.isEmpty {
                    guard digits(last), let parsed = Int(last), parsed >= start else { return .ignore }
                    end = min(parsed, size - 1)
                }
                if start >= size { continue }
                ranges.append(start...end)
            }
        }
        guard sawSpec else { return .ignore }
        guard !ranges.isEmpty else { return .unsatisfiable }
        if ranges.count == 1 { return .ranges(ranges) }
        // Merge overlapping or adjacent ranges, in ascending order, as RFC 9110 §14.3 permits.
        let sorted = ranges.sorted { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<Int>] = []
        for range in sorted {
            if let last = merged.last, range.lowerBound <= last.upperBound + 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        if merged.count > maxRanges { return .ranges([merged.first!.lowerBound...merged.last!.upperBound]) }
        return .ranges(merged)
    }
}
