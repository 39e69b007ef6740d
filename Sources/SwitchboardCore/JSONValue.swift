/// A JSON value whose objects keep their keys in insertion order, serialised compactly.
///
/// The host builds its own documents with it (422 bodies, the OpenAPI document): key order is part
/// of what a reader compares with FastAPI, and no Foundation encoder guarantees it.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// An integer that fits in Int64, kept exact.
    case int(Int64)
    /// A number held as a Double: `parse` gives one for a fraction, an exponent, or an integer
    /// past Int64.
    case double(Double)
    case string(String)
    case array([JSONValue])
    /// An object's members, in order; `parse` keeps a repeated key once, at its first position.
    case object([(String, JSONValue)])

    /// Structural equality: objects compare member by member in order, `.int(1)` differs from
    /// `.double(1)`, and a NaN `.double` equals nothing, itself included.
    public static func == (a: JSONValue, b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .null): true
        case (.bool(let x), .bool(let y)): x == y
        case (.int(let x), .int(let y)): x == y
        case (.double(let x), .double(let y)): x == y
        // Strings and member names by code points, as JSON compares them (RFC 8259 §8.3).
        case (.string(let x), .string(let y)): x.hasSameCodePoints(as: y)
        case (.array(let x), .array(let y)): x == y
        case (.object(let x), .object(let y)): x.count == y.count && zip(x, y).allSatisfy { $0.0.hasSameCodePoints(as: $1.0) && $0.1 == $1.1 }
        default: false
        }
    }

    /// A number as JSON Schema and pydantic show it: integral values as integers.
    public static func number(_ value: Double) -> JSONValue {
        if value.rounded() == value, abs(value) < 1e15 { return .int(Int64(value)) }
        return .double(value)
    }

    /// The compact JSON text, written by `JSONWriter` (a non-finite double, which JSON cannot
    /// carry, is written as `null`).
    public var text: String { String(decoding: bytes, as: UTF8.self) }

    /// The compact JSON bytes (see `text`).
    public var bytes: [UInt8] {
        var writer = JSONWriter()
        do {
            try writer.value(self)
        } catch {
            writer.reset()
            try? writer.value(finiteOnly)  // cannot throw: every double in it is finite
        }
        return writer.takeBytes()
    }

    /// This value with each NaN or infinity replaced by null.
    var finiteOnly: JSONValue {
        switch self {
        case .double(let d) where !d.isFinite: .null
        case .array(let items): .array(items.map(\.finiteOnly))
        case .object(let members): .object(members.map { ($0.0, $0.1.finiteOnly) })
        default: self
        }
    }

}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    /// `.string(value)`: a string literal stands for a JSON string.
    public init(stringLiteral value: String) { self = .string(value) }
    /// `.int(value)`: an integer literal stands for a JSON integer.
    public init(integerLiteral value: Int64) { self = .int(value) }
}

// MARK: Parsing

extension JSONValue {
    /// Why a text is not JSON, as Python's `json` module words it (FastAPI reports that wording),
    /// with the offset in characters where it was found.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        /// The reason in Python's words, e.g. `Expecting ',' delimiter`.
        public var message: String
        /// Where the error is, in characters (Unicode code points, as Python counts) from the start.
        public var offset: Int
        /// `message: char offset`, for the log.
        public var description: String { "\(message): char \(offset)" }

        /// An error with `message` at `offset` characters.
        public init(message: String, offset: Int) {
            self.message = message
            self.offset = offset
        }
    }

    /// Parses RFC 8259 JSON. Integers that fit in Int64 stay exact (`.int`); other numbers are
    /// doubles (one too large for a double is infinite, as in Python). Objects keep their order;
    /// a repeated key keeps its last value, in its first position.
    public static func parse(_ bytes: some Collection<UInt8>) throws(ParseError) -> JSONValue {
        var parser = JSONParser(Array(bytes))
        return try parser.document()
    }

    /// The value of member `key` of an object; nil for other values or an absent key.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0.hasSameCodePoints(as: key) }?.1
    }
}

/// A recursive-descent parser over UTF-8 bytes. Depth is bounded, so a hostile body cannot
/// exhaust the stack.
private struct JSONParser {
    let bytes: [UInt8]
    var i = 0
    var depth = 0
    static let maxDepth = 512

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func document() throws(JSONValue.ParseError) -> JSONValue {
        skipSpace()
        let value = try self.value()
        skipSpace()
        if i < bytes.count { throw error("Extra data") }
        return value
    }

    /// The offset in characters (Python counts code points), not bytes.
    func error(_ message: String, at position: Int? = nil) -> JSONValue.ParseError {
        let end = min(position ?? i, bytes.count)
        let characters = bytes[..<end].reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
        return JSONValue.ParseError(message: message, offset: characters)
    }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
    }

    mutating func value() throws(JSONValue.ParseError) -> JSONValue {
        guard i < bytes.count else { throw error("Expecting value") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw error("Expecting value")
        }
    }

    mutating func literal(_ word: String, _ value: JSONValue) throws(JSONValue.ParseError) -> JSONValue {
        let count = word.utf8.count
        guard i + count <= bytes.count, bytes[i..<(i + count)].elementsEqual(word.utf8) else {
            throw error("Expecting value")
        }
        i += count
        return value
    }

    mutating func nested<T>(_ body: (inout JSONParser) throws(JSONValue.ParseError) -> T) throws(JSONValue.ParseError) -> T {
        depth += 1
        defer { depth -= 1 }
        if depth > Self.maxDepth { throw error("Nesting too deep") }
        return try body(&self)
    }

    mutating func object() throws(JSONValue.ParseError) -> JSONValue {
        try nested { (p: inout JSONParser) throws(JSONValue.ParseError) -> JSONValue in
            p.i += 1  // {
            var members: [(String, JSONValue)] = []
            p.skipSpace()
            if p.i < p.bytes.count, p.bytes[p.i] == UInt8(ascii: "}") {
                p.i += 1
                return .object(members)
            }
            while true {
                p.skipSpace()
                guard p.i < p.bytes.count, p.bytes[p.i] == UInt8(ascii: "\"") else {
                    throw p.error("Expecting property name enclosed in double quotes")
                }
                let key = try p.string()
                p.skipSpace()
                guard p.i < p.bytes.count, p.bytes[p.i] == UInt8(ascii: ":") else { throw p.error("Expecting ':' delimiter") }
                p.i += 1
                p.skipSpace()
                let value = try p.value()
                if let existing = members.firstIndex(where: { $0.0.hasSameCodePoints(as: key) }) {  // as a Python dict: code points
                    members[existing].1 = value
                } else {
                    members.append((key, value))
                }
                p.skipSpace()
                guard p.i < p.bytes.count else { throw p.error("Expecting ',' delimiter") }
                if p.bytes[p.i] == UInt8(ascii: "}") {
                    p.i += 1
                    return .object(members)
                }
                guard p.bytes[p.i] == UInt8(ascii: ",") else { throw p.error("Expecting ',' delimiter") }
                p.i += 1
            }
        }
    }

    mutating func array() throws(JSONValue.ParseError) -> JSONValue {
        try nested { (p: inout JSONParser) throws(JSONValue.ParseError) -> JSONValue in
            p.i += 1  // [
            var items: [JSONValue] = []
            p.skipSpace()
            if p.i < p.bytes.count, p.bytes[p.i] == UInt8(ascii: "]") {
                p.i += 1
                return .array(items)
            }
            while true {
                p.skipSpace()
                items.append(try p.value())
                p.skipSpace()
                guard p.i < p.bytes.count else { throw p.error("Expecting ',' delimiter") }
                if p.bytes[p.i] == UInt8(ascii: "]") {
                    p.i += 1
                    return .array(items)
                }
                guard p.bytes[p.i] == UInt8(ascii: ",") else { throw p.error("Expecting ',' delimiter") }
                p.i += 1
            }
        }
    }

    mutating func string() throws(JSONValue.ParseError) -> String {
        let start = i
        i += 1  // "
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else { throw error("Unterminated string starting at", at: start) }
            let byte = bytes[i]
            switch byte {
            case UInt8(ascii: "\""):
                i += 1
                guard let text = out.withUnsafeBytes({ String(utf8Bytes: $0) }) else { throw error("Invalid UTF-8 in string starting at", at: start) }
                return text
            case UInt8(ascii: "\\"):
                guard i + 1 < bytes.count else { throw error("Unterminated string starting at", at: start) }
                let escape = bytes[i + 1]
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escape)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4(at: i + 2)
                    var consumed = 6
                    if (0xD800..<0xDC00).contains(scalar), i + 11 < bytes.count, bytes[i + 6] == UInt8(ascii: "\\"), bytes[i + 7] == UInt8(ascii: "u") {
                        let low = try hex4(at: i + 8)
                        if (0xDC00..<0xE000).contains(low) {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                            consumed = 12
                        }
                    }
                    // A lone surrogate cannot be UTF-8: Python keeps it, a Swift String cannot.
                    let character = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                    out.append(contentsOf: Array(String(character).utf8))
                    i += consumed
                    continue
                default: throw error("Invalid \\escape", at: i)
                }
                i += 2
            case 0x00..<0x20:
                throw error("Invalid control character at")
            default:
                out.append(byte)
                i += 1
            }
        }
    }

    func hex4(at position: Int) throws(JSONValue.ParseError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("Invalid \\uXXXX escape", at: position - 1) }
        var value: UInt32 = 0
        for byte in bytes[position..<(position + 4)] {
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("Invalid \\uXXXX escape", at: position - 1)
            }
            value = value << 4 | digit
        }
        return value
    }

    mutating func number() throws(JSONValue.ParseError) -> JSONValue {
        let start = i
        func digits(_ p: inout JSONParser) -> Int {
            let from = p.i
            while p.i < p.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(p.bytes[p.i]) { p.i += 1 }
            return p.i - from
        }
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i]) else { throw error("Expecting value", at: start) }
        if bytes[i] == UInt8(ascii: "0") { i += 1 } else { _ = digits(&self) }
        var integral = true
        if i + 1 < bytes.count, bytes[i] == UInt8(ascii: "."), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i + 1]) {
            i += 1
            _ = digits(&self)
            integral = false
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            var j = i + 1
            if j < bytes.count, bytes[j] == UInt8(ascii: "+") || bytes[j] == UInt8(ascii: "-") { j += 1 }
            if j < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[j]) {
                i = j
                _ = digits(&self)
                integral = false
            }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if integral, let exact = Int64(text) { return .int(exact) }
        return .double(Double(text) ?? (text.hasPrefix("-") ? -.infinity : .infinity))
    }
}
