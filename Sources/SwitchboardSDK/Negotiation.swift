import CSwitchboard

extension Request {
    /// Proactive negotiation (RFC 9110 §12.5.1) by the host: which of `offered` media types, in
    /// the route's order of preference, the request's `Accept` asks for. The host's rules are in
    /// switchboard.h (`request_negotiate`): q-values with `q=0` excluding, the most specific range
    /// deciding, ties to the route's order, no `Accept` meaning the first. The response, whatever
    /// it is (406 and 304 included), carries `Vary: Accept`.
    ///
    ///     switch try req.negotiate(["application/json", "text/html; charset=utf-8"]) {
    ///     case 0: return try .json(resource)
    ///     default: return .html(page)
    ///     }
    ///
    /// - Parameter offered: 1 to 64 media types, `type/subtype` with optional parameters.
    /// - Returns: the index into `offered` of the type to send.
    /// - Throws: `HTTPError.notAcceptable(offered)` (406) when none is acceptable; a 500 (logged)
    ///   when `offered` is empty, too long or malformed, or the response was already sent.
    public func negotiate(_ offered: [String]) throws(HTTPError) -> Int {
        try negotiate(Offers(offered.enumerated().map { (mediaType: $0.element, choice: $0.offset) }))
    }

    /// `negotiate(_:)` that hands back the value paired with the chosen type. Made once (a global
    /// `let`), the offers cost a request nothing to pass to the host; a literal works too, and is
    /// prepared on each call:
    ///
    ///     let formats: Offers<Format> = ["application/json": .json, "text/html; charset=utf-8": .html]
    ///     let format = try req.negotiate(formats)
    ///     let other = try req.negotiate(["application/json": Format.json, "application/xml": .xml])
    public func negotiate<Choice>(_ offers: Offers<Choice>) throws(HTTPError) -> Choice {
        var index = 0
        let status = api.request_negotiate(handle, offers.list, offers.choices.count, &index)
        switch status {
        case SB_OK: return offers.choices[index]
        case SB_ERR_NOT_FOUND: throw offers.notAcceptable
        default:
            app.log(.error, "request_negotiate failed with status \(status) for \(method) \(path): offered \(offers.mediaTypes)")
            throw HTTPError(500, detail: "Internal Server Error")
        }
    }
}

/// Media types a route offers, in its order of preference, each paired with the value
/// `Request.negotiate` hands back for it. Made once, at load (a global `let`): the types are kept
/// as the `sb_str` list the host reads, and the 406 body is written in advance.
///
/// Immutable after `init`; its buffers are freed when the last reference goes, which a route
/// holding it outlives.
public final class Offers<Choice: Sendable>: @unchecked Sendable, ExpressibleByDictionaryLiteral {  // immutable after init; its C buffers are only read
    /// The offered media types, in order of preference, as given.
    public let mediaTypes: [String]
    /// The value handed back for each type, at the same index.
    public let choices: [Choice]
    /// 406 with the types (`HTTPError.notAcceptable`).
    public let notAcceptable: HTTPError
    /// The types as the host reads them; points into `bytes`.
    let list: UnsafeMutablePointer<sb_str>
    private let bytes: UnsafeMutablePointer<UInt8>

    /// Offers in order of preference. The types are copied once into C buffers; the host checks
    /// them at each negotiation (1 to 64 of them, no wildcard, no `q`; otherwise a 500).
    public init(_ pairs: [(mediaType: String, choice: Choice)]) {
        mediaTypes = pairs.map(\.mediaType)
        choices = pairs.map(\.choice)
        notAcceptable = HTTPError.notAcceptable(mediaTypes)
        let total = mediaTypes.reduce(0) { $0 + $1.utf8.count }
        bytes = .allocate(capacity: max(total, 1))
        list = .allocate(capacity: max(pairs.count, 1))
        var offset = 0
        for (i, type) in mediaTypes.enumerated() {
            let start = bytes + offset
            for byte in type.utf8 {
                bytes[offset] = byte
                offset += 1
            }
            (list + i).initialize(to: sb_str(ptr: UnsafeRawPointer(start).assumingMemoryBound(to: CChar.self), len: type.utf8.count))
        }
    }

    /// Offers from a dictionary literal, in the literal's order (the first is preferred).
    public convenience init(dictionaryLiteral elements: (String, Choice)...) {
        self.init(elements.map { (mediaType: $0.0, choice: $0.1) })
    }

    deinit {
        list.deallocate()
        bytes.deallocate()
    }
}

extension HTTPError {
    /// 406 Not Acceptable: `{"detail":"Acceptable formats: a, b","available":["a","b"]}`, the
    /// chapter's detail plus the list a client can pick from (the bare types, parameters left
    /// out). The C kit's `sbk_respond_not_acceptable` writes the same body.
    public static func notAcceptable(_ offered: [String]) -> HTTPError {
        let types = offered.map { $0.split(separator: ";", maxSplits: 1).first.map { $0.trimmedHTTPSpace } ?? $0 }
        var body = "{\"detail\":" + JSON.quote("Acceptable formats: " + types.joined(separator: ", ")) + ",\"available\":["
        body += types.map(JSON.quote).joined(separator: ",")
        return HTTPError(406, json: body + "]}")
    }
}
