import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOHTTPTypes
import Testing
@testable import SwitchboardHost

/// The bytes `ConnectionGuard` writes for the response parts it is given, on an `EmbeddedChannel`:
/// what reaches the socket, not only the head (`HTTP1ResponseEncodingTests`).
@Suite struct ConnectionGuardTests {
    /// Records the inbound user events that pass the guard (`LastResponse`: the connection ends).
    final class Events: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        var lastResponse = false
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is ConnectionGuard.LastResponse { lastResponse = true }
            context.fireUserInboundEventTriggered(event)
        }
    }

    static func connection() throws -> (EmbeddedChannel, Events) {
        let channel = EmbeddedChannel()
        let events = Events()
        try channel.pipeline.syncOperations.addHandler(
            ConnectionGuard(limits: ConnectionLimits(), metrics: HostMetrics().connections, server: ServerFields(name: "sb"), overCapacity: false))
        try channel.pipeline.syncOperations.addHandler(events)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, events)
    }

    static func request(_ channel: EmbeddedChannel, _ method: HTTPMethod = .GET, headers: [(String, String)] = [("host", "x")]) throws {
        try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: method, uri: "/", headers: HTTPHeaders(headers))))
        try channel.writeInbound(HTTPServerRequestPart.end(nil))
        while try channel.readInbound(as: HTTPServerRequestPart.self) != nil {}
    }

    static func respond(_ channel: EmbeddedChannel, status: HTTPResponse.Status = .ok, _ fields: HTTPFields, body: String?) throws {
        try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: status, headerFields: fields)))
        if let body { try channel.writeOutbound(HTTPResponsePart.body(ByteBuffer(string: body))) }
        try channel.writeOutbound(HTTPResponsePart.end(nil))
    }

    /// Everything written so far, as text.
    static func written(_ channel: EmbeddedChannel) throws -> String {
        var text = ""
        while let part = try channel.readOutbound(as: IOData.self) {
            guard case .byteBuffer(let buffer) = part else { continue }
            text += String(buffer: buffer)
        }
        return text
    }

    /// The text after the head's empty line.
    static func content(_ text: String) -> String {
        text.range(of: "\r\n\r\n").map { String(text[$0.upperBound...]) } ?? ""
    }

    @Test func aResponseToHeadSendsItsHeadAndNoContent() throws {
        let (channel, _) = try Self.connection()
        try Self.request(channel, .HEAD)
        try Self.respond(channel, [.contentType: "text/plain", .contentLength: "14"], body: "Hello from C!\n")
        let text = try Self.written(channel)
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n") && text.contains("Content-Length: 14\r\n"))
        #expect(Self.content(text).isEmpty, "\(text)")
    }

    @Test func aRejectionToHeadSendsNoContent() throws {
        let (channel, events) = try Self.connection()
        try channel.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .HEAD, uri: "/", headers: [:])))
        let text = try Self.written(channel)
        #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n") && text.contains("connection: close\r\n"), "\(text)")
        #expect(Self.content(text).isEmpty, "\(text)")
        #expect(events.lastResponse)
        // To GET, the same rejection carries its JSON.
        let (other, _) = try Self.connection()
        try other.writeInbound(HTTPServerRequestPart.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: [:])))
        #expect(Self.content(try Self.written(other)) == #"{"detail":"An HTTP/1.1 request must have a Host header field"}"#)
    }

    @Test func noContentAndNotModifiedSendNoneWhateverTheyAreGiven() throws {
        for status in [HTTPResponse.Status.noContent, .notModified] {
            let (channel, events) = try Self.connection()
            try Self.request(channel)
            try Self.respond(channel, status: status, [.contentLength: "5"], body: "hello")
            let text = try Self.written(channel)
            #expect(!text.lowercased().contains("content-length") && Self.content(text).isEmpty, "\(text)")
            #expect(!events.lastResponse, "the connection stays open")
        }
    }

    @Test func aBodyLongerThanItsContentLengthIsCutAndEndsTheConnection() throws {
        let (channel, events) = try Self.connection()
        try Self.request(channel)
        try Self.respond(channel, [.contentLength: "5"], body: "Hello, world")
        #expect(Self.content(try Self.written(channel)) == "Hello")
        #expect(events.lastResponse)
    }

    @Test func aBodyShorterThanItsContentLengthEndsTheConnection() throws {
        let (channel, events) = try Self.connection()
        try Self.request(channel)
        try Self.respond(channel, [.contentLength: "10"], body: "abc")
        #expect(Self.content(try Self.written(channel)) == "abc")
        #expect(events.lastResponse)
        // Exactly the declared length keeps it open.
        let (exact, exactEvents) = try Self.connection()
        try Self.request(exact)
        try Self.respond(exact, [.contentLength: "3"], body: "abc")
        #expect(Self.content(try Self.written(exact)) == "abc" && !exactEvents.lastResponse)
    }

    @Test func aContentLengthThatIsNotOneNumberIsReplacedByChunks() throws {
        for lengths in [["1x"], ["2", "3"], [""]] {
            let (channel, _) = try Self.connection()
            try Self.request(channel)
            var fields = HTTPFields()
            for length in lengths { fields.append(HTTPField(name: .contentLength, value: length)) }
            try Self.respond(channel, fields, body: "abc")
            let text = try Self.written(channel)
            #expect(!text.lowercased().contains("content-length") && text.contains("transfer-encoding: chunked\r\n"), "\(lengths): \(text)")
            #expect(Self.content(text) == "3\r\nabc\r\n0\r\n\r\n", "\(lengths)")
        }
        let (same, _) = try Self.connection()
        try Self.request(same)
        try Self.respond(same, [.contentLength: "3", .contentLength: "3"], body: "abc")
        let text = try Self.written(same)
        #expect(text.components(separatedBy: "Content-Length: 3\r\n").count == 2, "one Content-Length: \(text)")
    }

    @Test func promisesCompleteInOrderAndABodyWithoutAResponseFails() throws {
        let (channel, _) = try Self.connection()
        try Self.request(channel, .HEAD)
        let head = channel.eventLoop.makePromise(of: Void.self)
        let dropped = channel.eventLoop.makePromise(of: Void.self)
        channel.write(HTTPResponsePart.head(HTTPResponse(status: .ok, headerFields: [.contentLength: "2"])), promise: head)
        channel.write(HTTPResponsePart.body(ByteBuffer(string: "hi")), promise: dropped)
        var order: [String] = []
        head.futureResult.whenSuccess { order.append("head") }
        dropped.futureResult.whenSuccess { order.append("body") }
        #expect(order.isEmpty, "nothing completes before the head is written")
        channel.flush()
        #expect(order == ["head", "body"])
        try channel.writeOutbound(HTTPResponsePart.end(nil))

        let stray = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(HTTPResponsePart.body(ByteBuffer(string: "stray")), promise: stray)
        #expect(throws: HTTP1ResponseEncoding.BodyOutsideResponse.self) { try stray.futureResult.wait() }
        #expect(!(try Self.written(channel)).contains("stray"))
    }

    @Test func aResponsesOwnServerFieldStaysWhenTheServerHasNoName() throws {
        var buffer = ByteBuffer()
        let framing = ResponseFraming(version: .http1_1, delimiting: .contentLength(0), sendsContent: true, connection: nil, isFinal: true)
        HTTP1ResponseEncoding.writeHead(status: .ok, fields: [.server: "plugin/1"], framing: framing, date: "D", server: nil, into: &buffer)
        #expect(String(buffer: buffer) == "HTTP/1.1 200 OK\r\nServer: plugin/1\r\nDate: D\r\nContent-Length: 0\r\n\r\n")
    }
}
