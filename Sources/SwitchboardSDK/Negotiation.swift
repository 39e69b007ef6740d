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
        var index = 0
        let status = offered.withSBStrs { list in api.request_negotiate(handle, list.baseAddress, list.count, &index) }
        switch status {
        case SB_OK: return index
        case SB_ERR_NOT_FOUND: throw HTTPError.notAcceptable(offered)
        default:
            app.log(.error, "request_negotiate failed with status \(status) for \(method) \(path): offered \(offered)")
            throw HTTPError(500, detail: "Internal Server Error")
        }
    }

    /// `negotiate(_:)` that hands back the value paired with the chosen type:
    ///
    ///     let format = try req.negotiate(["application/json": Format.json, "application/xml": .xml])
    public func negotiate<Choice>(_ offered: KeyValuePairs<String, Choice>) throws(HTTPError) -> Choice {
        offered[try negotiate(offered.map(\.key))].value
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

extension Array where Element == String {
    /// The strings as `sb_str`s borrowed for `body`.
    func withSBStrs<R>(_ body: (UnsafeBufferPointer<sb_str>) -> R) -> R {
        var bytes: [UInt8] = []
        var bounds: [Range<Int>] = []
        for text in self {
            let start = bytes.count
            bytes += text.utf8
            bounds.append(start..<bytes.count)
        }
        return bytes.withUnsafeBufferPointer { all in
            let base = UnsafeRawPointer(all.baseAddress)?.assumingMemoryBound(to: CChar.self)
            let list = bounds.map { range in sb_str(ptr: base.map { $0 + range.lowerBound }, len: range.count) }
            return list.withUnsafeBufferPointer(body)
        }
    }
}
