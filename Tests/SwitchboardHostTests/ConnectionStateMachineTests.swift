import HTTPTypes
import NIOCore
import NIOHTTP1
import Testing
@testable import SwitchboardHost

/// The connection's state machine without a socket: events in, actions out, time given.
@Suite struct ConnectionStateMachineTests {
    static let t0 = NIODeadline.uptimeNanoseconds(1_000_000_000)
    static func at(_ ms: Int64) -> NIODeadline { t0 + .milliseconds(ms) }

    static func limits() -> ConnectionLimits {
        var limits = ConnectionLimits()
        limits.headerTimeoutMs = 100
        limits.idleTimeoutMs = 1000
        limits.bodyTimeoutMs = 50
        limits.sendTimeoutMs = 70
        return limits
    }

    static func head(_ version: HTTPVersion = .http1_1, _ headers: [(String, String)] = [("host", "x")]) -> HTTPRequestHead {
        HTTPRequestHead(version: version, method: .GET, uri: "/", headers: HTTPHeaders(headers))
    }

    static func ok(_ headers: [(String, String)] = [("content-length", "2")]) -> (status: HTTPResponse.Status, fields: HTTPFields) {
        var fields = HTTPFields()
        for (name, value) in headers { fields.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        return (.ok, fields)
    }

    /// A 200 response's head as the connection writes it, read back: its version and fields.
    static func written(_ framing: ResponseFraming, _ fields: HTTPFields = ok().fields) -> (version: HTTPVersion, headers: HTTPHeaders) {
        var buffer = ByteBuffer()
        HTTP1ResponseEncoding.writeHead(status: .ok, fields: fields, framing: framing, date: "D", server: nil, into: &buffer)
        let lines = String(buffer: buffer).components(separatedBy: "\r\n")
        let version: HTTPVersion = lines[0].hasPrefix("HTTP/1.0 ") ? .http1_0 : .http1_1
        var headers = HTTPHeaders()
        for line in lines.dropFirst() where !line.isEmpty {
            let colon = line.firstIndex(of: ":")!
            headers.add(name: String(line[..<colon]), value: String(line[line.index(after: colon)...].drop { $0 == " " }))
        }
        return (version, headers)
    }

    @Test func keepAliveFollowsTheVersionAndTheConnectionTokens() {
        let cases: [(HTTPVersion, [(String, String)], [(String, String)], String?, Bool)] = [
            (.http1_1, [("host", "x")], [("content-length", "2")], nil, false),
            (.http1_1, [("host", "x"), ("connection", "keep-alive, Close")], [("content-length", "2")], "close", true),
            (.http1_0, [], [("content-length", "2")], "close", true),
            (.http1_0, [("connection", "keep-alive")], [("content-length", "2")], "keep-alive", false),
            (.http1_0, [("connection", "keep-alive")], [], "close", true),  // no length: ends at close
            (.http1_1, [("host", "x")], [("connection", "close")], "close", true),  // the host asked
            // Tokens are bytes: the Kelvin sign (U+212A) lowercases to k but is not one, and a
            // combining mark after a comma does not hide the token before it (as Characters,
            // "close," and the mark were one "close,́" token).
            (.http1_0, [("connection", "\u{212A}eep-alive")], [("content-length", "2")], "close", true),
            (.http1_1, [("host", "x"), ("connection", "close,\u{301}")], [("content-length", "2")], "close", true),
        ]
        for (version, request, response, announced, closes) in cases {
            var machine = ConnectionStateMachine(limits: Self.limits(), now: Self.t0)
            guard case .forward = machine.head(Self.head(version, request), now: Self.t0) else {
                Issue.record("refused \(request)")
                continue
            }
            machine.requestEnded(now: Self.t0)
            let head = Self.written(machine.responseHead(status: .ok, fields: Self.ok(response).fields), Self.ok(response).fields)
            #expect(head.version == version)
            #expect(head.headers["connection"].first == announced, "\(version) \(request) \(response)")
            let end = machine.responseEnded(now: Self.t0)
            #expect((end == .close(linger: false)) == closes, "\(version) \(request) \(response): \(end)")
        }
    }

    /// A Range field (RFC 9110 §14.1.2), read as bytes: these outcomes are the ones the
    /// Character-based reading gave too.
    @Test func byteRangesAreReadAsBytes() {
        #expect(ByteRanges.parse("bytes=0-4", size: 14) == .ranges([0...4]))
        #expect(ByteRanges.parse(" Bytes=-3 ", size: 14) == .ranges([11...13]))
        #expect(ByteRanges.parse("bytes=0-1, 4-5", size: 14) == .ranges([0...1, 4...5]))
        #expect(ByteRanges.parse("bytes=0-1,\u{301}", size: 14) == .ignore, "a combining mark is not a range, nor part of the comma")
        #expect(ByteRanges.parse("bytes=5\u{301}-6", size: 14) == .ignore)
        #expect(ByteRanges.parse("items=0-1", size: 14) == .ignore)
        #expect(ByteRanges.parse("bytes=20-", size: 14) == .unsatisfiable)
    }

    @Test func aResponseBeforeTheBodyEndedIsTheLast() {
        var machine = ConnectionStateMachine(limits: Self.limits(), now: Self.t0)
        _ = machine.head(Self.head(.http1_1, [("host", "x"), ("content-length", "10")]), now: Self.t0)
        #expect(Self.written(machine.responseHead(status: .ok, fields: Self.ok().fields)).headers["connection"].first == "close")
        let end = machine.responseEnded(now: Self.t0)
        #expect(end == .close(linger: true))
    }

    @Test func continueIsSentOnceAndNeverAfterTheFinalHead() {
        var machine = ConnectionStateMachine(limits: Self.limits(), now: Self.t0)
        _ = machine.head(Self.head(.http1_1, [("host", "x"), ("expect", "100-Continue"), ("content-length", "1")]), now: Self.t0)
        let once = machine.continueRequested(now: Self.t0), twice = machine.continueRequested(now: Self.t0)
        #expect(once == .http1_1 && twice == nil)
        var late = ConnectionStateMachine(limits: Self.limits(), now: Self.t0)
        _ = late.head(Self.head(.http1_1, [("host", "x"), ("expect", "100-continue"), ("content-length", "1")]), now: Self.t0)
        _ = late.responseHead(status: .ok, fields: Self.ok().fields)
        let afterFinal = late.continueRequested(now: Self.t0)
        #expect(afterFinal == nil)
        // HTTP/1.0 clients never get an interim response (RFC 9110 §10.1.1).
        var old = ConnectionStateMachine(limits: Self.limits(), now: Self.t0)
        _ = old.head(Self.head(.http1_0, [("expect", "100-continue"), ("content-length", "1")]), now: Self.t0)
        let forOld = old.continueRequested(now: Self.t0)
        #expect(forOld == nil)
    }

    @Test func aBadRequestBehindAGoodOneWaitsForItsTurn() {
        var machine = ConnectionStateMachine(limits: Self.limits(), now: Self.t0)
        let first = machine.head(Self.head(), now: Self.t0)
        #expect(first == .forward(Self.head()))
        machine.requestEnded(now: Self.t0)
        let bad = machine.head(Self.head(.http1_1, []), now: Self.t0)
        #expect(bad == .hold)
        // The held refusal follows the good response, which therefore does not announce a close.
        #expect(Self.written(machine.responseHead(status: .ok, fields: Self.ok().fields)).headers["connection"].isEmpty)
        guard case .reject(let rejection) = machine.responseEnded(now: Self.t0) else {
            Issue.record("the held refusal was not sent")
            return
        }
        #expect(rejection.status == .badRequest)
        let after = machine.head(Self.head(), now: Self.t0)
        #expect(after == .hold)  // nothing after it is read
    }

    @Test func hostRules() {
        #expect(ConnectionStateMachine.problem(with: Self.head(.http1_1, [])) != nil)
        #expect(ConnectionStateMachine.problem(with: Self.head(.http1_0, [])) == nil)
        #expect(ConnectionStateMachine.problem(with: Self.head(.http1_1, [("host", "a"), ("host", "a")])) != nil)
        for good in ["example.com", "example.com:8080", "127.0.0.1", "[::1]:80", "", "a-b_c.~", "[::1]", "a%41b", "h:", "!$&'()*+,;="] {
            #expect(ConnectionStateMachine.isValidHost(good), "\(good)")
        }
        for bad in ["a b", "a/b", "a:b", "a:123456", "[::1", "[::1]x", "a@b", "a?b", "[zz]", "a%zz", "a%4", "[1]", "[:]", "é.com", "a\"b"] {
            #expect(!ConnectionStateMachine.isValidHost(bad), "\(bad)")
        }
    }

    @Test func eachDeadlineFiresInItsPhase() {
        // First request: silent until the header timeout → closed without an answer.
        var silent = ConnectionStateMachine(limits: Self.limits(), now: Self.t0)
        #expect(silent.deadline == Self.at(100))
        let early = silent.timeout(now: Self.at(99)), due = silent.timeout(now: Self.at(100))
        #expect(early == .none && due == .close(.header))
        // Bytes of a head arrived: 408 at the same deadline (from accept, not from the bytes).
        var slow = ConnectionStateMachine(limits: Self.limits(), now: Self.t0)
        slow.bytesArrived(now: Self.at(90))
        guard case .reject(let rejection, .header) = slow.timeout(now: Self.at(100)) else {
            Issue.record("no 408")
            return
        }
        #expect(rejection.status == .requestTimeout)
        // Between requests: the idle timeout, then a header timeout from the next first byte.
        var idle = ConnectionStateMachine(limits: Self.limits(), now: Self.t0)
        _ = idle.head(Self.head(), now: Self.t0)
        idle.requestEnded(now: Self.t0)
        _ = idle.responseHead(status: .ok, fields: Self.ok().fields)
        let ended = idle.responseEnded(now: Self.at(10))
        #expect(ended == .keepOpen)
        #expect(idle.deadline == Self.at(1010))
        idle.bytesArrived(now: Self.at(500))
        #expect(idle.deadline == Self.at(600))
        // A body the server asks for and does not get: the body timeout, only while reading.
        var body = ConnectionStateMachine(limits: Self.limits(), now: Self.t0)
        _ = body.head(Self.head(.http1_1, [("host", "x"), ("content-length", "5")]), now: Self.t0)
        #expect(body.deadline == nil)
        body.readRequested(now: Self.at(20))
        #expect(body.deadline == Self.at(70))
        guard case .reject(_, .body) = body.timeout(now: Self.at(70)) else {
            Issue.record("no body timeout")
            return
        }
        // A pipelined request's body is not the server's to read yet, nor is a body the client
        // holds back until 100 Continue: no body timeout for either.
        var pipelined = ConnectionStateMachine(limits: Self.limits(), now: Self.t0)
        _ = pipelined.head(Self.head(), now: Self.t0)
        pipelined.requestEnded(now: Self.t0)
        _ = pipelined.head(Self.head(.http1_1, [("host", "x"), ("content-length", "5"), ("expect", "100-continue")]), now: Self.t0)
        pipelined.readRequested(now: Self.t0)
        #expect(pipelined.deadline == nil)
        _ = pipelined.responseHead(status: .ok, fields: Self.ok().fields)
        _ = pipelined.responseEnded(now: Self.at(500))
        #expect(pipelined.deadline == nil)  // waiting for its 100 Continue
        _ = pipelined.continueRequested(now: Self.t0)
        #expect(pipelined.deadline != nil)
        // A blocked writer: the send timeout.
        var blocked = ConnectionStateMachine(limits: Self.limits(), now: Self.t0)
        _ = blocked.head(Self.head(), now: Self.t0)
        blocked.requestEnded(now: Self.t0)
        blocked.writabilityChanged(writable: false, now: Self.at(5))
        #expect(blocked.deadline == Self.at(75))
        blocked.writabilityChanged(writable: true, now: Self.at(30))
        #expect(blocked.deadline == nil)
        blocked.writabilityChanged(writable: false, now: Self.at(40))
        let sendTimeout = blocked.timeout(now: Self.at(110))
        #expect(sendTimeout == .close(.send))
    }

    @Test func nothingBehindALastRequestIsPassedOn() {
        // HTTP/1.0 without keep-alive, then a pipelined POST: the POST must not run (its answer
        // could never be sent).
        var machine = ConnectionStateMachine(limits: Self.limits(), now: Self.t0)
        let first = machine.head(Self.head(.http1_0, []), now: Self.t0)
        #expect(first == .forward(Self.head(.http1_0, [])))
        machine.requestEnded(now: Self.t0)
        let behind = machine.head(Self.head(), now: Self.t0)
        #expect(behind == .hold)
    }

    @Test func shutdownAfterAResponseHeadStillClosesAtItsEnd() {
        var machine = ConnectionStateMachine(limits: Self.limits(), now: Self.t0)
        _ = machine.head(Self.head(), now: Self.t0)
        machine.requestEnded(now: Self.t0)
        #expect(Self.written(machine.responseHead(status: .ok, fields: Self.ok().fields)).headers["connection"].isEmpty)
        machine.quiesce(now: Self.t0)
        let end = machine.responseEnded(now: Self.t0)
        #expect(end == .close(linger: false))
    }

    @Test func shutdownClosesAnIdleConnectionAfterAGraceAndABusyOneAfterItsResponse() {
        // An idle kept-alive connection: its client may have sent a request already. It is kept
        // for quiesceGrace; a request in that time is answered, with Connection: close.
        var patient = Self.limits()
        patient.idleTimeoutMs = 60_000
        var idle = ConnectionStateMachine(limits: patient, now: Self.t0)
        _ = idle.head(Self.head(), now: Self.t0)
        idle.requestEnded(now: Self.t0)
        _ = idle.responseHead(status: .ok, fields: Self.ok().fields)
        let kept = idle.responseEnded(now: Self.t0)
        #expect(kept == .keepOpen)
        let quiescedAt = Self.t0 + .milliseconds(100)
        idle.quiesce(now: quiescedAt)
        #expect(idle.deadline == quiescedAt + ConnectionStateMachine.quiesceGrace)
        let early = idle.timeout(now: quiescedAt + .milliseconds(500))
        #expect(early == .none)
        let late = idle.timeout(now: quiescedAt + ConnectionStateMachine.quiesceGrace)
        #expect(late == .close(nil))
        var reused = ConnectionStateMachine(limits: Self.limits(), now: Self.t0)
        _ = reused.head(Self.head(), now: Self.t0)
        reused.requestEnded(now: Self.t0)
        _ = reused.responseHead(status: .ok, fields: Self.ok().fields)
        _ = reused.responseEnded(now: Self.t0)
        reused.quiesce(now: quiescedAt)
        _ = reused.head(Self.head(), now: quiescedAt + .milliseconds(10))
        reused.requestEnded(now: quiescedAt + .milliseconds(10))
        #expect(Self.written(reused.responseHead(status: .ok, fields: Self.ok().fields)).headers["connection"].first == "close")
        // A new connection's first request may be on its way: it is answered, then the connection closes.
        var fresh = ConnectionStateMachine(limits: Self.limits(), now: Self.t0)
        fresh.quiesce(now: Self.t0)
        _ = fresh.head(Self.head(), now: Self.t0)
        fresh.requestEnded(now: Self.t0)
        #expect(Self.written(fresh.responseHead(status: .ok, fields: Self.ok().fields)).headers["connection"].first == "close")
        let freshEnd = fresh.responseEnded(now: Self.t0)
        #expect(freshEnd == .close(linger: false))
        var busy = ConnectionStateMachine(limits: Self.limits(), now: Self.t0)
        _ = busy.head(Self.head(), now: Self.t0)
        busy.requestEnded(now: Self.t0)
        busy.quiesce(now: Self.t0)
        #expect(Self.written(busy.responseHead(status: .ok, fields: Self.ok().fields)).headers["connection"].first == "close")
    }
}
