import SwitchboardCore

extension Substring {
    /// Decodes `%XX` escapes (RFC 3986 §2.1), as a path segment is: `nil` when an escape is
    /// malformed or the result is not UTF-8. `+` is itself; a query string's rule is
    /// `formDecoded`.
    public func percentDecoded() -> String? {
        let utf8 = self.utf8
        if !utf8.contains(UInt8(ascii: "%")) { return String(self) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var i = utf8.startIndex
        while i != utf8.endIndex {
            let c = utf8[i]
            if c == UInt8(ascii: "%") {
                let h = utf8.index(after: i)
                guard h != utf8.endIndex, let hi = hexValue(utf8[h]) else { return nil }
                let l = utf8.index(after: h)
                guard l != utf8.endIndex, let lo = hexValue(utf8[l]) else { return nil }
                bytes.append(hi << 4 | lo)
                i = utf8.index(after: l)
            } else {
                bytes.append(c)
                i = utf8.index(after: i)
            }
        }
        return bytes.withUnsafeBytes { String(utf8Bytes: $0) }
    }

    /// Decodes as an `application/x-www-form-urlencoded` name or value is (WHATWG URL §5.1, the
    /// rule Starlette applies through Python's `unquote_plus(errors="replace")`): `+` is a space,
    /// each `%XX` is that byte, a `%` not followed by two hex digits is kept as sent, and bytes
    /// that are not UTF-8 become U+FFFD. Never fails: a query string is read, not refused.
    public func formDecoded() -> String {
        let utf8 = self.utf8
        if !utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) { return String(self) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var i = utf8.startIndex
        while i != utf8.endIndex {
            let c = utf8[i]
            i = utf8.index(after: i)
            switch c {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                // Two hex digits follow: the escape's byte. Otherwise the `%` itself, and what
                // follows is read as it comes.
                if i != utf8.endIndex, let hi = hexValue(utf8[i]) {
                    let l = utf8.index(after: i)
                    if l != utf8.endIndex, let lo = hexValue(utf8[l]) {
                        bytes.append(hi << 4 | lo)
                        i = utf8.index(after: l)
                        continue
                    }
                }
                bytes.append(c)
            default:
                bytes.append(c)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The request target's path, as sent (RFC 3986 §2.1 percent-encoding).
public enum RequestPath {
    /// Why `path` cannot name a resource, or nil when it can: a `%` not followed by two hex
    /// digits, escapes that decode to bytes that are not UTF-8, or an escaped NUL (`%00`, which a
    /// C plugin would read as the end of the string). nginx answers 400 for the same paths; the
    /// host does too, before routing, so no route sees a path it cannot decode.
    public static func problem(_ path: Substring) -> String? {
        guard path.utf8.contains(UInt8(ascii: "%")) else { return nil }
        guard let decoded = path.percentDecoded() else {
            return "The request path is not valid: a '%' must be followed by two hex digits, and the escapes must decode to UTF-8"
        }
        if decoded.utf8.contains(0) { return "The request path is not valid: it contains an escaped NUL (%00)" }
        return nil
    }
}

private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}

/// A query string split into its `name=value` pairs, still percent-encoded, in order.
public enum QueryString {
    /// The pairs of `query` (without `?`), split at `&` and at each pair's first `=`, still
    /// percent-encoded; a pair without `=` has an empty value, and empty pairs are dropped.
    public static func items(_ query: Substring) -> [(name: Substring, value: Substring)] {
        var items: [(name: Substring, value: Substring)] = []
        var rest = query
        // Split as bytes: `&` and `=` are ASCII, so their indices are boundaries of `query`.
        while !rest.isEmpty {
            let end = rest.utf8.firstIndex(of: UInt8(ascii: "&")) ?? rest.endIndex
            let pair = rest[..<end]
            if !pair.isEmpty {
                if let eq = pair.utf8.firstIndex(of: UInt8(ascii: "=")) {
                    items.append((pair[..<eq], pair[pair.utf8.index(after: eq)...]))
                } else {
                    items.append((pair, ""))
                }
            }
            rest = end == rest.endIndex ? "" : rest[rest.utf8.index(after: end)...]
        }
        return items
    }

    /// Whether the pair name `raw` (as sent) decodes to `name` (`Substring.formDecoded`).
    /// Compared as UTF-8 bytes, code point by code point, as Starlette compares them; a name sent
    /// without escapes is compared without decoding.
    public static func name(_ raw: Substring, is name: String) -> Bool {
        var name = name
        return name.withUTF8 { Self.name(raw, isUTF8: UnsafeRawBufferPointer($0)) }
    }

    /// Whether the pair name `raw` (as sent) decodes to the UTF-8 bytes `name` (borrowed for the
    /// call): `name(_:is:)` for a name a plugin passes as (pointer, length), compared without
    /// making a `String` of it. Bytes that are not UTF-8 match no name.
    public static func name(_ raw: Substring, isUTF8 name: UnsafeRawBufferPointer) -> Bool {
        let utf8 = raw.utf8
        if !utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) { return raw.hasSameCodePoints(asUTF8: name) }
        return raw.formDecoded().hasSameCodePoints(asUTF8: name)
    }

    /// The decoded value of the `index`-th pair (0 is the first) whose name decodes to the UTF-8
    /// bytes `name`, borrowed for the call (`request_query_param`), or nil; only that value is
    /// decoded. A negative `index` finds nothing.
    public static func value(_ items: [(name: Substring, value: Substring)], namedUTF8 name: UnsafeRawBufferPointer, at index: Int) -> String? {
        // By index: each pair is read in place, not copied out (through the tuple's generic
        // value witnesses) to be tested, as `lastValue` reads them.
        var seen = 0
        for i in items.indices where Self.name(items[i].name, isUTF8: name) {
            if seen == index { return items[i].value.formDecoded() }
            seen += 1
        }
        return nil
    }

    /// The decoded value of the last pair called `name` (FastAPI reads a repeated parameter's
    /// last), or nil; only that value is decoded.
    public static func lastValue(_ items: [(name: Substring, value: Substring)], named name: String) -> String? {
        // By index, from the end: each pair is read in place, not copied out to be tested.
        for i in items.indices.reversed() where Self.name(items[i].name, is: name) { return items[i].value.formDecoded() }
        return nil
    }

}
