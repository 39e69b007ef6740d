#if canImport(Glibc)
import Glibc
#endif

/// Conditional requests (RFC 9110 §13): what a response's validators say about a request's
/// preconditions. The host's file responses and plugins answer with the same rules.
///
///     let validators = Validators(etag: ETagList.strong(hex), lastModified: seconds)
///     switch validators.evaluate(req) {
///     case .notModified: return validators.notModified()
///     case .preconditionFailed: throw HTTPError(412, detail: "Precondition Failed")
///     case .proceed: break
///     }
public struct Validators: Sendable {
    /// The entity tag, quoted (`"abc"` or `W/"abc"`); nil when the resource has none.
    public var etag: String?
    /// Last modification, in seconds since the epoch; nil when unknown.
    public var lastModified: Int?
    /// Whether the resource exists (`If-Match: *` needs a current representation).
    public var exists: Bool

    /// Validators for one resource: `etag` as the ETag field carries it (`ETagList.strong`),
    /// `lastModified` in seconds since the Unix epoch, `exists` false for an absent resource (then
    /// `If-Match: *` fails and `If-None-Match: *` holds).
    public init(etag: String? = nil, lastModified: Int? = nil, exists: Bool = true) {
        self.etag = etag
        self.lastModified = lastModified
        self.exists = exists
    }

    /// What `evaluate` tells the caller to do with the request.
    public enum Outcome: Sendable, Equatable {
        /// Go on: answer as if the request had no preconditions.
        case proceed
        /// 304: the client's copy is current (GET and HEAD only).
        case notModified
        /// 412: a precondition of a state-changing request (or If-Match on a read) failed.
        case preconditionFailed
    }

    /// Evaluates the preconditions in RFC 9110 §13.2.2's order: If-Match, else
    /// If-Unmodified-Since; then If-None-Match, else If-Modified-Since (GET and HEAD only). A date
    /// that does not parse is ignored, as the RFC requires.
    public func evaluate(method: String, header: (String) -> String?) -> Outcome {
        let read = method == "GET" || method == "HEAD"
        if let ifMatch = header("if-match") {
            guard exists, ETagList.matchesStrongly(ifMatch, etag) else { return .preconditionFailed }
        } else if let value = header("if-unmodified-since"), let since = HTTPDate.parse(value), let lastModified {
            if lastModified > since { return .preconditionFailed }
        }
        if let ifNoneMatch = header("if-none-match") {
            if exists, ETagList.matchesWeakly(ifNoneMatch, etag) { return read ? .notModified : .preconditionFailed }
        } else if read, let value = header("if-modified-since"), let since = HTTPDate.parse(value), let lastModified {
            if lastModified <= since { return .notModified }
        }
        return .proceed
    }

    /// The headers a 200 carries for these validators: `ETag` and `Last-Modified`.
    /// Made with room for one field more (a caller's Content-Type) in the same allocation.
    public var headers: [(name: String, value: String)] {
        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(3)
        if let etag { fields.append(("etag", etag)) }
        if let lastModified { fields.append(("last-modified", HTTPDate.format(lastModified))) }
        return fields
    }
}

/// Entity tags in conditional headers (RFC 9110 §8.8.3, §13.1). Tags compare character by
/// character (§8.8.3.2), as bytes: not by `String ==`, whose canonical equivalence would call
/// `"e\u{301}"` and `"\u{E9}"` the same tag.
public enum ETagList {
    /// `If-None-Match`: `*`, or a comma-separated list of tags, compared weakly (`W/"a"` matches
    /// `"a"`).
    public static func matchesWeakly(_ header: String, _ etag: String?) -> Bool {
        let value = header.trimmedHTTPSpace
        if value == "*" { return true }
        guard let etag else { return false }
        let ours = opaque(etag)
        return tags(value).contains { opaque($0).hasSameCodePoints(as: ours) }
    }

    /// `If-Match`: `*`, or a list of tags compared strongly (a weak tag never matches).
    public static func matchesStrongly(_ header: String, _ etag: String?) -> Bool {
        let value = header.trimmedHTTPSpace
        if value == "*" { return true }
        guard let etag, !etag.hasBytePrefix("W/") else { return false }
        return tags(value).contains { $0.hasSameCodePoints(as: etag) }
    }

    /// A strong tag for `opaque` (which must hold no `"`): `"opaque"`.
    public static func strong(_ opaque: String) -> String { "\"\(opaque)\"" }

    /// The tags of a list, read as bytes. A quoted tag runs to its closing quote, so a comma
    /// inside it (an `etagc`, §8.8.3) is part of it; anything after it up to the next comma is
    /// ignored. A bare token (`abc123`, as clients copy an unquoted tag) is read as the quoted tag
    /// it stands for.
    private static func tags(_ list: String) -> [String] {
        let bytes = Array(list.utf8)
        let comma = UInt8(ascii: ","), quote = UInt8(ascii: "\"")
        var tags: [String] = []
        var i = 0
        while i < bytes.count {
            while i < bytes.count, bytes[i] == comma || bytes[i] == 0x20 || bytes[i] == 0x09 { i += 1 }
            guard i < bytes.count else { break }
            let start = i
            let weak = bytes[i...].starts(with: "W/".utf8)
            let opening = weak ? i + 2 : i
            if opening < bytes.count, bytes[opening] == quote {
                var close = opening + 1
                while close < bytes.count, bytes[close] != quote { close += 1 }
                let end = min(close + 1, bytes.count)
                tags.append(String(decoding: bytes[start..<end], as: UTF8.self))
                i = bytes[end...].firstIndex(of: comma) ?? bytes.count
            } else {
                let end = bytes[i...].firstIndex(of: comma) ?? bytes.count
                let token = String(decoding: bytes[start..<end].trimmingHTTPSpace, as: UTF8.self)
                tags.append(weak ? token : "\"\(token)\"")
                i = end
            }
        }
        return tags
    }

    /// The tag without a `W/` prefix.
    private static func opaque(_ tag: String) -> String { tag.hasBytePrefix("W/") ? String(Substring(tag.utf8.dropFirst(2))) : tag }
}

/// HTTP-date (RFC 9110 §5.6.7): IMF-fixdate out; IMF-fixdate, RFC 850 and asctime in.
public enum HTTPDate {
    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `Sun, 06 Nov 1994 08:49:37 GMT` for seconds since the epoch.
    public static func format(_ seconds: Int) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }

    /// The current time, as an HTTP-date's seconds.
    public static var now: Int { Int(time(nil)) }

    /// Seconds since the epoch, or nil for anything that is not an HTTP-date.
    public static func parse(_ text: String) -> Int? {
        let words = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        var day: Int?, month: Int?, year: Int?, clock: String?
        if words.count == 6, words[5] == "GMT" {  // Sun, 06 Nov 1994 08:49:37 GMT
            (day, month, year, clock) = (Int(words[1]), months.firstIndex(of: words[2]), Int(words[3]), words[4])
        } else if words.count == 4, words[3] == "GMT" {  // Sunday, 06-Nov-94 08:49:37 GMT
            let dmy = words[1].split(separator: "-").map(String.init)
            guard dmy.count == 3, let yy = Int(dmy[2]) else { return nil }
            (day, month, year, clock) = (Int(dmy[0]), months.firstIndex(of: dmy[1]), yy < 70 ? 2000 + yy : 1900 + yy, words[2])
        } else if words.count == 5 {  // Sun Nov  6 08:49:37 1994
            (day, month, year, clock) = (Int(words[2]), months.firstIndex(of: words[1]), Int(words[4]), words[3])
        }
        guard let day, let month, let year, let clock else { return nil }
        let hms = clock.split(separator: ":").compactMap { Int($0) }
        guard hms.count == 3, (1...31).contains(day), (0...23).contains(hms[0]), (0...59).contains(hms[1]), (0...60).contains(hms[2]) else { return nil }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hms[0])
        parts.tm_min = Int32(hms[1])
        parts.tm_sec = Int32(hms[2])
        return Int(timegm(&parts))
    }
}

extension UInt8 {
    /// This byte with an ASCII capital letter made small; any other byte as it is.
    @inlinable public var lowercasedASCII: UInt8 { self >= 0x41 && self <= 0x5A ? self | 0x20 : self }

    /// Whether this byte may appear in a token (a field name, a method, a media type's type):
    /// RFC 9110 §5.6.2 tchar.
    @inlinable public var isHTTPTokenCharacter: Bool {
        switch self {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
            UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            return true
        default:
            return false
        }
    }
}

extension Collection<UInt8> {
    /// Whether these bytes are a token (RFC 9110 §5.6.2): one or more tchar, as a field name is
    /// (§5.1).
    @inlinable public var isHTTPToken: Bool { !isEmpty && allSatisfy(\.isHTTPTokenCharacter) }

    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace, RFC 9110 §5.6.3);
    /// a slice of the same bytes, nothing copied.
    @inlinable public var trimmingHTTPSpace: SubSequence {
        guard let start = firstIndex(where: { $0 != 0x20 && $0 != 0x09 }) else { return self[endIndex...] }
        var end = start
        var i = start
        while i != endIndex {
            if self[i] != 0x20 && self[i] != 0x09 { end = i }
            formIndex(after: &i)
        }
        return self[start...end]
    }

    /// Equal to `lowercase` (ASCII lower case) when ASCII letters are compared without case, as
    /// HTTP compares tokens (RFC 9110 §5.1, §8.3.1); nothing copied.
    @inlinable public func equalsIgnoringASCIICase(_ lowercase: some Collection<UInt8>) -> Bool {
        count == lowercase.count && zip(self, lowercase).allSatisfy { a, b in a.lowercasedASCII == b }
    }

    /// Equal to `other` when ASCII letters on both sides are compared without case; nothing
    /// copied. Other bytes compare as they are (no Unicode case rules).
    @inlinable public func equalsFoldingASCIICase(_ other: some Collection<UInt8>) -> Bool {
        count == other.count && zip(self, other).allSatisfy { a, b in a.lowercasedASCII == b.lowercasedASCII }
    }

    /// Starts with `lowercase` (ASCII lower case), comparing ASCII letters without case.
    @inlinable public func hasPrefixIgnoringASCIICase(_ lowercase: some Collection<UInt8>) -> Bool {
        count >= lowercase.count && prefix(lowercase.count).equalsIgnoringASCIICase(lowercase)
    }

    /// Ends with `lowercase` (ASCII lower case), comparing ASCII letters without case.
    @inlinable public func hasSuffixIgnoringASCIICase(_ lowercase: some Collection<UInt8>) -> Bool {
        count >= lowercase.count && dropFirst(count - lowercase.count).equalsIgnoringASCIICase(lowercase)
    }
}

extension Substring {
    /// The parts between `separator` bytes of an HTTP field value (`,` between list elements,
    /// RFC 9110 §5.6.1; `;` before parameters, §5.6.6), each without surrounding spaces and tabs,
    /// empty ones dropped; slices of `self`, nothing copied. For lists of tokens only: a quoted
    /// string is split at a separator inside it (an entity-tag list needs `ETagList`'s scan). Split as bytes, not as Characters: a
    /// combining mark after a delimiter makes one Character of the two and would hide it.
    public func httpFieldParts(separatedBy separator: UInt8) -> [Substring] {
        var parts: [Substring] = []
        for part in utf8.split(separator: separator) {
            let trimmed = part.trimmingHTTPSpace
            if !trimmed.isEmpty { parts.append(Substring(trimmed)) }
        }
        return parts
    }
}

extension String {
    /// `Substring.httpFieldParts(separatedBy:)` of the whole string.
    public func httpFieldParts(separatedBy separator: UInt8) -> [Substring] { self[...].httpFieldParts(separatedBy: separator) }
}

extension StringProtocol {
    /// Whether the first bytes are `prefix`'s: `hasPrefix` compares Characters, so `"\"\u{301}x"`
    /// would not start with `"\""` for it.
    @inlinable public func hasBytePrefix(_ prefix: some StringProtocol) -> Bool { utf8.starts(with: prefix.utf8) }

    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace, RFC 9110 §5.6.3).
    public var trimmedHTTPSpace: String {
        // Only ASCII bytes are cut, so the rest is still whole UTF-8.
        String(decoding: utf8.trimmingHTTPSpace, as: UTF8.self)
    }
}
