/// Escaping for text placed inside JSON strings, HTML and XML.
public enum JSON {
    /// A JSON string literal for `text`, with the escapes RFC 8259 requires (`JSONWriter`'s).
    public static func quote(_ text: String) -> String {
        var writer = JSONWriter(capacity: text.utf8.count + 8)  // the quotes and the writer's reserve
        writer.string(text)
        return String(decoding: writer.takeBytes(), as: UTF8.self)
    }
}

/// Escaping for HTML element content and attribute values.
public enum HTML {
    /// Text safe in HTML element content and in quoted attribute values.
    public static func escape(_ text: String) -> String { markupEscape(text, apostrophe: "&#39;", xmlOnly: false) }
}

/// Escaping for XML 1.0 character data and attribute values.
public enum XML {
    /// Text safe in XML character data and quoted attributes. Characters XML 1.0 forbids
    /// (most C0 controls, U+FFFE, U+FFFF) are dropped, since no escape can carry them.
    public static func escape(_ text: String) -> String { markupEscape(text, apostrophe: "&apos;", xmlOnly: true) }
}

private func markupEscape(_ text: String, apostrophe: String, xmlOnly: Bool) -> String {
    var out = ""
    out.reserveCapacity(text.utf8.count)
    for scalar in text.unicodeScalars {
        switch scalar {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += apostrophe
        case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
        case _ where xmlOnly && (scalar.value < 0x20 || scalar.value == 0xFFFE || scalar.value == 0xFFFF): continue
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out
}

extension Sequence<UInt8> {
    /// The bytes as lowercase hexadecimal, two digits each (`[0x0f, 0xa0]` → `"0fa0"`): how digests
    /// are written (the host's SHA-256 version names, the chapter's MD5 ETags).
    public var lowercaseHex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
