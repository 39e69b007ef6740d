// The floor under every Swift server here: a bare SwiftNIO HTTP/1.1 server (NIOHTTP1's pipeline
// and one channel handler) that answers `GET /hello-c` with the bytes hello-c answers (status,
// Content-Type, Content-Length, Date, Server, body). bench/run.sh compares the host's tiny text
// route against it (issue #21: at least 0.9 of it). Everything else is 404.
import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

let port = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 8002

final class HelloHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private static let body = ByteBuffer(string: "Hello from C!\n")
    private var keepAlive = true
    private var found = false
    /// The IMF-fixdate of `second` (RFC 9110 §5.6.7), made once a second per connection.
    private var second = 0
    private var date = ""

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            found = head.method == .GET && head.uri == "/hello-c"
        case .body:
            break
        case .end:
            var headers = HTTPHeaders()
            headers.reserveCapacity(4)
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
            headers.add(name: "Content-Length", value: found ? "14" : "0")
            headers.add(name: "Date", value: currentDate())
            headers.add(name: "Server", value: "switchboard")
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            let head = HTTPResponseHead(version: .http1_1, status: found ? .ok : .notFound, headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            if found { context.write(wrapOutboundOut(.body(.byteBuffer(Self.body))), promise: nil) }
            let keepAlive = self.keepAlive
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }

    private func currentDate() -> String {
        var now = time(nil)
        guard Int(now) != second else { return date }
        second = Int(now)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        date = String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return date
    }
}

let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
    .serverChannelOption(.backlog, value: 4096)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
            try channel.pipeline.syncOperations.addHandler(HelloHandler())
        }
    }
    .bind(host: "127.0.0.1", port: port)
    .get()
try await channel.closeFuture.get()
