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

    /// As Hummingbird's `Response` does, a body of known length sets `Content-Length` unless the
    /// fields already have one (a HEAD response keeps its GET's).
    init(status: HTTPResponse.Status, headers: consuming HTTPFields = [:], body: Body = .bytes(ByteBuffer())) {
        // Room, in one allocation, for what the host adds on the way out: Content-Length, Vary,
        // Date and Server (a field at a time, they grew the storage up to four times). Fields
        // handed over (`consume`) with that room already are not copied.
        headers.reserveCapacity(headers.count + 4)
        if let length = body.contentLength, !headers.contains(.contentLength) {
            headers[.contentLength] = String(length)
        }
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The response as Hummingbird writes it.
    var response: Response { Response(status: status, headers: headers, body: body.responseBody) }
}
