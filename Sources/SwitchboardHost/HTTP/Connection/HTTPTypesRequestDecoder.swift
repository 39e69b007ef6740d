import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Converts a server's HTTP/1 request parts to HTTP types, as the inbound half of swift-nio-extras'
/// `HTTP1ToHTTPServerCodec` does, with the library's own conversions, except for reading the
/// request target. (Responses need no conversion: `ConnectionGuard` encodes HTTP types' values.)
///
/// That codec gives every target to Foundation's `URLComponents` to find the path of an
/// absolute-form target (`GET http://host/path`, RFC 9112 §3.2.2). An origin-form target (RFC
/// 9112 §3.2.1: it starts with `/`, the form clients send to an origin server) comes out of it
/// unchanged, since no scheme can start with `/`; so here it is taken as it is, and only the
/// other forms (absolute, asterisk, authority) go through the library's conversion. The parse was
/// 4 % of the host's samples on `GET /hello-c`.
/// Plain HTTP only: the scheme is `http`.
final class HTTPTypesRequestDecoder: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPRequestPart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            do {
                context.fireChannelRead(wrapInboundOut(.head(try Self.request(head))))
            } catch {
                context.fireErrorCaught(error)
            }
        case .body(let body):
            context.fireChannelRead(wrapInboundOut(.body(body)))
        case .end(let trailers):
            context.fireChannelRead(wrapInboundOut(.end(trailers.map { HTTPFields($0, splitCookie: false) })))
        }
    }

    /// `head` as an `HTTPRequest`: what `HTTPRequest(head, secure: false, splitCookie: false)`
    /// gives, without parsing an origin-form target. Throws `HTTP1TypeConversionError` for a
    /// method that is not a token.
    static func request(_ head: HTTPRequestHead) throws -> HTTPRequest {
        guard head.uri.utf8.first == UInt8(ascii: "/") else { return try HTTPRequest(head, secure: false, splitCookie: false) }
        return HTTPRequest(
            method: try HTTPRequest.Method(head.method), scheme: "http", authority: head.headers.first(name: "Host"),
            path: head.uri, headerFields: HTTPFields(head.headers, splitCookie: false))
    }
}
