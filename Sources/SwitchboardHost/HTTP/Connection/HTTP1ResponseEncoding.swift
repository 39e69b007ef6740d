import HTTPTypes
import NIOCore
import NIOHTTP1

/// How one response goes out on an HTTP/1.x connection, as `ConnectionStateMachine.responseHead`
/// decides it from the request and the response's head.
struct ResponseFraming: Equatable {
    /// How the content's end is found (RFC 9112 §6.3).
    enum Delimiting: Equatable {
        /// No content: an interim response, 204 or 304 (RFC 9110 §6.4.1). `Content-Length` and
        /// `Transfer-Encoding` are not written.
        case none
        /// By the response's `Content-Length` (bytes: the one value of its fields, RFC 9110
        /// §8.6), which the encoder writes. Body parts go out as they are, up to that many bytes.
        case contentLength(Int)
        /// HTTP/1.1 without a length: `Transfer-Encoding: chunked`, each body part one chunk, the
        /// end the last chunk and any trailer fields (RFC 9112 §7.1).
        case chunked
        /// HTTP/1.0 without a length: the content ends when the connection closes (RFC 9112 §6.3,
        /// rule 8); body parts go out as they are.
        case connectionClose
    }

    /// What the `Connection` field announces (RFC 9112 §9.3), replacing the response's own.
    enum Announcement: Equatable {
        case close
        /// To an HTTP/1.0 client that asked for a persistent connection.
        case keepAlive
    }

    /// The request's version: the response's status line carries it.
    var version: HTTPVersion
    var delimiting: Delimiting
    /// False for HEAD (RFC 9110 §9.3.2: the head is the one GET would get, without content) and
    /// when there is no content: body parts are dropped.
    var sendsContent: Bool
    /// Nil: the response's own `Connection` field, if any, goes out as it is.
    var connection: Announcement?
    /// A final response (2xx–5xx, or 101): it carries `Date` and `Server`.
    var isFinal: Bool
}

/// Writes HTTP/1.x responses as bytes (RFC 9112 §4, §5, §7.1), from swift-http-types' values: the
/// host's response encoder, in place of converting each head to NIO's `HTTPResponseHead` for
/// NIOHTTP1's encoder (a copy of every field, then the encoder's own pass over them).
enum HTTP1ResponseEncoding {
    /// Appends the status line and the header section of `status` and `fields` as `framing`
    /// says (version, the framing fields `Content-Length` and `Transfer-Encoding`, `Connection`),
    /// ending with the empty line. A final response
    /// gets `date` (an IMF-fixdate, RFC 9110 §6.6.1; read only for a final response) in place of
    /// its own, and `server` (§10.2.4) in place of its own when there is one. The response's other
    /// fields go out in their order, names as they were given.
    static func writeHead(
        status: HTTPResponse.Status, fields: HTTPFields, framing: ResponseFraming, date: @autoclosure () -> String, server: String?,
        into buffer: inout ByteBuffer
    ) {
        writeStatusLine(version: framing.version, status: status, into: &buffer)
        for field in fields {
            let name = field.name
            if name == .transferEncoding || name == .contentLength { continue }  // framing: written below
            if framing.isFinal, name == .date || (name == .server && server != nil) { continue }
            if framing.connection != nil, name == .connection { continue }
            buffer.writeString(name.rawName)
            buffer.writeStaticString(": ")
            buffer.writeString(field.value)
            buffer.writeStaticString("\r\n")
        }
        if framing.isFinal {
            buffer.writeStaticString("Date: ")
            buffer.writeString(date())
            buffer.writeStaticString("\r\n")
            if let server {
                buffer.writeStaticString("Server: ")
                buffer.writeString(server)
                buffer.writeStaticString("\r\n")
            }
        }
        switch framing.connection {
        case .close: buffer.writeStaticString("connection: close\r\n")
        case .keepAlive: buffer.writeStaticString("connection: keep-alive\r\n")
        case nil: break
        }
        switch framing.delimiting {
        case .contentLength(let length):
            buffer.writeStaticString("Content-Length: ")
            buffer.writeString(String(length))
            buffer.writeStaticString("\r\n")
        case .chunked:
            buffer.writeStaticString("transfer-encoding: chunked\r\n")
        case .none, .connectionClose:
            break
        }
        buffer.writeStaticString("\r\n")
    }

    /// `HTTP/1.1 200 OK` and CRLF: the status's code and the phrase RFC 9110 §15 registers for it
    /// (as NIOHTTP1 writes every code it knows), or, for a code it does not know, the status's own
    /// phrase (RFC 9112 §4; swift-http-types validated it), possibly empty.
    static func writeStatusLine(version: HTTPVersion, status: HTTPResponse.Status, into buffer: inout ByteBuffer) {
        if version.major == 1 && version.minor == 1 {
            buffer.writeStaticString("HTTP/1.1 ")
        } else if version.major == 1 && version.minor == 0 {
            buffer.writeStaticString("HTTP/1.0 ")
        } else {
            buffer.writeString("HTTP/\(version.major).\(version.minor) ")
        }
        let code = status.code  // 0...999 (swift-http-types' precondition): three digits
        let digits = UInt32(48 + code / 100) << 24 | UInt32(48 + code / 10 % 10) << 16 | UInt32(48 + code % 10) << 8
        buffer.writeInteger(digits | UInt32(UInt8(ascii: " ")), endianness: .big)
        buffer.writeString(HTTPResponseStatus(statusCode: code, reasonPhrase: status.reasonPhrase).reasonPhrase)
        buffer.writeStaticString("\r\n")
    }

    /// The size line of a chunk of `count` bytes (lowercase hexadecimal, RFC 9112 §7.1), CRLF.
    static func chunkSizeLine(_ count: Int, allocator: ByteBufferAllocator) -> ByteBuffer {
        var line = allocator.buffer(capacity: 18)
        line.writeString(String(count, radix: 16))
        line.writeStaticString("\r\n")
        return line
    }

    /// The last chunk and the trailer section (RFC 9112 §7.1.2): `0`, the trailer fields, the
    /// empty line.
    static func lastChunk(trailers: HTTPFields?, allocator: ByteBufferAllocator) -> ByteBuffer {
        guard let trailers, !trailers.isEmpty else { return Self.lastChunkBytes }
        var buffer = allocator.buffer(capacity: 64)
        buffer.writeStaticString("0\r\n")
        for field in trailers {
            buffer.writeString(field.name.rawName)
            buffer.writeStaticString(": ")
            buffer.writeString(field.value)
            buffer.writeStaticString("\r\n")
        }
        buffer.writeStaticString("\r\n")
        return buffer
    }

    static let lastChunkBytes = ByteBuffer(string: "0\r\n\r\n")

    /// A `Content-Length` value (RFC 9110 §8.6): one run of decimal digits (at most 18, so it
    /// fits); nil for anything else.
    static func decimal(_ value: String) -> Int? {
        let digits = value.utf8
        guard !digits.isEmpty, digits.count <= 18 else { return nil }
        var n = 0
        for d in digits {
            guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "9") else { return nil }
            n = n * 10 + Int(d - UInt8(ascii: "0"))
        }
        return n
    }

    /// A body part written when no response has begun (before a head, or after an end): it is not
    /// sent, since the client would read it as the start of the next response.
    struct BodyOutsideResponse: Error, CustomStringConvertible {
        var description: String { "a response body part was written with no response begun" }
    }
    static let crlf = ByteBuffer(string: "\r\n")
}
