import HTTPTypes
import Hummingbird
import NIOCore

/// A response as the host makes it for a plugin route, before it is written: Hummingbird's
/// `Response` with the body's bytes kept at hand when the body is one buffer, so the connection's
/// event loop can write it without a task (`EventLoopResponder`).
struct HostResponse: Sendable {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: Body

    /// What follows the head.
    enum Body: Sendable {
        /// One buffer, possibly empty (no content): `EventLoopResponder` can write it without a task.
        case bytes(ByteBuffer)
        /// Written by a task: a stream, a file, a coded body, a topic stream's subscription.
        case writer(ResponseBody)

        /// The buffer of a `.bytes` body; nil for a writer.
        var bytes: ByteBuffer? {
            if case .bytes(let bytes) = self { bytes } else { nil }
        }

        /// Bytes; nil when the writer does not say (chunked, or to the close).
        var contentLength: Int? {
            switch self {
            case .bytes(let bytes): bytes.readableBytes
            case .writer(let body): body.contentLength
            }
        }

        /// The body as Hummingbird writes it.
        var responseBody: ResponseBody {
            switch self {
            case .bytes(let bytes): bytes.readableBytes == 0 ? ResponseBody() : ResponseBody(byteBuffer: bytes)
            case .writer(let body): body
            }
        }
    }

    /// A body of known length sets `Content-Length`, replacing any the fields have: a plugin's
    /// own that disagreed with its body would make the client read the rest of the connection's
    /// responses at the wrong offsets (RFC 9112 §6.3). (A HEAD response is made from its GET's,
    /// then drops the body: `PluginResponder.dropBodyForHead`.)
    init(status: HTTPResponse.Status, headers: consuming HTTPFields = [:], body: Body = .bytes(ByteBuffer())) {
        // Room, in one allocation, for what the host adds: Content-Length and Vary (a field at a
        // time, they grew the storage). Fields handed over (`consume`) with that room already are
        // not copied.
        headers.reserveCapacity(headers.count + 2)
        if let length = body.contentLength {
            headers[.contentLength] = String(length)
        }
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The response as Hummingbird writes it.
    var response: Response { Response(status: status, headers: headers, body: body.responseBody) }
}
