import CompressNIO
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchboardCore

/// Response compression: the gzip content coding (RFC 9110 §8.4.1.3) for plugins' responses, when
/// the client's `Accept-Encoding` allows it (§12.5.3), through zlib (compress-nio, the binding
/// Hummingbird's own compression middleware uses).
public struct CompressionSettings: Sendable {
    /// `compression.enabled` (default on).
    public var enabled = true
    /// zlib level, 1 (fastest) to 9 (smallest); `compression.level`. Default 1, as nginx's
    /// `gzip_comp_level`: on the 146,694-byte /orjson-large-data body level 1 sends 8 % more
    /// bytes than level 6 at 1.66× the requests per second (bench/largedata.sh, bench/RESULTS.md).
    public var level: Int32 = 1
    /// A body with a known length under this many bytes is sent as is (`compression.min_bytes`,
    /// default 1024): gzip's own 18 bytes and a round of zlib are not worth it.
    public var minimumBytes = 1024
    /// Media types worth compressing (`compression.types`): an entry ending in `/` is a prefix
    /// (`text/`), one starting with `+` a structured-syntax suffix (`+json`), others exact.
    public var types = ["text/", "application/json", "application/javascript", "application/xml", "application/x-ndjson", "image/svg+xml", "+json", "+xml"]

    /// On, level 1, a 1024-byte minimum, and `text/*`, JSON, JavaScript, XML, NDJSON, SVG and
    /// `+json`/`+xml` types.
    public init() {}
}

enum ContentCoding {
    /// What `Accept-Encoding` (every line of it) allows: gzip (or x-gzip) with a q above 0, and
    /// whether identity is refused (`identity;q=0`, or `*;q=0` without identity listed).
    /// Without the field nothing is compressed (the RFC allows any coding then, but a client that
    /// says nothing may not decode one).
    static func negotiate(_ acceptEncoding: String?) -> (gzip: Bool, identityRefused: Bool) {
        guard let acceptEncoding else { return (false, false) }
        var gzip: Double? = nil, identity: Double? = nil, any: Double? = nil
        // Read as bytes (`httpFieldParts`), codings compared without ASCII case (§12.5.3).
        for item in acceptEncoding.httpFieldParts(separatedBy: UInt8(ascii: ",")) {
            // An element without a coding (`;q=0`) names none; its parameters are not one.
            guard item.utf8.first != UInt8(ascii: ";") else { continue }
            let parts = item.httpFieldParts(separatedBy: UInt8(ascii: ";"))
            guard let coding = parts.first?.utf8 else { continue }
            var q = 1.0
            for parameter in parts.dropFirst() where parameter.utf8.hasPrefixIgnoringASCIICase("q=".utf8) {
                q = Double(Substring(parameter.utf8.dropFirst(2))).map { min(max($0, 0), 1) } ?? 0
            }
            if coding.equalsIgnoringASCIICase("gzip".utf8) || coding.equalsIgnoringASCIICase("x-gzip".utf8) {
                gzip = max(gzip ?? 0, q)
            } else if coding.equalsIgnoringASCIICase("identity".utf8) {
                identity = q
            } else if coding.elementsEqual("*".utf8) {
                any = q
            }
        }
        let gzipQ = gzip ?? any ?? 0
        let identityQ = identity ?? (any == 0 ? 0 : 1)
        return (gzipQ > 0, identityQ == 0)
    }

    /// Whether `contentType`'s media type (parameters and case aside) is one of `settings.types`;
    /// never an event stream. Compares bytes in place: it runs for every response.
    static func compressible(_ contentType: String, _ settings: CompressionSettings) -> Bool {
        // Through the strings' contiguous UTF-8 (no copy for a native string): walking a
        // String.UTF8View by its indexes cost 2.9 % of the samples on `GET /hello-c`.
        var contentType = contentType
        return contentType.withUTF8 { utf8 in
            let type = utf8[..<(utf8.firstIndex(of: UInt8(ascii: ";")) ?? utf8.endIndex)].trimmingHTTPSpace
            guard !type.isEmpty, !type.equalsIgnoringASCIICase("text/event-stream".utf8) else { return false }
            return settings.types.contains { entry in
                var entry = entry
                return entry.withUTF8 { entry in
                    if entry.last == UInt8(ascii: "/") { return type.hasPrefixIgnoringASCIICase(entry) }
                    if entry.first == UInt8(ascii: "+") { return type.hasSuffixIgnoringASCIICase(entry) }
                    return type.equalsIgnoringASCIICase(entry)
                }
            }
        }
    }

    /// `response` as the client should get it: gzip-coded when the request allows it and the
    /// response is worth it, with `Vary: Accept-Encoding` on every response that could have been
    /// coded. Not coded: a status without content or other than 2xx, 206 (ranges count bytes of
    /// the identity representation), a response already coded, one that serves ranges (a file:
    /// its validators and ranges describe the identity bytes), an event stream (whose events must
    /// not wait in a compressor), a type not worth it, or a known length under the minimum (unless
    /// identity is refused). A coded body is streamed: each chunk the plugin writes is compressed
    /// and flushed as it comes, so a streamed response stays streamed; it has no Content-Length,
    /// and its strong ETag gets a `-gzip` suffix (a different representation, §8.8.3).
    /// Changes `response` in place: a response whose fields are not shared is not copied.
    static func apply(_ response: inout HostResponse, request: Request, settings: CompressionSettings) {
        guard settings.enabled else { return }
        let status = response.status.code
        guard (200..<300).contains(status), status != 204, status != 206 else { return }
        // One pass over the fields instead of a lookup for each.
        var type: String? = nil
        for field in response.headers {
            switch field.name {
            case .contentEncoding, .acceptRanges: return
            case .contentType: type = type ?? field.value
            default: continue
            }
        }
        guard let type, compressible(type, settings) else { return }
        response.headers.addVary("Accept-Encoding")
        let (gzip, identityRefused) = negotiate(request.headers[.acceptEncoding])
        guard gzip else { return }
        if let length = response.body.contentLength, length == 0 || (length < settings.minimumBytes && !identityRefused) {
            return
        }
        response.headers[.contentEncoding] = "gzip"
        response.headers[.contentLength] = nil
        codeTag(&response.headers)
        let body = response.body.responseBody
        let level = settings.level
        response.body = .writer(
            ResponseBody { writer in
                let gzip = try GzipWriter(inner: writer, level: level)
                try await body.write(gzip)
            })
    }
}

extension ContentCoding {
    static let codedTagSuffix = "-gzip\""
    static let codedTagSuffixBytes = Array(codedTagSuffix.utf8)

    /// A strong `ETag` (`"abc"`) becomes the coded representation's (`"abc-gzip"`); a weak or
    /// unquoted one is left as is.
    static func codeTag(_ headers: inout HTTPFields) {
        guard let etag = headers[.eTag], etag.utf8.count > 1, etag.utf8.first == UInt8(ascii: "\""), etag.utf8.last == UInt8(ascii: "\"") else { return }
        headers[.eTag] = String(Substring(etag.utf8.dropLast())) + codedTagSuffix
    }

    /// Rewrites the entity tags of If-None-Match, If-Match and If-Range from a coded
    /// representation's (`"abc-gzip"`) to the plugin's own (`"abc"`); whether any was. Only
    /// while compression is on: otherwise no tag the host handed out has the suffix. If-None-Match
    /// only for a request that accepts gzip: one that does not is sent the identity
    /// representation, which the coded tag does not name, so it must not get a 304 for it (nor a
    /// cache refresh its gzip entry from one). If-Match and If-Range name the resource a client
    /// changes or resumes, whichever coding it read it in.
    static func uncodeTags(in headers: inout HTTPFields, settings: CompressionSettings) -> Bool {
        guard settings.enabled else { return false }
        var found = false
        var acceptsGzip: Bool? = nil
        for i in headers.indices {
            let name = headers[i].name
            guard name == .ifNoneMatch || name == .ifMatch || name == .ifRange else { continue }
            // As bytes: matching Characters would miss a suffix after a prepending mark. Copied
            // only when it is there.
            guard headers[i].value.utf8.firstRange(of: codedTagSuffixBytes) != nil else { continue }
            var value = Array(headers[i].value.utf8)
            if name == .ifNoneMatch {
                if acceptsGzip == nil { acceptsGzip = negotiate(headers[.acceptEncoding]).gzip }
                guard acceptsGzip == true else { continue }
            }
            value.replace(codedTagSuffixBytes, with: [UInt8(ascii: "\"")])
            headers[i].value = String(decoding: value, as: UTF8.self)
            found = true
        }
        return found
    }

    /// A 304 repeats what the 200 would have said (RFC 9110 §15.4.5): `Vary: Accept-Encoding`
    /// (a 304 carries no media type, so it is added whenever compression is on: at worst a cache
    /// keys an identity-only resource by Accept-Encoding), and for a client that holds the coded
    /// representation, its tag as that client knows it.
    static func notModified(_ response: inout HostResponse, codedTag: Bool, settings: CompressionSettings) {
        guard settings.enabled, response.status == .notModified else { return }
        if codedTag { codeTag(&response.headers) }
        response.headers.addVary("Accept-Encoding")
    }
}

/// Compresses what a response body writes, chunk by chunk: each write is deflated and flushed
/// (Z_SYNC_FLUSH) so its bytes leave at once; `finish` ends the gzip member.
struct GzipWriter: ResponseBodyWriter {
    var inner: any ResponseBodyWriter
    let compressor: ZlibCompressor
    /// zlib's output window: filled, then handed to the inner writer.
    var window: ByteBuffer

    init(inner: any ResponseBodyWriter, level: Int32) throws {
        self.inner = inner
        compressor = try ZlibCompressor(
            algorithm: .gzip, configuration: ZlibConfiguration(windowSize: 15, compressionLevel: min(max(level, 1), 9), memoryLevel: 8))
        window = ByteBufferAllocator().buffer(capacity: 16 * 1024)
    }

    mutating func write(_ buffer: ByteBuffer) async throws {
        guard buffer.readableBytes > 0 else { return }
        var input = buffer
        var out: [ByteBuffer] = []
        try input.compressStream(with: compressor, window: &window, flush: .sync) { out.append($0) }
        for chunk in out { try await inner.write(chunk) }
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        var empty = ByteBuffer()
        var out: [ByteBuffer] = []
        try empty.compressStream(with: compressor, window: &window, flush: .finish) { out.append($0) }
        for chunk in out { try await inner.write(chunk) }
        try await inner.finish(trailingHeaders)
    }
}
