import SwitchboardCore

/// Proactive negotiation of a response's media type (RFC 9110 §12.1, §12.5.1 `Accept`): of the
/// media types a route can send, in its order of preference, which one a request asks for.
///
/// The rules, each from the RFC unless marked as this host's choice:
/// - An element is a media range (`type/subtype`, `type/*` or `*/*`) with parameters; `q` ends
///   the range's own parameters and everything after it is an extension, ignored. A quality is
///   `0` to `1` with at most three decimals; `q=0` means "not acceptable", also for `*/*`.
/// - An offered type's quality is the quality of the most specific element that matches it:
///   `type/subtype` over `type/*` over `*/*`, and among equal ranges the one with more matching
///   parameters (`text/html;level=1` over `text/html`). Equally specific elements: the first wins.
/// - Types, subtypes and parameter names are compared case-insensitively, parameter values
///   exactly (quoted or not: `"a"` equals `a`), except `charset`, whose values are names and
///   compared case-insensitively. An element with a parameter the offered type does not carry
///   does not match it (`text/plain;format=flowed` does not match `text/plain`), except
///   `charset`: an offered type without one is taken to be UTF-8 (the host's only text
///   encoding, and the only one JSON has, RFC 8259 §8.1), so `application/json; charset=utf-8`
///   matches `application/json`.
/// - The offered type with the highest quality above 0 is chosen. Among equal qualities, the type
///   the client named more specifically wins (this host's choice, as Express's `negotiator` and
///   Werkzeug make it: Edge's `text/html, application/xhtml+xml, image/jxr, */*` names HTML and
///   gets it, though `*/*` gives JSON the same quality); then the route's order.
/// - An element that does not parse (`text`, `*/json`, `q=2`, `q=0.1234`, an unterminated quoted
///   string) is ignored and the others still count. Two leniencies, as Express's `negotiator` and
///   Werkzeug have them, for a header Java sends by default (`text/html, image/gif, image/jpeg,
///   *; q=.2, */*; q=.2`): a quality may start with its point (`.2`), and a lone `*` is `*/*`.
/// - Bounds (this host's choice; RFC 9110 lets the server disregard the field): the first
///   `elementLimit` elements of the first `byteLimit` bytes count, and what follows is ignored
///   (an element cut by the byte limit with it). A request without `Accept`, or whose `Accept`
///   has no element that parses in those bounds, accepts any type, so it gets the route's first.
/// - The lines of a field are one list (RFC 9110 §5.3); a caller joins them with LF, which ends
///   an element wherever it falls, so an unterminated quoted string cannot swallow the next line.
public enum ProactiveNegotiation {
    /// How many elements of an `Accept` field count (browsers send 3 to 8); the rest are ignored.
    public static let elementLimit = 64
    /// How many bytes of an `Accept` field are read (browsers send under 200); the rest are ignored.
    public static let byteLimit = 8192
    /// The most media types a route may offer to one negotiation.
    public static let offerLimit = 64
    /// The most parameters one media range or offered type may carry (past it: malformed).
    public static let parameterLimit = 16

    /// Why an offered list was refused: the plugin's mistake, never the client's.
    /// A struct over a private code, so reasons can be added without breaking callers.
    public struct OfferError: Error, Hashable, Sendable, CustomStringConvertible {
        private enum Code: Hashable, Sendable {
            case count(Int)
            case malformed(index: Int)
        }
        private let code: Code

        /// No media types were offered, or more than `offerLimit` (`n` of them).
        public static func count(_ n: Int) -> OfferError { OfferError(code: .count(n)) }
        /// The offered type at `index` is not a `type/subtype` media type with parameters
        /// (wildcards and `q` are for requests, not for representations).
        public static func malformed(index: Int) -> OfferError { OfferError(code: .malformed(index: index)) }

        /// The mistake and the limit to respect, for the host's log.
        public var description: String {
            switch code {
            case .count(let n): "\(n) media types offered; offer 1 to \(ProactiveNegotiation.offerLimit)"
            case .malformed(let i): "offered type \(i) is not a media type (type/subtype, then ;name=value parameters; no wildcard, no q)"
            }
        }
    }

    /// The index of the offered type to send, or nil when none is acceptable (answer 406).
    ///
    /// - Parameters:
    ///   - accept: the request's `Accept` field, its lines joined with LF (RFC 9110 §5.3); nil
    ///     when the request has none. Borrowed for the call.
    ///   - offeredCount: how many types the route offers, 1 to `offerLimit`.
    ///   - offered: the offered type at an index, as UTF-8 bytes borrowed for the call.
    /// - Throws: `OfferError` for an offered list that is empty, too long or malformed.
    public static func choose(
        accept: UnsafeBufferPointer<UInt8>?, offeredCount: Int, offered: (Int) -> UnsafeBufferPointer<UInt8>
    ) throws(OfferError) -> Int? {
        guard (1...offerLimit).contains(offeredCount) else { throw .count(offeredCount) }
        // Nothing is stored: the field is read once to count its elements, then once per offer.
        // A field of a few hundred bytes read four times costs less than storing it, and the
        // bounds keep the worst case (64 offers of an 8 KiB field) near half a megabyte read.
        let accept = accept.map(bounded)
        let usable = accept.map(usableElements) ?? 0
        var chosen: Int? = nil
        var bestQuality = 0
        var bestSpecificity = -1
        for index in 0..<offeredCount {
            let bytes = offered(index)
            var cursor = MediaTypeCursor(bytes)
            guard let offer = cursor.mediaType(accept: false), offer.isConcrete(in: bytes), cursor.atEnd else {
                throw .malformed(index: index)
            }
            // No usable Accept: any type, so the route's first (every offer still checked).
            guard usable > 0, let header = accept else { continue }
            let (quality, specificity) = quality(of: offer, in: bytes, header: header)
            if quality > 0, (quality, specificity) > (bestQuality, bestSpecificity) {
                (bestQuality, bestSpecificity) = (quality, specificity)
                chosen = index
            }
        }
        return usable == 0 ? 0 : chosen
    }

    /// `choose(accept:offeredCount:offered:)` for a request's `Accept` field lines (empty: the
    /// request has none), joined with LF: the lines are one list (RFC 9110 §5.3), and LF ends an
    /// element, so an unterminated quoted string cannot run into the next line. The host's
    /// `request_negotiate` negotiates through this.
    public static func choose(
        acceptLines lines: [String], offeredCount: Int, offered: (Int) -> UnsafeBufferPointer<UInt8>
    ) throws(OfferError) -> Int? {
        guard !lines.isEmpty else { return try choose(accept: nil, offeredCount: offeredCount, offered: offered) }
        var accept = lines.count == 1 ? lines[0] : lines.joined(separator: "\n")
        // withUTF8 cannot rethrow a typed error: carry it out.
        let outcome: Result<Int?, OfferError> = accept.withUTF8 { header in
            Result { () throws(OfferError) in try choose(accept: header, offeredCount: offeredCount, offered: offered) }
        }
        return try outcome.get()
    }

    /// `choose(accept:offeredCount:offered:)` for Swift strings (tests, the SDK).
    public static func choose(accept: String?, offered: [String]) throws(OfferError) -> Int? {
        var joined: [UInt8] = []
        var bounds: [Range<Int>] = []
        for type in offered {
            let start = joined.count
            joined += type.utf8
            bounds.append(start..<joined.count)
        }
        let header = accept.map { Array($0.utf8) }
        let result: Result<Int?, OfferError> = joined.withUnsafeBufferPointer { all in
            func run(_ header: UnsafeBufferPointer<UInt8>?) -> Result<Int?, OfferError> {
                do throws(OfferError) {
                    return .success(try choose(accept: header, offeredCount: bounds.count) { UnsafeBufferPointer(rebasing: all[bounds[$0]]) })
                } catch {
                    return .failure(error)
                }
            }
            guard let header else { return run(nil) }
            return header.withUnsafeBufferPointer { run($0) }
        }
        return try result.get()
    }

    // MARK: Parsing

    /// A byte range in the buffer it was parsed from.
    struct Span {
        var start: Int
        var end: Int
    }

    /// A media range of `Accept`, or an offered media type.
    struct Element {
        var type: Span
        var subtype: Span
        /// From the end of the subtype to the end of the last parameter before any `q`: read
        /// again with `MediaTypeCursor.parameters`.
        var parameters: Span
        var parameterCount: Int
        /// Thousandths: 0 to 1000.
        var quality: Int

        func isConcrete(in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
            !MediaTypeCursor.isStar(type, bytes) && !MediaTypeCursor.isStar(subtype, bytes)
        }
    }

    /// The field up to `byteLimit` bytes, cut after the last whole element within them.
    static func bounded(_ header: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        guard header.count > byteLimit else { return header }
        var end = byteLimit
        while end > 0, header[end] != UInt8(ascii: ","), header[end] != 0x0A { end -= 1 }
        return UnsafeBufferPointer(rebasing: header[..<end])
    }

    /// How many of the first `elementLimit` elements of `header` parse.
    static func usableElements(_ header: UnsafeBufferPointer<UInt8>) -> Int {
        var cursor = MediaTypeCursor(header)
        var usable = 0
        while let element = cursor.nextElement() {
            if element != nil { usable += 1 }
        }
        return usable
    }

    /// The quality (thousandths) of `offer` by the most specific element matching it, and that
    /// element's specificity; (0, -1) when none matches.
    static func quality(of offer: Element, in offerBytes: UnsafeBufferPointer<UInt8>, header: UnsafeBufferPointer<UInt8>) -> (
        quality: Int, specificity: Int
    ) {
        var bestSpecificity = -1
        var quality = 0
        var cursor = MediaTypeCursor(header)
        while let parsed = cursor.nextElement() {
            guard let element = parsed else { continue }
            let level: Int
            if MediaTypeCursor.isStar(element.type, header) {
                level = 0
            } else if MediaTypeCursor.equalFolded(element.type, header, offer.type, offerBytes) {
                if MediaTypeCursor.isStar(element.subtype, header) {
                    level = 1
                } else if MediaTypeCursor.equalFolded(element.subtype, header, offer.subtype, offerBytes) {
                    level = 2
                } else {
                    continue
                }
            } else {
                continue
            }
            guard parametersMatch(element, header, offer: offer, offerBytes) else { continue }
            let specificity = level * 100 + element.parameterCount
            if specificity > bestSpecificity {
                bestSpecificity = specificity
                quality = element.quality
            }
        }
        return (quality, bestSpecificity)
    }

    /// Whether every parameter of `element` is carried by `offer` with an equal value.
    static func parametersMatch(
        _ element: Element, _ header: UnsafeBufferPointer<UInt8>, offer: Element, _ offerBytes: UnsafeBufferPointer<UInt8>
    ) -> Bool {
        guard element.parameterCount > 0 else { return true }
        var asked = MediaTypeCursor(header, from: element.parameters)
        while let (name, value) = asked.nextParameter() {
            let isCharset = MediaTypeCursor.equalFolded(name, header, "charset")
            var found = false
            var carried = MediaTypeCursor(offerBytes, from: offer.parameters)
            while let (offerName, offerValue) = carried.nextParameter() {
                guard MediaTypeCursor.equalFolded(name, header, offerName, offerBytes) else { continue }
                found = true
                guard MediaTypeCursor.valuesEqual(value, header, offerValue, offerBytes, folded: isCharset) else { return false }
                break
            }
            if !found {
                guard isCharset, MediaTypeCursor.valueEqualsFolded(value, header, "utf-8") else { return false }
            }
        }
        return true
    }
}

/// A reader over the bytes of a field value or a media type.
struct MediaTypeCursor {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    /// Where `nextParameter` stops.
    var end: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
        end = bytes.count
    }

    /// A cursor over one span of `bytes` (an element's parameters).
    init(_ bytes: UnsafeBufferPointer<UInt8>, from span: ProactiveNegotiation.Span) {
        self.bytes = bytes
        index = span.start
        end = span.end
    }

    var atEnd: Bool { index >= bytes.count }
    var atElementEnd: Bool { atEnd || bytes[index] == UInt8(ascii: ",") || bytes[index] == 0x0A }
    /// Elements read by `nextElement`, parsed or not.
    var elements = 0

    mutating func skipSpace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 }
    }

    mutating func skipSpaceAndCommas() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 || bytes[index] == UInt8(ascii: ",") || bytes[index] == 0x0A {
            index += 1
        }
    }

    /// Past the next comma that is not inside a quoted string, or the next LF (a line's end,
    /// which no quoted string spans), or to the end.
    mutating func skipElement() {
        var quoted = false
        while index < bytes.count {
            let c = bytes[index]
            index += 1
            if c == 0x0A { return }
            if quoted {
                if c == UInt8(ascii: "\\") { index += 1 } else if c == UInt8(ascii: "\"") { quoted = false }
            } else if c == UInt8(ascii: "\"") {
                quoted = true
            } else if c == UInt8(ascii: ",") {
                return
            }
        }
    }

    mutating func token() -> ProactiveNegotiation.Span? {
        let start = index
        while index < bytes.count, bytes[index].isHTTPTokenCharacter { index += 1 }
        return index > start ? .init(start: start, end: index) : nil
    }

    /// A quoted-string (RFC 9110 §5.6.4), quotes included. A byte it may not hold (a control
    /// character, LF above all) is left unread, so `skipElement` starts there.
    mutating func quotedString() -> ProactiveNegotiation.Span? {
        let start = index
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        index += 1
        func allowed(_ c: UInt8) -> Bool { c == 0x09 || (0x20...0x7E).contains(c) || c >= 0x80 }
        while index < bytes.count {
            let c = bytes[index]
            if c == UInt8(ascii: "\"") {
                index += 1
                return .init(start: start, end: index)
            }
            if c == UInt8(ascii: "\\") {
                guard index + 1 < bytes.count, allowed(bytes[index + 1]) else { return nil }
                index += 2
                continue
            }
            guard allowed(c) else { return nil }
            index += 1
        }
        return nil
    }

    mutating func expect(_ c: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == c else { return false }
        index += 1
        return true
    }

    /// The next element of a list: nil at the end of the field, `.some(nil)` for an element that
    /// does not parse (skipped, so the next call reads the one after it).
    /// After `elementLimit` elements it reports the end.
    mutating func nextElement() -> ProactiveNegotiation.Element?? {
        skipSpaceAndCommas()
        if atEnd || elements == ProactiveNegotiation.elementLimit { return nil }
        elements += 1
        if let element = mediaType(accept: true), atElementEnd { return .some(element) }
        skipElement()
        return .some(nil)
    }

    /// `type/subtype *( OWS ";" OWS [ parameter ] )`, leaving the cursor after the last parameter.
    /// With `accept`, a `q` parameter is read as the weight and ends the parameters (what follows
    /// is accept-ext, read and ignored). nil for anything malformed, wildcard rules included
    /// (`*/json`), or more than `parameterLimit` parameters.
    mutating func mediaType(accept: Bool) -> ProactiveNegotiation.Element? {
        skipSpace()
        guard let type = token() else { return nil }
        let subtype: ProactiveNegotiation.Span
        if expect(UInt8(ascii: "/")) {
            guard let token = token() else { return nil }
            subtype = token
        } else if accept, Self.isStar(type, bytes) {
            subtype = type  // a lone `*`, as Java sends it: `*/*`
        } else {
            return nil
        }
        if Self.isStar(type, bytes), !Self.isStar(subtype, bytes) { return nil }
        var element = ProactiveNegotiation.Element(
            type: type, subtype: subtype, parameters: .init(start: index, end: index), parameterCount: 0, quality: 1000)
        var inExtensions = false
        while true {
            skipSpace()
            if atElementEnd { return element }
            guard expect(UInt8(ascii: ";")) else { return nil }
            skipSpace()
            if atElementEnd || bytes[index] == UInt8(ascii: ";") { continue }
            guard let (name, value, quoted) = parameter() else { return nil }
            if inExtensions { continue }
            if Self.equalFolded(name, bytes, "q") {
                // In an offered type `q` is a mistake (the host's rule, not the grammar's).
                guard accept, !quoted, let quality = Self.quality(value, bytes) else { return nil }
                element.quality = quality
                inExtensions = true
                continue
            }
            guard element.parameterCount < ProactiveNegotiation.parameterLimit else { return nil }
            element.parameterCount += 1
            element.parameters.end = index
        }
    }

    /// `name "=" ( token / quoted-string )` at the cursor.
    mutating func parameter() -> (name: ProactiveNegotiation.Span, value: ProactiveNegotiation.Span, quoted: Bool)? {
        guard let name = token(), expect(UInt8(ascii: "=")) else { return nil }
        let quoted = index < bytes.count && bytes[index] == UInt8(ascii: "\"")
        guard let value = quoted ? quotedString() : token() else { return nil }
        return (name, value, quoted)
    }

    /// The next parameter of a span `mediaType` has already checked (`Element.parameters`).
    mutating func nextParameter() -> (name: ProactiveNegotiation.Span, value: ProactiveNegotiation.Span)? {
        while index < end {
            skipSpace()
            guard index < end, expect(UInt8(ascii: ";")) else { return nil }
            skipSpace()
            if index >= end || bytes[index] == UInt8(ascii: ";") { continue }
            guard let (name, value, _) = parameter() else { return nil }
            return (name, value)
        }
        return nil
    }

    /// qvalue (RFC 9110 §12.4.2) in thousandths: `0[.ddd]` or `1[.000]`, and `.ddd` (a leniency).
    static func quality(_ span: ProactiveNegotiation.Span, _ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        var i = span.start
        var value = 0
        guard i < span.end else { return nil }
        if bytes[i] == UInt8(ascii: "0") || bytes[i] == UInt8(ascii: "1") {
            value = Int(bytes[i] - UInt8(ascii: "0")) * 1000
            i += 1
            if i == span.end { return value }  // "0", "1"
        }
        // The point, then at most three decimals ("1." and "0." included; a lone "." not).
        guard bytes[i] == UInt8(ascii: "."), span.end - i <= 4, i > span.start || span.end - i > 1 else { return nil }
        i += 1
        var scale = 100
        while i < span.end {
            let digit = bytes[i]
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(digit) else { return nil }
            value += Int(digit - UInt8(ascii: "0")) * scale
            scale /= 10
            i += 1
        }
        return value <= 1000 ? value : nil
    }

    static func isStar(_ span: ProactiveNegotiation.Span, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        span.end - span.start == 1 && bytes[span.start] == UInt8(ascii: "*")
    }

    @inline(__always) static func folded(_ c: UInt8) -> UInt8 {
        c >= UInt8(ascii: "A") && c <= UInt8(ascii: "Z") ? c | 0x20 : c
    }

    static func equalFolded(
        _ a: ProactiveNegotiation.Span, _ aBytes: UnsafeBufferPointer<UInt8>, _ b: ProactiveNegotiation.Span,
        _ bBytes: UnsafeBufferPointer<UInt8>
    ) -> Bool {
        guard a.end - a.start == b.end - b.start else { return false }
        for i in 0..<(a.end - a.start) where folded(aBytes[a.start + i]) != folded(bBytes[b.start + i]) { return false }
        return true
    }

    /// Compares with lower-case ASCII `literal`.
    static func equalFolded(_ a: ProactiveNegotiation.Span, _ bytes: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        guard a.end - a.start == literal.utf8CodeUnitCount else { return false }
        let l = literal.utf8Start
        for i in 0..<literal.utf8CodeUnitCount where folded(bytes[a.start + i]) != l[i] { return false }
        return true
    }

    /// The bytes of a parameter value with its quotes and escapes taken away (RFC 9110 §5.6.4).
    struct ValueBytes: IteratorProtocol {
        let bytes: UnsafeBufferPointer<UInt8>
        var index: Int
        let end: Int

        init(_ span: ProactiveNegotiation.Span, _ bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
            let quoted = span.end - span.start >= 2 && bytes[span.start] == UInt8(ascii: "\"")
            index = quoted ? span.start + 1 : span.start
            end = quoted ? span.end - 1 : span.end
        }

        mutating func next() -> UInt8? {
            guard index < end else { return nil }
            var c = bytes[index]
            if c == UInt8(ascii: "\\"), index + 1 < end {
                index += 1
                c = bytes[index]
            }
            index += 1
            return c
        }
    }

    static func valuesEqual(
        _ a: ProactiveNegotiation.Span, _ aBytes: UnsafeBufferPointer<UInt8>, _ b: ProactiveNegotiation.Span,
        _ bBytes: UnsafeBufferPointer<UInt8>, folded fold: Bool
    ) -> Bool {
        var x = ValueBytes(a, aBytes)
        var y = ValueBytes(b, bBytes)
        while true {
            let (p, q) = (x.next(), y.next())
            guard let p, let q else { return p == nil && q == nil }
            if fold ? folded(p) != folded(q) : p != q { return false }
        }
    }

    static func valueEqualsFolded(_ a: ProactiveNegotiation.Span, _ bytes: UnsafeBufferPointer<UInt8>, _ literal: StaticString) -> Bool {
        var x = ValueBytes(a, bytes)
        let l = literal.utf8Start
        for i in 0..<literal.utf8CodeUnitCount {
            guard let p = x.next(), folded(p) == l[i] else { return false }
        }
        return x.next() == nil
    }
}
