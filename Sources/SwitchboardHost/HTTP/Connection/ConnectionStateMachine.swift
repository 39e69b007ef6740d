import DequeModule
import HTTPTypes
import NIOCore
import NIOHTTP1
import SwitchboardCore

/// The life of one HTTP/1.x connection, as a value that takes events and returns actions
/// (`ConnectionGuard` applies them to the channel; tests drive it with no socket).
///
/// Invariants:
/// - `exchanges` holds every request whose head was passed on and whose response has not ended,
///   oldest first (pipelined requests wait behind it). A response part always belongs to the first.
/// - A request that cannot be served (a malformed head, a missing or repeated `Host`, an
///   unexpected expectation) is never passed on: it is answered by the connection itself, after
///   the responses of the requests before it, and the connection then closes.
/// - A close is always announced: the last response carries `Connection: close`, and a response
///   that ends a connection for any reason (the client asked, HTTP/1.0 without keep-alive, a body
///   not read to its end, shutdown) says so in its head.
/// - At most one read deadline applies at a time, chosen by the phase: waiting for a first request
///   (header timeout from accept), idle between requests (idle timeout), inside a head (header
///   timeout from its first byte), inside the body of the first open request while the server
///   reads it (body timeout between reads), closing (send timeout until the last response has
///   left, then the linger). A blocked writer has its own deadline (send timeout).
/// - A connection closes gracefully: its output is shut after everything written has been sent
///   (a full close would drop what is still queued), then input is read and dropped for the
///   linger, so the client reads the whole last response rather than a reset.
struct ConnectionStateMachine {
    /// A request passed on to the server, until its response ends.
    struct Exchange {
        var version: HTTPVersion
        /// The client allows the connection to stay open after this response (RFC 9112 §9.3).
        var keepAlive: Bool
        /// HTTP/1.1 `Expect: 100-continue` (RFC 9110 §10.1.1).
        var expectsContinue: Bool
        var continueSent = false
        var requestComplete = false
        var responseStarted = false
        /// This response is the connection's last.
        var closeAfter = false
        /// HEAD: the response has no content, whatever its head says (RFC 9110 §9.3.2).
        var isHead = false
        /// The request asked to switch protocols: NIO's decoder reads nothing after it, so the
        /// connection ends with its response and reads no more.
        var upgrade = false
    }

    /// A response the connection writes itself, with a JSON body (`{"detail": ...}`).
    struct Rejection: Equatable {
        var status: HTTPResponseStatus
        var detail: String
        /// It answers a HEAD request: the head says what the body would be, none is sent (RFC 9110
        /// §9.3.2).
        var toHead = false
    }

    enum Phase: Equatable {
        /// No request open: waiting for the first byte of one (`keepAlive` false: the first
        /// request, whose header timeout runs from accept) or for the rest of its head.
        case waiting(since: NIODeadline, headStarted: Bool, keepAlive: Bool)
        case open
        /// The last response is written (or the connection gave up). Until `until` is set the
        /// output is still being sent (`since`: when closing began; the send timeout bounds it);
        /// then input is read and dropped until the client closes or `until`.
        case lingering(since: NIODeadline, until: NIODeadline?)
        case closed
    }

    enum HeadAction: Equatable {
        case forward(HTTPRequestHead)
        /// Not passed on; answered later, after the open exchanges.
        case hold
        case reject(Rejection)
    }

    enum ResponseEndAction: Equatable {
        case keepOpen
        /// The connection ends after this write; `linger` when the client may still be sending.
        case close(linger: Bool)
        /// A held rejection is due now, then the connection ends.
        case reject(Rejection)
    }

    /// Which deadline passed (a metric label: `switchboard_connection_timeouts_total{timeout}`).
    enum Timeout: String, CaseIterable {
        case header, idle, body, send
    }

    enum TimeoutAction: Equatable {
        case none
        /// Close without a response (nothing of a request arrived, or the client stopped reading);
        /// `nil` when a linger simply ended.
        case close(Timeout?)
        /// Answer this, then close.
        case reject(Rejection, Timeout)
    }

    let limits: ConnectionLimits
    static let linger = TimeAmount.seconds(2)
    /// At shutdown, how long an idle keep-alive connection stays open for a request its client
    /// may have sent already (it is answered, with `Connection: close`).
    static let quiesceGrace = TimeAmount.seconds(1)

    private(set) var phase: Phase
    private(set) var exchanges = Deque<Exchange>()
    private var held: Rejection? = nil
    /// When graceful shutdown began for this connection.
    private var quiescedAt: NIODeadline? = nil
    private var quiescing: Bool { quiescedAt != nil }
    /// The server asked for more input and none has come since (the body timeout runs only then).
    private var readPending = false
    private var lastRead: NIODeadline
    private var blockedSince: NIODeadline? = nil

    init(limits: ConnectionLimits, now: NIODeadline) {
        self.limits = limits
        self.phase = .waiting(since: now, headStarted: false, keepAlive: false)
        self.lastRead = now
    }

    // MARK: Inbound

    /// Bytes arrived and the decoder made nothing of them yet: a head has begun.
    mutating func bytesArrived(now: NIODeadline) {
        lastRead = now
        readPending = false
        // A later request's header timeout runs from its first byte; the first's from accept.
        if case .waiting(let since, false, let keepAlive) = phase {
            phase = .waiting(since: keepAlive ? now : since, headStarted: true, keepAlive: keepAlive)
        }
    }

    mutating func readRequested(now: NIODeadline) {
        if !readPending { lastRead = now }
        readPending = true
    }

    mutating func head(_ head: HTTPRequestHead, now: NIODeadline) -> HeadAction {
        lastRead = now
        readPending = false
        guard isAccepting else { return .hold }
        let head = Self.originForm(head)
        let fields = HeadFields(head.headers)
        if var problem = Self.problem(with: head, fields) {
            problem.toHead = head.method == .HEAD
            return refuse(problem)
        }
        let tokens = fields.connection
        // RFC 9112 §9.3: `close` wins; HTTP/1.0 persists only when asked. §6.1: an HTTP/1.0
        // message with Transfer-Encoding has faulty framing: answer it, then close.
        let keepAlive = !tokens.close
            && (head.version.minor >= 1 ? true : tokens.keepAlive && fields.transferCodings.isEmpty)
        // Every expectation is 100-continue (`problem` refuses any other).
        let expectsContinue = head.version.minor >= 1 && !fields.expectations.isEmpty
        let upgrade = tokens.upgrade && fields.hasUpgrade
        exchanges.append(
            Exchange(
                version: head.version, keepAlive: keepAlive && !upgrade, expectsContinue: expectsContinue, isHead: head.method == .HEAD,
                upgrade: upgrade))
        phase = .open
        return .forward(head)
    }

    /// After the end of a request that asked to switch protocols, nothing more is read.
    var readsSuspended: Bool { exchanges.last?.upgrade == true && exchanges.last?.requestComplete == true }

    mutating func bodyArrived(now: NIODeadline) {
        lastRead = now
        readPending = false
    }

    mutating func requestEnded(now: NIODeadline) {
        lastRead = now
        readPending = false
        if let i = exchanges.lastIndex(where: { !$0.requestComplete }) { exchanges[i].requestComplete = true }
    }

    /// The decoder failed. `propagate` when a request's body was being read: its handler learns
    /// from its body (and answers 400); otherwise the connection answers, after the open exchanges.
    mutating func parseError(_ error: any Error) -> (propagate: Bool, action: HeadAction) {
        if let i = exchanges.lastIndex(where: { !$0.requestComplete }) {
            exchanges[i].closeAfter = true
            return (true, .hold)
        }
        guard isAccepting else { return (false, .hold) }
        let headerOverflow = (error as? HTTPParserError) == .headerOverflow
        return (false, refuse(headerOverflow
            ? Rejection(status: .requestHeaderFieldsTooLarge, detail: "Request header fields are larger than \(limits.maxHeaderBytes) bytes")
            : Rejection(status: .badRequest, detail: "Malformed HTTP request: \(error)")))
    }

    /// Nothing more to read: the client closed, or the connection did.
    mutating func closed() {
        phase = .closed
    }

    /// Whether a new request may be passed on: not behind one refused (`held`), nor behind one
    /// after which the connection ends (what follows it would run, and its answer be dropped).
    private var isAccepting: Bool {
        switch phase {
        case .waiting, .open:
            return held == nil && !exchanges.contains { !$0.keepAlive || $0.closeAfter || $0.upgrade }
        case .lingering, .closed:
            return false
        }
    }

    private mutating func refuse(_ rejection: Rejection) -> HeadAction {
        if exchanges.isEmpty { return .reject(rejection) }
        held = rejection
        return .hold
    }

    // MARK: Outbound

    /// `Expect: 100-continue` is answered when the server starts reading the body; false when no
    /// interim response is due (no expectation, already sent, or a final response has begun).
    mutating func continueRequested(now: NIODeadline) -> HTTPVersion? {
        guard var first = exchanges.first, first.expectsContinue, !first.continueSent, !first.responseStarted,
            !first.requestComplete
        else { return nil }
        first.continueSent = true
        exchanges[0] = first
        // The client starts sending only now: its body timeout starts now too.
        lastRead = now
        return first.version
    }

    /// How the first exchange's response goes out (RFC 9112 §6.3, §9.3): the request's HTTP
    /// version (so an HTTP/1.0 client never gets chunked framing), how its content is delimited
    /// (`Content-Length` fields that are not one decimal value count as none),
    /// whether any is sent (none to HEAD), and `Connection: close` when this response is the
    /// connection's last (`keep-alive` to an HTTP/1.0 client that asked to keep it). An interim
    /// response (1xx other than 101) changes nothing but marks a `100 Continue` sent.
    mutating func responseHead(status: HTTPResponse.Status, fields: HTTPFields) -> ResponseFraming {
        let version = exchanges.first?.version ?? .http1_1
        guard status.code >= 200 || status.code == 101 else {
            if status.code == 100, !exchanges.isEmpty { exchanges[0].continueSent = true }
            return ResponseFraming(version: version, delimiting: .none, sendsContent: false, connection: nil, isFinal: false)
        }
        var tokens = ConnectionOptions()
        var length: Int? = nil
        var lengthValid = true
        for field in fields {
            if field.name == .contentLength {
                let value = HTTP1ResponseEncoding.decimal(field.value)
                if let value, length == nil || length == value { length = value } else { lengthValid = false }
            } else if field.name == .connection {
                tokens.add(field.value)
            }
        }
        let delimiting: ResponseFraming.Delimiting =
            !Self.hasContent(status) ? .none
            : lengthValid && length != nil ? .contentLength(length!)
            : version.minor >= 1 ? .chunked : .connectionClose
        guard var first = exchanges.first else {
            return ResponseFraming(version: version, delimiting: delimiting, sendsContent: delimiting != .none, connection: nil, isFinal: true)
        }
        // (A held rejection follows this response and announces the close itself.)
        let close = first.closeAfter || !first.keepAlive || first.upgrade || quiescing || tokens.close
            || (delimiting == .connectionClose && !first.isHead) || !first.requestComplete
        first.closeAfter = close
        first.responseStarted = true
        exchanges[0] = first
        return ResponseFraming(
            version: version, delimiting: delimiting, sendsContent: delimiting != .none && !first.isHead,
            connection: close ? .close : version.minor == 0 ? .keepAlive : nil, isFinal: true)
    }

    /// The response being sent is not the length its head declared: the client cannot find where
    /// the next one starts, so the connection ends with it (RFC 9112 §6.3).
    mutating func responseMiscounted() {
        if !exchanges.isEmpty { exchanges[0].closeAfter = true }
    }

    mutating func responseEnded(now: NIODeadline) -> ResponseEndAction {
        guard let first = exchanges.popFirst() else { return .keepOpen }
        if first.closeAfter || quiescing {
            phase = .lingering(since: now, until: nil)
            // After an upgrade request nothing more is read, so there is nothing to linger for.
            return .close(linger: !first.upgrade && (!first.requestComplete || !exchanges.isEmpty))
        }
        // The next request's body (if it is still coming) is read from now on.
        lastRead = now
        if exchanges.isEmpty {
            if let held {
                phase = .lingering(since: now, until: nil)
                return .reject(held)
            }
            phase = .waiting(since: now, headStarted: false, keepAlive: true)
        }
        return .keepOpen
    }

    /// The connection wrote a rejection itself and now closes.
    mutating func rejected(now: NIODeadline) {
        phase = .lingering(since: now, until: nil)
    }

    /// Everything written has been sent and the output shut: the linger begins.
    mutating func outputClosed(now: NIODeadline) {
        if case .lingering(let since, nil) = phase { phase = .lingering(since: since, until: now + Self.linger) }
    }

    mutating func writabilityChanged(writable: Bool, now: NIODeadline) {
        blockedSince = writable ? nil : (blockedSince ?? now)
    }

    /// Graceful shutdown: a busy connection closes after its current response, an idle one after
    /// its next (answered with `Connection: close`), or `quiesceGrace` from now if none comes. A
    /// client may already have sent that request: it was accepted (a new connection) or it is
    /// reusing a kept-alive one, and closing a socket with unread bytes resets it (the client
    /// would see an error it cannot tell from a crash; a worker handover must lose no request).
    mutating func quiesce(now: NIODeadline) {
        if quiescedAt == nil { quiescedAt = now }
    }

    // MARK: Time

    /// The earliest moment something is due, if any.
    var deadline: NIODeadline? {
        var phaseDeadline: NIODeadline? = nil
        switch phase {
        case .waiting(let since, let headStarted, let keepAlive):
            phaseDeadline = since + .milliseconds(Int64(keepAlive && !headStarted ? limits.idleTimeoutMs : limits.headerTimeoutMs))
            if keepAlive && !headStarted, let quiescedAt, let idle = phaseDeadline { phaseDeadline = min(idle, quiescedAt + Self.quiesceGrace) }
        case .open:
            if readingFirstBody { phaseDeadline = lastRead + .milliseconds(Int64(limits.bodyTimeoutMs)) }
        case .lingering(let since, let until):
            phaseDeadline = until ?? since + .milliseconds(Int64(limits.sendTimeoutMs))
        case .closed:
            break
        }
        guard let blockedSince else { return phaseDeadline }
        let sendDeadline = blockedSince + .milliseconds(Int64(limits.sendTimeoutMs))
        return phaseDeadline.map { min($0, sendDeadline) } ?? sendDeadline
    }

    mutating func timeout(now: NIODeadline) -> TimeoutAction {
        if let blockedSince, now >= blockedSince + .milliseconds(Int64(limits.sendTimeoutMs)) {
            phase = .closed
            return .close(.send)
        }
        switch phase {
        case .waiting(let since, let headStarted, let keepAlive):
            if keepAlive && !headStarted {
                if let quiescedAt, now >= quiescedAt + Self.quiesceGrace {
                    phase = .closed
                    return .close(nil)  // shutdown, not a timeout
                }
                guard now >= since + .milliseconds(Int64(limits.idleTimeoutMs)) else { return .none }
                phase = .closed
                return .close(.idle)
            }
            guard now >= since + .milliseconds(Int64(limits.headerTimeoutMs)) else { return .none }
            guard headStarted else {  // a silent socket gets no answer
                phase = .closed
                return .close(.header)
            }
            return .reject(Rejection(status: .requestTimeout, detail: "The request head did not arrive within \(limits.headerTimeoutMs) ms"), .header)
        case .open:
            guard readingFirstBody, now >= lastRead + .milliseconds(Int64(limits.bodyTimeoutMs)) else { return .none }
            let answered = exchanges[0].responseStarted
            phase = .lingering(since: now, until: nil)
            return answered
                ? .close(.body)
                : .reject(Rejection(status: .requestTimeout, detail: "The request body stalled for \(limits.bodyTimeoutMs) ms"), .body)
        case .lingering(let since, let until):
            if let until {
                guard now >= until else { return .none }
                phase = .closed
                return .close(nil)
            }
            // The last response never left: the client stopped reading it.
            guard now >= since + .milliseconds(Int64(limits.sendTimeoutMs)) else { return .none }
            phase = .closed
            return .close(.send)
        case .closed:
            return .none
        }
    }

    /// The server is reading the first open request's body (later ones wait their turn, and a
    /// client waiting for `100 Continue` is not late).
    private var readingFirstBody: Bool {
        guard readPending, let first = exchanges.first, !first.requestComplete else { return false }
        return !first.expectsContinue || first.continueSent
    }

    // MARK: Rules

    /// An absolute-form target (`GET http://host/path`) as origin-form: its authority replaces
    /// any `Host` field, which the server must then ignore (RFC 9112 §3.2.2).
    static func originForm(_ head: HTTPRequestHead) -> HTTPRequestHead {
        guard !head.uri.hasPrefix("/"), let scheme = head.uri.firstRange(of: "://") else { return head }
        let rest = head.uri[scheme.upperBound...]
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var head = head
        head.headers.remove(name: "host")
        head.headers.add(name: "host", value: String(rest[..<end]))
        let target = rest[end...]
        head.uri = target.hasPrefix("/") ? String(target) : "/" + target
        return head
    }

    /// What the connection's rules read of a request's fields, in one pass over them (names
    /// compared as bytes, by their length first): a lookup by name (`headers["host"]`) walks every
    /// field and builds an array, and a head was looked up five times (2.1 % of the samples on
    /// `GET /hello-c`).
    struct HeadFields {
        var hostCount = 0
        /// The first Host value.
        var host: String? = nil
        /// Every `Expect` value, in order.
        var expectations: [String] = []
        /// Every `Transfer-Encoding` value, in order.
        var transferCodings: [String] = []
        /// The `Connection` options (every line of it).
        var connection = ConnectionOptions()
        /// Whether an `Upgrade` field is present.
        var hasUpgrade = false

        init(_ headers: HTTPHeaders) {
            for (name, value) in headers {
                switch name.utf8.count {
                case 4 where name.utf8.equalsIgnoringASCIICase("host".utf8):
                    hostCount += 1
                    host = host ?? value
                case 6 where name.utf8.equalsIgnoringASCIICase("expect".utf8):
                    expectations.append(value)
                case 7 where name.utf8.equalsIgnoringASCIICase("upgrade".utf8):
                    hasUpgrade = true
                case 10 where name.utf8.equalsIgnoringASCIICase("connection".utf8):
                    connection.add(value)
                case 17 where name.utf8.equalsIgnoringASCIICase("transfer-encoding".utf8):
                    transferCodings.append(value)
                default:
                    continue
                }
            }
        }
    }

    /// Why a head must be refused (RFC 9112 §3.2, RFC 9110 §10.1.1), or nil.
    static func problem(with head: HTTPRequestHead, _ fields: HeadFields? = nil) -> Rejection? {
        let fields = fields ?? HeadFields(head.headers)
        if fields.hostCount > 1 {
            return Rejection(status: .badRequest, detail: "A request must have one Host header field; this one has \(fields.hostCount)")
        }
        if head.version.minor >= 1 && fields.hostCount == 0 {
            return Rejection(status: .badRequest, detail: "An HTTP/1.1 request must have a Host header field")
        }
        if let host = fields.host, !isValidHost(host) {
            return Rejection(status: .badRequest, detail: "The Host header field is not a valid host[:port]")
        }
        if head.version.minor >= 1 {
            for value in fields.expectations where !value.utf8.trimmingHTTPSpace.equalsIgnoringASCIICase("100-continue".utf8) {
                return Rejection(status: .expectationFailed, detail: "Only the expectation 100-continue is supported")
            }
        }
        if head.method == .CONNECT {
            return Rejection(status: .notImplemented, detail: "CONNECT is not supported: this server is not a proxy")
        }
        if HTTPRequest.Method(head.method.rawValue) == nil {
            return Rejection(status: .badRequest, detail: "The request method is not a valid token")
        }
        // RFC 9112 §6.1: a transfer coding the server does not understand is 501.
        for value in fields.transferCodings {
            for coding in value.httpFieldParts(separatedBy: UInt8(ascii: ",")) where !coding.utf8.equalsIgnoringASCIICase("chunked".utf8) {
                return Rejection(status: .notImplemented, detail: "Transfer-Encoding \(coding) is not supported; send the body chunked or with a Content-Length")
            }
        }
        return nil
    }

    /// RFC 3986 `host [":" port]`: a reg-name, an IPv4 address or a bracketed IP literal; empty
    /// is allowed (RFC 9112 §3.2). Read as bytes, by index.
    static func isValidHost(_ value: String) -> Bool {
        if let valid = value.utf8.withContiguousStorageIfAvailable(isValidHost) { return valid }
        return Array(value.utf8).withUnsafeBufferPointer(isValidHost)
    }

    private static func isValidHost(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        let n = bytes.count
        if n > 0, bytes[0] == UInt8(ascii: "[") {
            i = 1
            var colons = false
            while i < n, bytes[i] != UInt8(ascii: "]") {
                let c = bytes[i]
                guard isHex(c) || c == UInt8(ascii: ":") || c == UInt8(ascii: ".") else { return false }
                if c == UInt8(ascii: ":") { colons = true }
                i += 1
            }
            guard i < n, i - 1 >= 2, colons else { return false }  // a closing bracket, two bytes or more, a colon
            i += 1
        } else {
            while i < n, bytes[i] != UInt8(ascii: ":") {
                let c = bytes[i]
                if c == UInt8(ascii: "%") {
                    // pct-encoded: exactly two hex digits
                    guard i + 2 < n, isHex(bytes[i + 1]), isHex(bytes[i + 2]) else { return false }
                    i += 3
                } else {
                    guard isUnreserved(c) || isSubDelim(c) else { return false }
                    i += 1
                }
            }
        }
        guard i < n else { return true }
        guard bytes[i] == UInt8(ascii: ":") else { return false }
        let port = n - i - 1
        guard port <= 5 else { return false }
        for j in (i + 1)..<n where !(bytes[j] >= UInt8(ascii: "0") && bytes[j] <= UInt8(ascii: "9")) { return false }
        return true
    }

    private static func isUnreserved(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7A) || (c >= 0x41 && c <= 0x5A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x2E || c == 0x5F || c == 0x7E
    }
    private static func isSubDelim(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&")...UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="): true
        default: false
        }
    }
    private static func isHex(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) }

    /// The `Connection` options that matter here (RFC 9110 §7.6.1), from every such field.
    struct ConnectionOptions {
        var close = false, keepAlive = false, upgrade = false

        /// Reads one `Connection` line's tokens, as bytes without ASCII case (RFC 9110 §7.6.1).
        mutating func add(_ value: String) {
            for token in value.httpFieldParts(separatedBy: UInt8(ascii: ",")) {
                if token.utf8.equalsIgnoringASCIICase("close".utf8) {
                    close = true
                } else if token.utf8.equalsIgnoringASCIICase("keep-alive".utf8) {
                    keepAlive = true
                } else if token.utf8.equalsIgnoringASCIICase("upgrade".utf8) {
                    upgrade = true
                }
            }
        }
    }

    /// Whether a response with this status has content (RFC 9110 §6.4.1, §15.3.5, §15.4.5).
    static func hasContent(_ status: HTTPResponse.Status) -> Bool {
        !(status.code < 200 || status.code == 204 || status.code == 304)
    }
}
