extension Substring {
    /// Decodes `%XX` escapes; `nil` when an escape is malformed or the result is not UTF-8.
    /// `plusIsSpace` applies the form-encoding rule used in query strings.
    public func percentDecoded(plusIsSpace: Bool = false) -> String? {
        let utf8 = self.utf8
        if !utf8.contains(UInt8(ascii: "%")) && !(plusIsSpace && utf8.contains(UInt8(ascii: "+"))) {
            return String(self)
        }
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
                bytes.append(plusIsSpace && c == UInt8(ascii: "+") ? UInt8(ascii: " ") : c)
                i = utf8.index(after: i)
            }
        }
        return String(validating: bytes, as: UTF8.self)
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

    /// Whether the pair name `raw` (as sent) decodes to `name` (form encoding: `+` is a space; a
    /// malformed escape is kept as sent). Compared as UTF-8 bytes, code point by code point, as
    /// Starlette compares them; a name sent without escapes is compared without decoding.
    public static func name(_ raw: Substring, is name: String) -> Bool {
        let utf8 = raw.utf8
        if !utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) { return utf8.elementsEqual(name.utf8) }
        return (raw.percentDecoded(plusIsSpace: true) ?? String(raw)).utf8.elementsEqual(name.utf8)
    }

    /// The decoded values of every pair called `name`, in order (form encoding: `+` is a space).
    /// A malformed escape is kept as sent.
    public static func values(_ items: [(name: Substring, value: Substring)], named name: String) -> [String] {
        items.compactMap { item in Self.name(item.name, is: name) ? decodedValue(item.value) : nil }
    }

    /// The decoded value of the `index`-th pair called `name` (0 is the first), or nil; only
    /// that value is decoded (`request_query_param`).
    public static func value(_ items: [(name: Substring, value: Substring)], named name: String, at index: Int) -> String? {
        var seen = 0
        for item in items where Self.name(item.name, is: name) {
            if seen == index { return decodedValue(item.value) }
            seen += 1
        }
        return nil
    }

    /// The decoded value of the last pair called `name` (FastAPI reads a repeated parameter's
    /// last), or nil; only that value is decoded.
    public static func lastValue(_ items: [(name: Substring, value: Substring)], named name: String) -> String? {
        items.last { Self.name($0.name, is: name) }.map { decodedValue($0.value) }
    }

    /// A value as sent, decoded (`+` is a space); with a malformed escape, kept whole as sent.
    private static func decodedValue(_ raw: Substring) -> String {
        raw.percentDecoded(plusIsSpace: true) ?? String(raw)
    }
}
