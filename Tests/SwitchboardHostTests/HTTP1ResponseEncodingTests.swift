import HTTPTypes
import NIOCore
import NIOHTTP1
import Testing
@testable import SwitchboardHost

/// The bytes of a response head as the connection frames and writes it (RFC 9112 §4–§7, §9.3),
/// from the request's head through `ConnectionStateMachine.responseHead` to
/// `HTTP1ResponseEncoding`.
@Suite struct HTTP1ResponseEncodingTests {
    static let now = NIODeadline.uptimeNanoseconds(1_000_000_000)

    /// The head written for `status` and `fields` in answer to `method` over `version`, and how
    /// the machine framed it.
    static func head(
        _ fields: [(String, String)], method: HTTPMethod = .GET, version: HTTPVersion = .http1_1, request: [(String, String)] = [("host", "x")],
        status: HTTPResponse.Status = .ok
    ) -> (text: String, framing: ResponseFraming) {
        var machine = ConnectionStateMachine(limits: ConnectionLimits(), now: now)
        _ = machine.head(HTTPRequestHead(version: version, method: method, uri: "/", headers: HTTPHeaders(request)), now: now)
        machine.requestEnded(now: now)
        var response = HTTPFields()
        for (name, value) in fields { response.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        let framing = machine.responseHead(status: status, fields: response)
        var buffer = ByteBuffer()
        HTTP1ResponseEncoding.writeHead(status: status, fields: response, framing: framing, date: "Thu, 03 Dec 2026 10:00:00 GMT", server: "sb", into: &buffer)
        return (String(buffer: buffer), framing)
    }

    @Test func aFixedLengthResponseKeepsItsFieldsAndGetsDateAndServer() {
        let (text, framing) = Self.head([("Content-Type", "text/plain"), ("Content-Length", "2"), ("X-A", "1")])
        #expect(text == "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-A: 1\r\n"
            + "Date: Thu, 03 Dec 2026 10:00:00 GMT\r\nServer: sb\r\nContent-Length: 2\r\n\r\n")
        #expect(framing.delimiting == .contentLength(2) && framing.sendsContent && framing.connection == nil)
    }

    @Test func theServersDateAndServerReplaceTheResponsesAndTransferEncodingIsNeverCopied() {
        let (text, _) = Self.head([("date", "yesterday"), ("server", "other"), ("transfer-encoding", "gzip"), ("content-length", "0")])
        #expect(text == "HTTP/1.1 200 OK\r\nDate: Thu, 03 Dec 2026 10:00:00 GMT\r\nServer: sb\r\nContent-Length: 0\r\n\r\n")
    }

    @Test func withoutALengthHTTP11IsChunkedAndHTTP10EndsAtClose() {
        let chunked = Self.head([("content-type", "text/plain")])
        #expect(chunked.text.hasSuffix("Server: sb\r\ntransfer-encoding: chunked\r\n\r\n"))
        #expect(chunked.framing.delimiting == .chunked && chunked.framing.sendsContent)
        let untilClose = Self.head([("content-type", "text/plain")], version: .http1_0, request: [("connection", "keep-alive")])
        #expect(untilClose.text.hasPrefix("HTTP/1.0 200 OK\r\n"))
        #expect(untilClose.text.hasSuffix("Server: sb\r\nconnection: close\r\n\r\n"))
        #expect(untilClose.framing.delimiting == .connectionClose && untilClose.framing.connection == .close)
        let kept = Self.head([("content-length", "2")], version: .http1_0, request: [("connection", "keep-alive")])
        #expect(kept.text.hasSuffix("connection: keep-alive\r\nContent-Length: 2\r\n\r\n") && kept.framing.connection == .keepAlive)
    }

    @Test func noContentAndNotModifiedCarryNoFramingFields() {
        for status in [HTTPResponse.Status.noContent, .notModified] {
            let (text, framing) = Self.head([("content-length", "5"), ("transfer-encoding", "chunked"), ("etag", "\"a\"")], status: status)
            #expect(text == "HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\netag: \"a\"\r\nDate: Thu, 03 Dec 2026 10:00:00 GMT\r\nServer: sb\r\n\r\n")
            #expect(framing.delimiting == .none && !framing.sendsContent)
        }
    }

    @Test func aResponseToHeadHasGETsHeadAndNoContent() {
        let length = Self.head([("content-length", "14")], method: .HEAD)
        #expect(length.text.contains("Content-Length: 14\r\n"))
        #expect(length.framing.delimiting == .contentLength(14) && !length.framing.sendsContent)
        let chunked = Self.head([("content-type", "text/plain")], method: .HEAD)
        #expect(chunked.framing.delimiting == .chunked && !chunked.framing.sendsContent && chunked.framing.connection == nil)
    }

    @Test func theConnectionFieldIsReplacedWhenTheServerAnnouncesOne() {
        let (text, framing) = Self.head([("connection", "keep-alive"), ("content-length", "0")], request: [("host", "x"), ("connection", "close")])
        #expect(framing.connection == .close)
        #expect(text.components(separatedBy: "onnection:").count == 2, "one Connection field: \(text)")
        #expect(text.contains("connection: close\r\n"))
        let own = Self.head([("Connection", "close"), ("content-length", "0")])
        #expect(own.framing.connection == .close, "a response asking to close closes the connection")
    }

    @Test func anInterimResponseIsTheStatusLineAlone() {
        let (text, framing) = Self.head([], request: [("host", "x"), ("expect", "100-continue")], status: .continue)
        #expect(text == "HTTP/1.1 100 Continue\r\n\r\n")
        #expect(!framing.isFinal)
    }

    @Test func statusLinesCarryTheCodeAndItsPhrase() {
        var buffer = ByteBuffer()
        HTTP1ResponseEncoding.writeStatusLine(version: .http1_1, status: .init(code: 599, reasonPhrase: "Custom Thing"), into: &buffer)
        HTTP1ResponseEncoding.writeStatusLine(version: .http1_0, status: .notFound, into: &buffer)
        HTTP1ResponseEncoding.writeStatusLine(version: .http1_1, status: .init(code: 200, reasonPhrase: "Fine"), into: &buffer)
        HTTP1ResponseEncoding.writeStatusLine(version: .http1_1, status: .init(code: 299), into: &buffer)
        #expect(String(buffer: buffer) == "HTTP/1.1 599 Custom Thing\r\nHTTP/1.0 404 Not Found\r\nHTTP/1.1 200 OK\r\nHTTP/1.1 299 \r\n")
    }

    @Test func chunksAndTheLastChunkWithTrailers() {
        let allocator = ByteBufferAllocator()
        #expect(String(buffer: HTTP1ResponseEncoding.chunkSizeLine(4096, allocator: allocator)) == "1000\r\n")
        #expect(String(buffer: HTTP1ResponseEncoding.lastChunk(trailers: nil, allocator: allocator)) == "0\r\n\r\n")
        var trailers = HTTPFields()
        trailers[HTTPField.Name("Digest")!] = "sha-256=x"
        #expect(String(buffer: HTTP1ResponseEncoding.lastChunk(trailers: trailers, allocator: allocator)) == "0\r\nDigest: sha-256=x\r\n\r\n")
    }
}
