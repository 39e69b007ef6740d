#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How `JSONWriter` and `JSONEncoding` lay out JSON.
public struct JSONOptions: Sendable, Equatable {
    /// How object keys are written.
    public enum KeyStrategy: Sendable, Equatable {
        /// As given.
        case asIs
        /// `user_id` → `userId`: the first `_`-separated word as is, each later one with its
        /// first letter upper-cased and the rest lower-cased (Python's `str.title()` on the word,
        /// as the chapter's `to_camel_case` does).
        case camelCase
    }

    /// Two-space indentation and `": "` after keys, as orjson's OPT_INDENT_2 writes.
    public var pretty: Bool
    public var keys: KeyStrategy
    /// Object members in byte order of their (written) keys, as `json.dumps(sort_keys=True)`.
    public var sortedKeys: Bool

    public init(pretty: Bool = false, keys: KeyStrategy = .asIs, sortedKeys: Bool = false) {
        self.pretty = pretty
        self.keys = keys
        self.sortedKeys = sortedKeys
    }

    /// Compact, keys as given, in the order written.
    public static let compact = JSONOptions()
}

/// JSON written straight into one growing byte buffer: the product's one JSON writer (the SDK's
/// `Response.json`, the host's errors, admin API and OpenAPI document all go through it).
///
/// Values are appended in order; containers are opened and closed explicitly and the writer puts
/// the commas, colons and (with `pretty`) the line breaks in. Strings are escaped as RFC 8259
/// requires and nothing more (UTF-8 passes through, `/` is not escaped), eight bytes at a time
/// with clean runs copied whole. Integers are spelled without Foundation; doubles as Python's
/// `repr` spells them (the shortest text that reads back the same). NaN and infinity cannot be
/// written: `double` throws `NonFiniteNumber`.
///
///     var w = JSONWriter()
///     w.beginObject()
///     w.key("id"); w.int(1)
///     w.key("tags"); w.beginArray(); w.string("a"); w.endArray()
///     w.endObject()                       // {"id":1,"tags":["a"]}
public struct JSONWriter {
    /// The JSON written so far (UTF-8).
    public private(set) var bytes: [UInt8]
    public let options: JSONOptions
    /// Per open container: how many members or elements it has so far.
    private var counts: [Int] = []
    /// A key was just written: the next value belongs to it (no comma, no line break).
    private var afterKey = false

    /// - Parameter capacity: bytes to reserve up front.
    public init(options: JSONOptions = .compact, capacity: Int = 256) {
        self.options = options
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Thrown for NaN and infinity, which JSON cannot carry.
    public struct NonFiniteNumber: Error, CustomStringConvertible {
        public let value: Double
        public var codingPath: String = ""
        public var description: String {
            (codingPath.isEmpty ? "" : codingPath + ": ") + "JSON cannot carry \(value) (NaN or infinity)"
        }
    }

    // MARK: Structure

    /// The separator before a value: a comma after an earlier one, and in pretty mode a line
    /// break and indentation. Nothing after a key.
    @inline(__always)
    private mutating func separate() {
        if afterKey {
            afterKey = false
            return
        }
        guard let last = counts.indices.last else { return }
        if counts[last] > 0 { bytes.append(UInt8(ascii: ",")) }
        counts[last] += 1
        if options.pretty { newline(depth: counts.count) }
    }

    private mutating func newline(depth: Int) {
        bytes.append(0x0A)
        for _ in 0..<depth { bytes.append(0x20); bytes.append(0x20) }
    }

    /// Opens an object as the next value; give it members with `key` and a value each, then
    /// `endObject`. Each begin must be ended by its own end, innermost first (unchecked).
    public mutating func beginObject() { open(UInt8(ascii: "{")) }
    /// Closes the innermost open object.
    public mutating func endObject() { close(UInt8(ascii: "}")) }
    /// Opens an array as the next value; write its elements, then `endArray`.
    public mutating func beginArray() { open(UInt8(ascii: "[")) }
    /// Closes the innermost open array.
    public mutating func endArray() { close(UInt8(ascii: "]")) }

    private mutating func open(_ bracket: UInt8) {
        separate()
        bytes.append(bracket)
        counts.append(0)
    }

    private mutating func close(_ bracket: UInt8) {
        let count = counts.removeLast()
        if options.pretty && count > 0 { newline(depth: counts.count) }
        bytes.append(bracket)
    }

    /// Empties the writer for another document, keeping its buffer's capacity.
    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        counts.removeAll(keepingCapacity: true)
        afterKey = false
    }

    /// The key of the next member of the open object, converted by `options.keys`.
    public mutating func key(_ key: String) {
        separate()
        switch options.keys {
        case .asIs: appendQuoted(key)
        case .camelCase: appendQuoted(Self.camelCase(key))
        }
        bytes.append(UInt8(ascii: ":"))
        if options.pretty { bytes.append(0x20) }
        afterKey = true
    }

    /// A key already quoted and escaped (`"id"`), with `options.keys` already applied: what a
    /// caller that writes the same keys many times prepares once.
    public mutating func key(quoted: UnsafeRawBufferPointer) {
        separate()
        bytes.append(contentsOf: quoted)
        bytes.append(UInt8(ascii: ":"))
        if options.pretty { bytes.append(0x20) }
        afterKey = true
    }

    /// Whether every container opened has been closed.
    public var isComplete: Bool { counts.isEmpty && !afterKey }

    // MARK: Values

    /// `null` as the next value (after a key, as an array element, or alone).
    public mutating func null() {
        separate()
        bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])  // null
    }

    /// `true` or `false` as the next value.
    public mutating func bool(_ value: Bool) {
        separate()
        if value {
            bytes.append(contentsOf: [0x74, 0x72, 0x75, 0x65])  // true
        } else {
            bytes.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])  // false
        }
    }

    /// An integer of any width as the next value, in decimal (no exponent, no fraction).
    public mutating func int(_ value: some BinaryInteger) {
        separate()
        appendDigits(value)
    }

    /// A finite double, as Python's `repr` writes it: `1.0`, `0.1`, `1e-07`, `1e+16`, `-0.0`.
    /// - Throws: `NonFiniteNumber` for NaN and infinity (nothing is written).
    public mutating func double(_ value: Double) throws(NonFiniteNumber) {
        guard value.isFinite else { throw NonFiniteNumber(value: value) }
        separate()
        Self.appendRepr(value, to: &bytes)
    }

    /// `value` as a quoted JSON string, the next value (see `appendEscaped` for the escapes).
    public mutating func string(_ value: String) {
        separate()
        appendQuoted(value)
    }

    /// A UUID's 16 bytes as its lower-case string (`"e621e1f8-c36c-495a-93fc-0c247a3e6e5f"`, as
    /// Python's `str(uuid)`), written straight from the bytes.
    public mutating func uuid(_ uuid: uuid_t) {
        separate()
        let hex: StaticString = "0123456789abcdef"
        withUnsafeBytes(of: uuid) { raw in
            hex.withUTF8Buffer { digits in
                bytes.append(UInt8(ascii: "\""))
                for (i, byte) in raw.enumerated() {
                    if i == 4 || i == 6 || i == 8 || i == 10 { bytes.append(UInt8(ascii: "-")) }
                    bytes.append(digits[Int(byte >> 4)])
                    bytes.append(digits[Int(byte & 0x0F)])
                }
                bytes.append(UInt8(ascii: "\""))
            }
        }
    }

    /// A JSON number given as its text (a `Decimal`'s description, say); the caller vouches that
    /// it is one.
    public mutating func number(text: String) {
        separate()
        bytes.append(contentsOf: text.utf8)
    }

    /// JSON text produced elsewhere, inserted as one value; the caller vouches that it is JSON.
    public mutating func raw(_ json: some Collection<UInt8>) {
        separate()
        bytes.append(contentsOf: json)
    }

    // MARK: Strings

    /// Appends `text` as a quoted JSON string.
    mutating func appendQuoted(_ text: String) {
        var text = text
        bytes.append(UInt8(ascii: "\""))
        text.withUTF8 { Self.appendEscaped($0, to: &bytes) }
        bytes.append(UInt8(ascii: "\""))
    }

    /// The escapes RFC 8259 requires (`"`, `\`, controls); everything else copied as is.
    /// Eight bytes are tested at once; a clean run is copied whole.
    static func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        guard let base = utf8.baseAddress else { return }
        let count = utf8.count
        var i = 0
        var run = 0  // clean bytes waiting to be copied, ending at i
        while i < count {
            if count - i >= 8 {
                let word = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
                if !needsEscape(word) {
                    i += 8
                    run += 8
                    continue
                }
            }
            let byte = base[i]
            if byte >= 0x20 && byte != 0x22 && byte != 0x5C {
                i += 1
                run += 1
                continue
            }
            if run > 0 { out.append(contentsOf: UnsafeBufferPointer(start: base + i - run, count: run)) }
            run = 0
            switch byte {
            case 0x22: out.append(contentsOf: [0x5C, 0x22])
            case 0x5C: out.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: out.append(contentsOf: [0x5C, 0x6E])
            case 0x0D: out.append(contentsOf: [0x5C, 0x72])
            case 0x09: out.append(contentsOf: [0x5C, 0x74])
            case 0x08: out.append(contentsOf: [0x5C, 0x62])
            case 0x0C: out.append(contentsOf: [0x5C, 0x66])
            default:
                let hex: StaticString = "0123456789abcdef"
                hex.withUTF8Buffer { digits in
                    out.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
                }
            }
            i += 1
        }
        if run > 0 { out.append(contentsOf: UnsafeBufferPointer(start: base + count - run, count: run)) }
    }

    /// Whether any of the eight bytes is below 0x20, `"` or `\` (SWAR; may report a byte after
    /// a real one, never miss one).
    @inline(__always)
    static func needsEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        func hasZero(_ v: UInt64) -> UInt64 { (v &- ones) & ~v & highs }
        let below = (word &- 0x2020_2020_2020_2020) & ~word & highs
        return (below | hasZero(word ^ 0x2222_2222_2222_2222) | hasZero(word ^ 0x5C5C_5C5C_5C5C_5C5C)) != 0
    }

    /// The chapter's `to_camel_case`: `components[0] + "".join(x.title() for x in components[1:])`.
    public static func camelCase(_ key: String) -> String {
        guard key.utf8.contains(UInt8(ascii: "_")) else { return key }
        let parts = key.split(separator: "_", omittingEmptySubsequences: false)
        var out = String(parts[0])
        for part in parts.dropFirst() {
            // str.title(): a letter after a non-letter is upper-cased, every other letter lower.
            var previousIsLetter = false
            for character in part {
                let letter = character.isLetter
                out += letter ? (previousIsLetter ? character.lowercased() : character.uppercased()) : String(character)
                previousIsLetter = letter
            }
        }
        return out
    }

    // MARK: Numbers

    private mutating func appendDigits(_ value: some BinaryInteger) {
        if value == 0 {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        var magnitude = value.magnitude
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        // At most 39 digits (UInt128); written backwards into a small stack buffer.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 40) { digits in
            var at = 40
            while magnitude != 0 {
                let (quotient, remainder) = magnitude.quotientAndRemainder(dividingBy: 10)
                at -= 1
                digits[at] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: remainder)
                magnitude = quotient
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[at..<40]))
        }
    }

    /// `value` (finite) as Python's `repr`: the shortest digits that read back the same (Swift's
    /// own shortest-digits algorithm gives them), laid out in fixed notation for decimal
    /// exponents -4 through 15 and as `d.ddde±XX` otherwise.
    static func appendRepr(_ value: Double, to out: inout [UInt8]) {
        if value == 0 {
            out.append(contentsOf: value.sign == .minus ? Array("-0.0".utf8) : Array("0.0".utf8))
            return
        }
        // Swift writes the shortest round-tripping digits, in "123.45", "0.001" or "1.5e-07" form.
        let text = value.description.utf8
        var digits: [UInt8] = []
        digits.reserveCapacity(17)
        var exponent = 0  // of the first digit: value = d.ddd × 10^exponent
        var seenPoint = false, seenNonZero = false, explicit = 0, explicitSign = 1, inExponent = false
        var integerDigits = 0, leadingFractionZeros = 0
        for c in text {
            switch c {
            case UInt8(ascii: "-") where !inExponent: continue
            case UInt8(ascii: "-"): explicitSign = -1
            case UInt8(ascii: "+"): continue
            case UInt8(ascii: "e"), UInt8(ascii: "E"): inExponent = true
            case UInt8(ascii: "."): seenPoint = true
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                if inExponent {
                    explicit = explicit * 10 + Int(c - UInt8(ascii: "0"))
                } else if c == UInt8(ascii: "0") && !seenNonZero {
                    if seenPoint { leadingFractionZeros += 1 }
                } else {
                    if !seenNonZero && !seenPoint { integerDigits = 0 }
                    seenNonZero = true
                    digits.append(c)
                    if !seenPoint { integerDigits += 1 }
                }
            default: continue
            }
        }
        if integerDigits > 0 {
            exponent = integerDigits - 1
        } else {
            exponent = -(leadingFractionZeros + 1)
        }
        exponent += explicitSign * explicit
        while digits.count > 1 && digits.last == UInt8(ascii: "0") { digits.removeLast() }
        if value < 0 { out.append(UInt8(ascii: "-")) }
        if exponent >= -4 && exponent < 16 {
            if exponent >= 0 {
                let whole = exponent + 1
                for k in 0..<whole { out.append(k < digits.count ? digits[k] : UInt8(ascii: "0")) }
                out.append(UInt8(ascii: "."))
                if digits.count > whole { out.append(contentsOf: digits[whole...]) } else { out.append(UInt8(ascii: "0")) }
            } else {
                out.append(contentsOf: [UInt8(ascii: "0"), UInt8(ascii: ".")])
                for _ in 0..<(-exponent - 1) { out.append(UInt8(ascii: "0")) }
                out.append(contentsOf: digits)
            }
        } else {
            out.append(digits[0])
            if digits.count > 1 {
                out.append(UInt8(ascii: "."))
                out.append(contentsOf: digits[1...])
            }
            out.append(UInt8(ascii: "e"))
            out.append(exponent < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            let magnitude = abs(exponent)
            if magnitude < 10 { out.append(UInt8(ascii: "0")) }
            out.append(contentsOf: String(magnitude).utf8)
        }
    }
}

/// A coding key that is just its text: keys known only at run time (a dictionary's, a
/// metadata map's) for `KeyedEncodingContainer`. Has no integer value.
public struct JSONKey: CodingKey, Sendable, ExpressibleByStringLiteral {
    public let stringValue: String
    public var intValue: Int? { nil }
    public init(_ text: String) { stringValue = text }
    public init(stringValue: String) { self.stringValue = stringValue }
    public init(stringLiteral value: String) { stringValue = value }
    public init?(intValue: Int) { nil }
}

extension JSONValue: Encodable {
    /// For other encoders (Foundation's); `JSONEncoding` writes a JSONValue directly.
    public func encode(to encoder: any Encoder) throws {
        func single(_ write: (inout any SingleValueEncodingContainer) throws -> Void) throws {
            var container = encoder.singleValueContainer()
            try write(&container)
        }
        switch self {
        case .null: try single { try $0.encodeNil() }
        case .bool(let b): try single { try $0.encode(b) }
        case .int(let i): try single { try $0.encode(i) }
        case .double(let d): try single { try $0.encode(d) }
        case .string(let s): try single { try $0.encode(s) }
        case .array(let items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(item) }
        case .object(let members):
            var c = encoder.container(keyedBy: JSONKey.self)
            for (name, member) in members { try c.encode(member, forKey: JSONKey(name)) }
        }
    }
}
