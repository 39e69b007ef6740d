import class SwitchboardCore.Locked
import CSwitchboard
import Dispatch
import SwitchboardRouting
import SwitchboardSDK
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One request in the test host: the `sb_request` handle, and its `sb_stream` once streaming.
/// Strings lent to the plugin live until the exchange is freed (after the test read the response).
final class TestExchange: @unchecked Sendable {  // mutable state is Locked; the rest is immutable
    let host: TestHost
    let route: RouteDeclaration
    let method: String
    let path: String
    let query: String
    let rawParameters: [Substring]
    let queryItems: [(name: Substring, value: Substring)]
    let headers: [(String, String)]
    let body: [UInt8]
    let values: [ParameterValue?]

    private struct State: @unchecked Sendable {  // only accessed under its Locked
        var lent: [UnsafeMutablePointer<CChar>] = []
        var responseHeaders: [(name: String, value: String)] = []
        var status: Int? = nil
        var bodyOut: [UInt8] = []
        var streaming = false
        var complete = false
        var closeCallback: (sb_stream_event_fn, UnsafeMutableRawPointer?)? = nil
        var waiter: CheckedContinuation<Bool, Never>? = nil
        var negotiated = false
    }
    private let state = Locked(State())
    /// Kept alive by the plugin's handle until the response completes.
    private var selfReference: Unmanaged<TestExchange>? = nil

    init(
        host: TestHost, route: RouteDeclaration, method: String, path: String, query: String, rawParameters: [Substring],
        queryItems: [(name: Substring, value: Substring)], headers: [(String, String)], body: [UInt8], values: [ParameterValue?]
    ) {
        self.host = host
        self.route = route
        self.method = method
        self.path = path
        self.query = query
        self.rawParameters = rawParameters
        self.queryItems = queryItems
        self.headers = headers
        self.body = body
        self.values = values
        selfReference = Unmanaged.passRetained(self)
    }

    deinit {
        state.withLock { s in for p in s.lent { free(p) } }
    }

    var handle: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }

    static func from(_ handle: OpaquePointer?) -> TestExchange? {
        handle.map { Unmanaged<TestExchange>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
    }

    /// A NUL-terminated copy that lives as long as the exchange.
    func lend(_ text: String) -> sb_str {
        let copy = strdup(text)!
        state.withLock { $0.lent.append(copy) }
        return sb_str(ptr: UnsafePointer(copy), len: strlen(copy))
    }

    func lend(bytes: [UInt8]) -> sb_bytes {
        let copy = malloc(max(bytes.count, 1))!.assumingMemoryBound(to: CChar.self)
        bytes.withUnsafeBytes { if let base = $0.baseAddress { UnsafeMutableRawPointer(copy).copyMemory(from: base, byteCount: bytes.count) } }
        state.withLock { $0.lent.append(copy) }
        return sb_bytes(ptr: UnsafeRawPointer(copy).assumingMemoryBound(to: UInt8.self), len: bytes.count)
    }

    var hasResponded: Bool { state.withLock { $0.status != nil } }

    func parameterValue(_ name: String) -> ParameterValue? {
        guard let i = route.metadata.parameters.firstIndex(where: { $0.name == name }) else { return nil }
        return values[i]
    }

    func queryParameter(_ name: String, index: Int) -> String? {
        let all = QueryString.values(queryItems, named: name)
        return index < all.count ? all[index] : nil
    }

    /// request_negotiate, by the host's rules (`ProactiveNegotiation`).
    func negotiate(offeredCount: Int, offered: (Int) -> UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<Int>) -> sb_status {
        let lines = headers.filter { $0.0.lowercased() == "accept" }.map(\.1)
        let outcome = Result { () throws(ProactiveNegotiation.OfferError) in
            try ProactiveNegotiation.choose(acceptLines: lines, offeredCount: offeredCount, offered: offered)
        }
        guard case .success(let index) = outcome else { return SB_ERR_INVALID_ARGUMENT }
        let open = state.withLock { s in
            guard s.status == nil else { return false }
            s.negotiated = true
            return true
        }
        guard open else { return SB_ERR_STATE }
        guard let index else { return SB_ERR_NOT_FOUND }
        out.pointee = index
        return SB_OK
    }

    static func varies(_ headers: [(name: String, value: String)], by name: String) -> Bool {
        headers.contains { field in
            field.name.lowercased() == "vary"
                && field.value.split(separator: ",").contains { let v = $0.trimmedHTTPSpace.lowercased(); return v == name || v == "*" }
        }
    }

    // MARK: Responding

    func addHeader(_ name: String, _ value: String) -> sb_status {
        guard !name.isEmpty, !value.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) else { return SB_ERR_INVALID_ARGUMENT }
        return state.withLock { s in
            guard s.status == nil else { return SB_ERR_STATE }
            s.responseHeaders.append((name, value))
            return SB_OK
        }
    }

    func respond(_ status: UInt16, body: [UInt8], stream: Bool) -> sb_status {
        guard (100...999).contains(status) else { return SB_ERR_INVALID_ARGUMENT }
        let result = state.withLock { s -> sb_status in
            guard s.status == nil else { return SB_ERR_STATE }
            s.status = Int(status)
            s.bodyOut = body
            if s.negotiated, !Self.varies(s.responseHeaders, by: "accept") { s.responseHeaders.append(("vary", "Accept")) }
            s.streaming = stream
            if s.responseHeaders.first(where: { $0.name.lowercased() == "content-type" }) == nil, !body.isEmpty || stream {
                s.responseHeaders.append(("content-type", "application/octet-stream"))
            }
            if !stream { s.complete = true }
            return SB_OK
        }
        if result == SB_OK && !stream { complete() }
        return result
    }

    func write(_ data: [UInt8]) -> sb_status {
        state.withLock { s in
            guard s.streaming, !s.complete else { return SB_ERR_CLOSED }
            s.bodyOut += data
            return SB_OK
        }
    }

    func onClose(_ cb: sb_stream_event_fn, _ user: UnsafeMutableRawPointer?) -> sb_status {
        state.withLock { s in
            guard s.streaming else { return SB_ERR_STATE }
            s.closeCallback = (cb, user)
            return SB_OK
        }
    }

    func finish() -> sb_status {
        let ok = state.withLock { s -> Bool in
            guard s.streaming, !s.complete else { return false }
            s.complete = true
            s.closeCallback = nil
            return true
        }
        guard ok else { return SB_ERR_STATE }
        complete()
        return SB_OK
    }

    /// The handler failed without responding: the plugin's handle is invalid from here.
    func abandon() {
        let reference = selfReference
        selfReference = nil
        reference?.release()
    }

    private func complete() {
        let waiter = state.withLock { s in
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: true)
        // The plugin's handle is invalid from here; the test still holds the exchange.
        let reference = selfReference
        selfReference = nil
        reference?.release()
    }

    /// The complete response, or nil when it did not complete in time (a stream is then told
    /// the client went away).
    func wait(timeout: Duration) async -> TestResponse? {
        let completed = await withCheckedContinuation { (waiter: CheckedContinuation<Bool, Never>) in
            let ready = state.withLock { s -> Bool in
                if s.complete { return true }
                s.waiter = waiter
                return false
            }
            if ready { return waiter.resume(returning: true) }
            let nanoseconds = Int(timeout.components.seconds) * 1_000_000_000 + Int(timeout.components.attoseconds / 1_000_000_000)
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [self] in
                let late = state.withLock { s in
                    defer { s.waiter = nil }
                    return s.waiter
                }
                late?.resume(returning: false)
            }
        }
        guard completed else {
            let close = state.withLock { s -> (sb_stream_event_fn, UnsafeMutableRawPointer?)? in
                defer { s.closeCallback = nil }
                return s.closeCallback
            }
            if let (cb, user) = close { cb(user, handle) }
            return nil
        }
        return state.withLock { s in TestResponse(status: s.status ?? 500, headers: s.responseHeaders, body: s.bodyOut) }
    }
}
