import HTTPTypes
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
@testable import SwitchboardHost
import Testing

/// The connection's task gets one request at a time: what is pipelined behind it waits, in
/// order, and the socket is not read meanwhile.
@Suite struct PipeliningGateTests {
    /// Below the gate: counts the reads that reach the socket.
    final class ReadCounter: ChannelOutboundHandler {
        typealias OutboundIn = Any
        var reads = 0
        func read(context: ChannelHandlerContext) {
            reads += 1
            context.read()
        }
    }

    /// Above the gate, where the task's `NIOAsyncChannel` is: records what arrives, in order.
    final class Recorder: ChannelInboundHandler {
        typealias InboundIn = HTTPRequestPart
        var seen: [String] = []
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): seen.append("head \(head.path ?? "")")
            case .body(let body): seen.append("body \(String(buffer: body))")
            case .end: seen.append("end")
            }
        }
        func channelReadComplete(context: ChannelHandlerContext) { seen.append("readComplete") }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case ChannelEvent.inputClosed = event { seen.append("inputClosed") }
            if event is ConnectionGuard.LastResponse { seen.append("lastResponse") }
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { seen.append("error") }
    }

    struct Connection {
        let channel = EmbeddedChannel()
        let reads = ReadCounter()
        let task = Recorder()

        init() throws {
            try channel.pipeline.syncOperations.addHandlers([reads, PipeliningGate(), task])
        }

        func receive(_ parts: HTTPRequestPart...) {
            for part in parts { channel.pipeline.fireChannelRead(NIOAny(part)) }
            channel.pipeline.fireChannelReadComplete()
        }

        static func get(_ path: String) -> HTTPRequestPart {
            .head(HTTPRequest(method: .get, scheme: "http", authority: "x", path: path))
        }

        /// The task answers: a head and an end, written from the tail.
        func respond() throws {
            try channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
            try channel.writeOutbound(HTTPResponsePart.end(nil))
        }

        /// What the task was handed since the last call.
        func taken() -> [String] {
            defer { task.seen.removeAll() }
            return task.seen
        }
    }

    @Test func aRequestThatIsNotPipelinedPassesAtOnce() throws {
        let c = try Connection()
        c.receive(Connection.get("/a"), .end(nil))
        #expect(c.taken() == ["head /a", "end", "readComplete"])
        c.channel.read()
        #expect(c.reads.reads == 1)
        try c.respond()
        c.receive(Connection.get("/b"), .end(nil))
        #expect(c.taken() == ["head /b", "end", "readComplete"])
    }

    @Test func aPipelinedRequestWaitsForTheResponseBeforeIt() throws {
        let c = try Connection()
        c.receive(Connection.get("/a"), .end(nil), Connection.get("/b"), .end(nil), Connection.get("/c"), .body(ByteBuffer(string: "x")), .end(nil))
        #expect(c.taken() == ["head /a", "end", "readComplete"])
        // Nothing more is read while requests wait.
        c.channel.read()
        #expect(c.reads.reads == 0)
        try c.channel.writeOutbound(HTTPResponsePart.head(HTTPResponse(status: .ok)))
        #expect(c.taken().isEmpty, "a response's head does not end it")
        try c.channel.writeOutbound(HTTPResponsePart.end(nil))
        #expect(c.taken() == ["head /b", "end", "readComplete"])
        #expect(c.reads.reads == 0, "/c still waits")
        try c.respond()
        #expect(c.taken() == ["head /c", "body x", "end", "readComplete"])
        #expect(c.reads.reads == 1, "the read asked for meanwhile is made once nothing waits")
        // The two responses went out, in order (/c's is not written yet).
        var out: [String] = []
        while let part = try c.channel.readOutbound(as: HTTPResponsePart.self) {
            switch part {
            case .head: out.append("head")
            case .body: out.append("body")
            case .end: out.append("end")
            }
        }
        #expect(out == ["head", "end", "head", "end"])
    }

    @Test func theClientClosingItsSideDoesNotOvertakeWhatItSentBefore() throws {
        let c = try Connection()
        c.receive(Connection.get("/a"), .end(nil), Connection.get("/b"), .end(nil))
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(c.taken() == ["head /a", "end", "readComplete"])
        try c.respond()
        #expect(c.taken() == ["head /b", "end", "inputClosed", "readComplete"])
    }

    @Test func aResponseBeforeItsRequestEndedStillGetsTheRestOfTheBody() throws {
        let c = try Connection()
        c.receive(.head(HTTPRequest(method: .post, scheme: "http", authority: "x", path: "/upload")), .body(ByteBuffer(string: "1")))
        #expect(c.taken() == ["head /upload", "body 1", "readComplete"])
        try c.respond()  // e.g. 413, before the body ended
        c.receive(.body(ByteBuffer(string: "2")), .end(nil), Connection.get("/next"), .end(nil))
        #expect(c.taken() == ["body 2", "end", "head /next", "end", "readComplete"])
    }

    @Test func whatWaitsIsDroppedWhenTheConnectionCloses() throws {
        let c = try Connection()
        c.receive(Connection.get("/a"), .end(nil), Connection.get("/b"), .end(nil))
        _ = c.taken()
        c.channel.read()  // held back: /b waits
        c.channel.pipeline.fireChannelInactive()
        try c.respond()
        #expect(!c.taken().contains("head /b"))
        #expect(c.reads.reads == 0, "the read held back is not made for a closed channel")
    }

    @Test func errorsAndEventsPassAtOnceWhenNothingWaitsAndInOrderWhenSomethingDoes() throws {
        let c = try Connection()
        c.receive(Connection.get("/a"))
        c.channel.pipeline.fireErrorCaught(ChannelError.ioOnClosedChannel)
        #expect(c.taken() == ["head /a", "readComplete", "error"])
        c.receive(.end(nil), Connection.get("/b"), .end(nil))
        c.channel.pipeline.fireErrorCaught(ChannelError.ioOnClosedChannel)
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        #expect(c.taken() == ["end", "readComplete"])
        try c.respond()
        #expect(c.taken() == ["head /b", "end", "error", "inputClosed", "readComplete"])
    }

    /// RFC 9112 §9.6: after the connection's last response, what the client pipelined behind it
    /// is not processed; the socket is read again so its close is seen.
    @Test func nothingPipelinedBehindTheLastResponseReachesTheTask() throws {
        let c = try Connection()
        c.receive(Connection.get("/a"), .end(nil), Connection.get("/b"), .end(nil))
        c.channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        c.channel.read()
        #expect(c.taken() == ["head /a", "end", "readComplete"])
        #expect(c.reads.reads == 0)
        // The guard says so while the response's end is written (quiescing, Connection: close),
        // or when an open-ended response starts.
        c.channel.pipeline.fireUserInboundEventTriggered(ConnectionGuard.LastResponse())
        #expect(c.taken() == ["inputClosed"], "events that waited still pass; /b does not")
        #expect(c.reads.reads == 1, "the read held back is made")
        try c.respond()
        c.receive(Connection.get("/c"), .end(nil))
        #expect(c.taken() == ["readComplete"])
        c.channel.read()
        #expect(c.reads.reads == 2, "reads are not held back any more")
    }

    /// Below the gate, as the guard is: says `LastResponse` while a response's end is written.
    final class ClosesAfterResponse: ChannelOutboundHandler {
        typealias OutboundIn = HTTPResponsePart
        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            context.write(data, promise: promise)
            if case .end = unwrapOutboundIn(data) { context.fireUserInboundEventTriggered(ConnectionGuard.LastResponse()) }
        }
    }

    /// The guard's way: `LastResponse` arrives from inside the gate's own write of the response's
    /// end, and what waits is dropped rather than released.
    @Test func theLastResponseSaidDuringItsOwnWriteReleasesNothing() throws {
        let c = try Connection()
        try c.channel.pipeline.syncOperations.addHandler(ClosesAfterResponse(), position: .first)
        c.receive(Connection.get("/a"), .end(nil), Connection.get("/b"), .end(nil))
        c.channel.read()
        #expect(c.taken() == ["head /a", "end", "readComplete"])
        try c.respond()
        #expect(c.taken().isEmpty, "/b was released after the last response")
        #expect(c.reads.reads == 1, "the read held back is made")
    }

    @Test func theLastResponseBeforeItsRequestEndedStillGetsTheRestOfTheBody() throws {
        let c = try Connection()
        c.receive(.head(HTTPRequest(method: .post, scheme: "http", authority: "x", path: "/upload")), .body(ByteBuffer(string: "1")))
        _ = c.taken()
        c.channel.pipeline.fireUserInboundEventTriggered(ConnectionGuard.LastResponse())
        try c.respond()  // e.g. 413 with Connection: close
        c.receive(.body(ByteBuffer(string: "2")), .end(nil), Connection.get("/next"), .end(nil))
        #expect(c.taken() == ["body 2", "end", "readComplete"])
    }
}
