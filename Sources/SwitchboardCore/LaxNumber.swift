/// Numbers read from text as pydantic's lax mode reads them, for every place a number is declared
/// and a string arrives: path, query and header parameters, and JSON strings in a body.
///
/// The rules are pydantic's (2.x, `TypeAdapter(int | float).validate_python(str)`), which
/// `PluginKitTests.laxParsingMatchesPydantic` checks case by case: white space around the number
/// is ignored (Unicode's White_Space, scalar by scalar, so `"5\r\n"` is `5`); a `_` may sit
/// between two digits; no hexadecimal. Known differences, all in how pydantic combines `_` with
/// other characters: it refuses `" 1_0 "` as a float and `"5.0_0"` as an int, and takes
/// `"1_e5"` and `"1._5"` as floats, where these rules do the opposite; and an int is 64-bit here.
public enum LaxNumber {
    /// An integer: optional sign and decimal digits, or a float spelling whose fraction is all
    /// zeros (`"5.0"`, not `"5."`, `".0"` or `"1e3"`). Nil when `text` is not one, or it is
    /// outside `Int64`.
    public static func integer(_ text: String) -> Int64? {
        guard let digits = withoutSeparators(trimmed(text)) else { return nil }
        if let value = Int64(digits) { return value }
        guard let dot = digits.utf8.firstIndex(of: UInt8(ascii: ".")) else { return nil }
        let whole = digits[..<dot]
        let fraction = digits.utf8[digits.utf8.index(after: dot)...]
        guard !fraction.isEmpty, fraction.allSatisfy({ $0 == UInt8(ascii: "0") }) else { return nil }
        return Int64(whole)
    }

    /// A float: decimal or exponent notation (`"1e3"`, `".5"`, `"5."`), or `inf`, `infinity` and
    /// `nan` with an optional sign, in any ASCII case. Nil when `text` is not one.
    public static func float(_ text: String) -> Double? {
        let text = trimmed(text)
        // The words compare with ASCII letters folded, as Python's float() does.
        var word = text.utf8[...]
        let sign = word.first
        if sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { word = word.dropFirst() }
        if word.equalsIgnoringASCIICase("inf".utf8) || word.equalsIgnoringASCIICase("infinity".utf8) {
            return sign == UInt8(ascii: "-") ? -.infinity : .infinity
        }
        if word.equalsIgnoringASCIICase("nan".utf8) { return .nan }
        guard let cleaned = withoutSeparators(text),
            cleaned.utf8.allSatisfy({ isDigit($0) || "+-.eE".utf8.contains($0) }),
            cleaned.utf8.contains(where: isDigit)
        else { return nil }
        return Double(cleaned)
    }

    /// Without leading and trailing White_Space scalars.
    static func trimmed(_ text: String) -> Substring {
        // Most values start and end with an ASCII character that is not white space: nothing to
        // trim, and no scalar's properties to look up (an ASCII byte is a whole scalar).
        if let first = text.utf8.first, let last = text.utf8.last, !mayBeWhiteSpace(first), !mayBeWhiteSpace(last) { return text[...] }
        let scalars = text.unicodeScalars
        guard let start = scalars.firstIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        let end = scalars.lastIndex(where: { !$0.properties.isWhitespace })!
        return Substring(scalars[start...end])
    }

    /// Each `_` that sits between two ASCII digits removed; nil when any other `_` appears.
    static func withoutSeparators(_ text: Substring) -> String? {
        guard text.utf8.contains(UInt8(ascii: "_")) else { return String(text) }
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        for (i, byte) in bytes.enumerated() {
            if byte == UInt8(ascii: "_") {
                guard i > 0, i + 1 < bytes.count, isDigit(bytes[i - 1]), isDigit(bytes[i + 1]) else { return nil }
                continue
            }
            out.append(byte)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// False only for an ASCII byte that is not White_Space (TAB through CR, and SPACE are).
    private static func mayBeWhiteSpace(_ byte: UInt8) -> Bool {
        byte >= 0x80 || byte == 0x20 || (0x09...0x0D).contains(byte)
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
}

/// A boolean read from text as pydantic's lax mode reads one (pydantic-core's `str_as_bool`), for
/// every place a boolean is declared and a string arrives: path, query and header parameters,
/// and JSON strings in a body. `1`, `t`, `true`, `y`, `yes`, `on` are true and `0`, `f`, `false`,
/// `n`, `no`, `off` false, letters in any ASCII case (pydantic's `eq_ignore_ascii_case`); nothing
/// is trimmed. The words are compared as bytes, without making a lower-cased copy.
public enum LaxBool {
    /// The words, in ASCII lower case, and what each means.
    @usableFromInline static let words: [(word: StaticString, value: Bool)] = [
        ("1", true), ("t", true), ("true", true), ("y", true), ("yes", true), ("on", true),
        ("0", false), ("f", false), ("false", false), ("n", false), ("no", false), ("off", false),
    ]

    /// True or false for one of the words, nil for anything else. Inlinable, so a caller in
    /// another module gets it specialized for its string type: unspecialized, the comparison
    /// ran through the generic runtime and cost more than the rest of a request's five
    /// parameters together.
    @inlinable public static func value(_ text: some StringProtocol) -> Bool? {
        let utf8 = text.utf8
        guard utf8.count <= 5 else { return nil }
        for entry in words where entry.word.utf8CodeUnitCount == utf8.count {
            let word = UnsafeBufferPointer(start: entry.word.utf8Start, count: entry.word.utf8CodeUnitCount)
            if utf8.equalsIgnoringASCIICase(word) { return entry.value }
        }
        return nil
    }
}
