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
    /// How object keys are written: as given, or converted to camelCase.
    public var keys: KeyStrategy
    /// Object members in byte order of their (written) keys, as `json.dumps(sort_keys=True)`.
    public var sortedKeys: Bool

    /// `pretty` indents, `keys` converts member names, `sortedKeys` sorts members; the defaults
    /// give `compact`.
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
/// requires and nothing more (UTF-8 passes through, `/` is not escaped), eight bytes at a time,
/// copied while they are checked. Integers are spelled two digits at a time without Foundation;
/// doubles as Python's `repr` spells them (the shortest text that reads back the same). NaN and
/// infinity cannot be written: `double` throws `NonFiniteNumber`.
///
///     var w = JSONWriter()
///     w.beginObject()
///     w.key("id"); w.int(1)
///     w.key("tags"); w.beginArray(); w.string("a"); w.endArray()
///     w.endObject()                       // {"id":1,"tags":["a"]}
///
/// Each value writer reserves its worst case and writes through a pointer (a string with
/// escapes takes a second, slower step; doubles and `number(text:)` go through a small array);
/// the hot ones are `@inlinable`, so a plugin's `JSONWritable` types compile to direct calls.
/// Misuse (an end without its begin, a second value at the top level) never traps: the writer
/// stops being `isComplete`, and `JSONEncoding` throws rather than send what it wrote.
public struct JSONWriter {
    /// Where the next token goes: the writer's one small state machine.
    @usableFromInline enum Slot: UInt8 {
        /// At the start of the document or of a container: no comma before the next value.
        case first
        /// After a value: a comma before the next one (inside a container).
        case afterValue
        /// After a key: the next value belongs to it (no comma, no line break).
        case afterKey
    }

    /// `storage.count` is the capacity, `count` the bytes written (zeros after them).
    @usableFromInline var storage: [UInt8]
    @usableFromInline var count: Int
    /// Containers open.
    @usableFromInline var depth: Int = 0
    @usableFromInline var slot: Slot = .first
    /// An end without its begin or a second top-level value was written: never complete again
    /// (until `reset`).
    @usableFromInline var misused = false
    /// The layout and key strategy this writer was made with.
    public let options: JSONOptions
    @usableFromInline let pretty: Bool

    /// - Parameter capacity: bytes to reserve up front.
    public init(options: JSONOptions = .compact, capacity: Int = 256) {
        self.options = options
        pretty = options.pretty
        storage = [UInt8](repeating: 0, count: Swift.max(capacity, 16))
        count = 0
    }

    /// Thrown for NaN and infinity, which JSON cannot carry.
    public struct NonFiniteNumber: Error, CustomStringConvertible {
        /// The refused value: NaN, +infinity or -infinity.
        public let value: Double
        /// The keys leading to the value, joined with `.` (`items.0.price`); empty when unknown,
        /// as for a `JSONWritable`'s own `write(to:)`.
        public var codingPath: String = ""
        /// An error for `value`, found at `codingPath` (empty: unknown).
        public init(value: Double, codingPath: String = "") {
            self.value = value
            self.codingPath = codingPath
        }
        /// The coding path, when known, and the value, for the log.
        public var description: String {
            (codingPath.isEmpty ? "" : codingPath + ": ") + "JSON cannot carry \(value) (NaN or infinity)"
        }
    }

    // MARK: Output

    /// The JSON written so far (UTF-8), copied; `takeBytes` hands the buffer over instead.
    public var bytes: [UInt8] { Array(storage[0..<count]) }

    /// How many bytes have been written.
    public var byteCount: Int { count }

    /// The JSON written, without a copy; the writer is empty afterwards (as `reset`, without
    /// its capacity).
    public mutating func takeBytes() -> [UInt8] {
        var out: [UInt8] = []
        swap(&out, &storage)
        out.removeSubrange(count...)
        count = 0
        depth = 0
        slot = .first
        misused = false
        return out
    }

    /// Empties the writer for another document, keeping its buffer's capacity.
    public mutating func reset() {
        count = 0
        depth = 0
        slot = .first
        misused = false
    }

    /// Whether every container opened has been closed.
    public var isComplete: Bool { depth == 0 && slot != .afterKey && !misused }

    // MARK: Raw writing

    /// Makes room for `n` more bytes.
    @inlinable @inline(__always)
    mutating func reserve(_ n: Int) {
        if _slowPath(storage.count &- count < n) { grow(n) }
    }

    /// Doubles the capacity (at least): what is written is copied, the rest zeroed.
    @usableFromInline
    mutating func grow(_ n: Int) {
        var capacity = Swift.max(storage.count * 2, 64)
        while capacity - count < n { capacity *= 2 }
        let count = self.count
        storage = storage.withUnsafeBufferPointer { old in
            [UInt8](unsafeUninitializedCapacity: capacity) { new, initialized in
                new.baseAddress!.initialize(from: old.baseAddress!, count: count)
                (new.baseAddress! + count).initialize(repeating: 0, count: capacity - count)
                initialized = capacity
            }
        }
    }

    /// Writes at most `n` bytes through `body`, which returns how many it wrote. `body` must not
    /// touch the writer.
    @inlinable @inline(__always)
    mutating func write(reserving n: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) {
        reserve(n)
        let at = count
        let written = storage.withUnsafeMutableBufferPointer { body($0.baseAddress.unsafelyUnwrapped + at) }
        count = at &+ written
    }

    /// Writes the next value: its separator (from `takeSeparator`), then at most `n` bytes
    /// through `body`, which gets the address after the separator and returns how many it wrote.
    @inlinable @inline(__always)
    mutating func writeValue(reserving n: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) {
        let separator = takeSeparator()
        let depth = self.depth
        write(reserving: separatorLimit &+ n) { p in
            let i = Self.putSeparator(separator, depth: depth, p)
            return i &+ body(p + i)
        }
    }

    // MARK: Structure

    /// The separator before the next value, by `slot`: none, `,`, a line break and indentation
    /// (pretty), or both. Moves `slot` to `afterValue`.
    /// - Returns: bit 0 a comma, bit 1 a line break; at most `separatorLimit` bytes.
    @inlinable @inline(__always)
    mutating func takeSeparator() -> Int {
        let previous = slot
        slot = .afterValue
        switch previous {
        case .afterKey: return 0
        case .afterValue:
            if depth == 0 {
                misused = true  // a second value at the top level: not one JSON document
                return 0
            }
            return pretty ? 3 : 1
        case .first: return pretty && depth > 0 ? 2 : 0
        }
    }

    /// The most bytes `putSeparator` writes at this depth.
    @inlinable @inline(__always)
    var separatorLimit: Int { pretty ? 2 &+ 2 &* depth : 1 }

    /// Writes the separator `takeSeparator` chose; how many bytes.
    @inlinable @inline(__always)
    static func putSeparator(_ separator: Int, depth: Int, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        if separator == 0 { return 0 }
        var i = 0
        if separator & 1 != 0 {
            p[0] = UInt8(ascii: ",")
            i = 1
        }
        if separator & 2 != 0 {
            p[i] = 0x0A
            (p + i + 1).update(repeating: 0x20, count: 2 &* depth)
            i += 1 &+ 2 &* depth
        }
        return i
    }

    /// Opens an object as the next value; give it members with `key` and a value each, then
    /// `endObject`. Each begin must be ended by its own end, innermost first (unchecked).
    @inlinable public mutating func beginObject() { open(UInt8(ascii: "{")) }
    /// Closes the innermost open object.
    @inlinable public mutating func endObject() { close(UInt8(ascii: "}")) }
    /// Opens an array as the next value; write its elements, then `endArray`.
    @inlinable public mutating func beginArray() { open(UInt8(ascii: "[")) }
    /// Closes the innermost open array.
    @inlinable public mutating func endArray() { close(UInt8(ascii: "]")) }

    @inlinable @inline(__always)
    mutating func open(_ bracket: UInt8) {
        writeValue(reserving: 1) { p in
            p[0] = bracket
            return 1
        }
        depth &+= 1
        slot = .first
    }

    @inlinable @inline(__always)
    mutating func close(_ bracket: UInt8) {
        guard self.depth > 0 else {
            misused = true  // an end without its begin: nothing is written
            return
        }
        let depth = self.depth &- 1
        let lineBreak = pretty && slot == .afterValue
        self.depth = depth
        slot = .afterValue
        write(reserving: 3 &+ 2 &* depth) { p in
            var i = 0
            if lineBreak { i = Self.putSeparator(2, depth: depth, p) }
            p[i] = bracket
            return i &+ 1
        }
    }

    /// An object, its members written by `body`: `w.object { w in w.member("id", 1) }`.
    @inlinable
    public mutating func object(_ body: (inout JSONWriter) throws -> Void) rethrows {
        beginObject()
        try body(&self)
        endObject()
    }

    /// An array, its elements written by `body`.
    @inlinable
    public mutating func array(_ body: (inout JSONWriter) throws -> Void) rethrows {
        beginArray()
        try body(&self)
        endArray()
    }

    // MARK: Keys

    /// The key of the next member of the open object, converted by `options.keys`.
    @inlinable @inline(__always)
    public mutating func key(_ key: String) {
        if _slowPath(options.keys == .camelCase) {
            self.key(converted: Self.camelCase(key))
        } else if key.utf8.withContiguousStorageIfAvailable({ quoted($0, key: true) }) == nil {
            var key = key
            key.withUTF8 { quoted($0, key: true) }
        }
    }

    /// A key already converted by the key strategy (escaped here).
    @usableFromInline
    mutating func key(converted name: String) {
        var name = name
        name.withUTF8 { quoted($0, key: true) }
    }

    /// A key already quoted and escaped (`"id"`), with `options.keys` already applied: what a
    /// caller that writes the same keys many times prepares once. Borrowed for the call only.
    public mutating func key(quoted: UnsafeRawBufferPointer) {
        let pretty = self.pretty
        writeValue(reserving: quoted.count &+ 2) { p in
            if let base = quoted.baseAddress {
                UnsafeMutableRawPointer(p).copyMemory(from: base, byteCount: quoted.count)
            }
            let i = quoted.count
            p[i] = UInt8(ascii: ":")
            if pretty { p[i &+ 1] = 0x20 }
            return i &+ (pretty ? 2 : 1)
        }
        slot = .afterKey
    }

    /// A key and its value: `w.member("id", user.id)`.
    @inlinable
    public mutating func member(_ key: String, _ value: some JSONWritable) throws {
        self.key(key)
        try value.write(to: &self)
    }

    /// A key and its value, for values whose writing cannot fail (strings, integers, UUIDs…).
    @inlinable @inline(__always)
    public mutating func member(_ key: String, _ value: String) {
        self.key(key)
        string(value)
    }

    /// A key and an integer value.
    @inlinable @inline(__always)
    public mutating func member(_ key: String, _ value: Int) {
        self.key(key)
        int(value)
    }

    // MARK: Values

    /// `null` as the next value (after a key, as an array element, or alone).
    @inlinable
    public mutating func null() { literal(0x6C6C_756E, 4) }  // null

    /// `true` or `false` as the next value.
    @inlinable
    public mutating func bool(_ value: Bool) {
        if value {
            literal(0x6575_7274, 4)  // true
        } else {
            literal(0x65_736C_6166, 5)  // false
        }
    }

    /// Up to eight bytes, little-endian in `word`, as the next value.
    @inlinable @inline(__always)
    mutating func literal(_ word: UInt64, _ length: Int) {
        writeValue(reserving: 8) { p in
            UnsafeMutableRawPointer(p).storeBytes(of: word.littleEndian, as: UInt64.self)
            return length
        }
    }

    /// An integer as the next value, in decimal (no exponent, no fraction).
    @inlinable
    public mutating func int(_ value: Int) {
        writeValue(reserving: 20) { p in Self.putDecimal(value, p) }
    }

    /// An integer of any width as the next value, in decimal.
    @inlinable
    public mutating func int<T: BinaryInteger>(_ value: T) {
        if let small = Int(exactly: value) { return int(small) }
        raw(Array(String(value).utf8))
    }

    /// Writes `value` in decimal at `p` (at most 20 bytes); how many bytes.
    @inlinable @inline(__always)
    static func putDecimal(_ value: Int, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        var i = 0
        var magnitude = value.magnitude
        if value < 0 {
            p[0] = UInt8(ascii: "-")
            i = 1
        }
        var length = 1
        var probe = magnitude
        while probe >= 10 {
            probe /= 10
            length &+= 1
        }
        var at = i &+ length
        let end = at
        let pairs: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"
        let table = pairs.utf8Start
        while magnitude >= 100 {
            let (q, r) = magnitude.quotientAndRemainder(dividingBy: 100)
            at &-= 2
            p[at] = table[Int(r) &* 2]
            p[at &+ 1] = table[Int(r) &* 2 &+ 1]
            magnitude = q
        }
        if magnitude >= 10 {
            at &-= 2
            p[at] = table[Int(magnitude) &* 2]
            p[at &+ 1] = table[Int(magnitude) &* 2 &+ 1]
        } else {
            p[at &- 1] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude)
        }
        return end
    }

    /// A finite double, as Python's `repr` writes it: `1.0`, `0.1`, `1e-07`, `1e+16`, `-0.0`.
    /// - Throws: `NonFiniteNumber` for NaN and infinity (nothing is written).
    public mutating func double(_ value: Double) throws(NonFiniteNumber) {
        guard value.isFinite else { throw NonFiniteNumber(value: value) }
        var text: [UInt8] = []
        text.reserveCapacity(24)
        Self.appendRepr(value, to: &text)
        raw(text)
    }

    /// `value` as a quoted JSON string, the next value: `"`, `\` and the C0 controls escaped
    /// (`\n`, `\u001f`…), everything else, `/` and U+2028 included, as it is.
    @inlinable @inline(__always)
    public mutating func string(_ value: String) {
        if value.utf8.withContiguousStorageIfAvailable({ quoted($0, key: false) }) == nil {
            var value = value
            value.withUTF8 { quoted($0, key: false) }
        }
    }

    /// UTF-8 bytes as a quoted JSON string (the caller vouches that they are UTF-8). Borrowed for
    /// the call only.
    @inlinable
    public mutating func string(utf8: UnsafeBufferPointer<UInt8>) { quoted(utf8, key: false) }

    /// A UUID's 16 bytes as its lower-case string (`"e621e1f8-c36c-495a-93fc-0c247a3e6e5f"`, as
    /// Python's `str(uuid)`), written straight from the bytes.
    @inlinable
    public mutating func uuid(_ uuid: uuid_t) {
        writeValue(reserving: 38) { p in
            var i = 0
            let hex = JSONWriter.hexDigits.utf8Start
            p[i] = UInt8(ascii: "\"")
            i &+= 1
            withUnsafeBytes(of: uuid) { raw in
                for k in 0..<16 {
                    if k == 4 || k == 6 || k == 8 || k == 10 {
                        p[i] = UInt8(ascii: "-")
                        i &+= 1
                    }
                    p[i] = hex[Int(raw[k] >> 4)]
                    p[i &+ 1] = hex[Int(raw[k] & 0x0F)]
                    i &+= 2
                }
            }
            p[i] = UInt8(ascii: "\"")
            return i &+ 1
        }
    }

    /// A JSON number given as its text (a `Decimal`'s description, say); the caller vouches that
    /// it is one.
    public mutating func number(text: String) {
        raw(Array(text.utf8))
    }

    /// JSON text produced elsewhere, inserted as one value; the caller vouches that it is JSON.
    public mutating func raw(_ json: some Collection<UInt8>) {
        let length = json.count
        writeValue(reserving: length) { p in
            _ = UnsafeMutableBufferPointer(start: p, count: length).initialize(from: json)
            return length
        }
    }

    // MARK: Strings

    /// `utf8` quoted and escaped as the next value, or as a key (then followed by `:`).
    /// Copies eight clean bytes per step while checking them; the first byte that needs an
    /// escape hands the rest to `quotedTail`.
    @usableFromInline
    mutating func quoted(_ utf8: UnsafeBufferPointer<UInt8>, key: Bool) {
        let pretty = self.pretty
        let n = utf8.count
        let source = utf8.baseAddress
        var stopped = n
        writeValue(reserving: n &+ 4) { p in
            p[0] = UInt8(ascii: "\"")
            var i = 1
            var j = 0
            if let source {
                while n &- j >= 8 {
                    let word = UnsafeRawPointer(source + j).loadUnaligned(as: UInt64.self)
                    if Self.needsEscape(word) { break }
                    UnsafeMutableRawPointer(p + i + j).storeBytes(of: word, as: UInt64.self)
                    j &+= 8
                }
                while j < n {
                    let byte = source[j]
                    if byte < 0x20 || byte == 0x22 || byte == 0x5C {
                        stopped = j
                        return i &+ j
                    }
                    p[i &+ j] = byte
                    j &+= 1
                }
            }
            i &+= j
            return i &+ Self.putClosingQuote(key: key, pretty: pretty, p + i)
        }
        if _slowPath(stopped < n) {
            quotedTail(UnsafeBufferPointer(rebasing: utf8[stopped...]))
            write(reserving: 3) { p in Self.putClosingQuote(key: key, pretty: pretty, p) }
        }
        if key { slot = .afterKey }
    }

    /// `"`, and after a key `:` (and a space, pretty); how many bytes (at most 3).
    @inlinable @inline(__always)
    static func putClosingQuote(key: Bool, pretty: Bool, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        p[0] = UInt8(ascii: "\"")
        if !key { return 1 }
        p[1] = UInt8(ascii: ":")
        if pretty { p[2] = 0x20 }
        return pretty ? 3 : 2
    }

    /// The escapes RFC 8259 requires (`"`, `\`, controls); everything else copied as is.
    @usableFromInline
    mutating func quotedTail(_ utf8: UnsafeBufferPointer<UInt8>) {
        let n = utf8.count
        guard let base = utf8.baseAddress else { return }
        write(reserving: n &* 6) { p in
            var i = 0
            var j = 0
            let hex = JSONWriter.hexDigits.utf8Start
            while j < n {
                if n &- j >= 8 {
                    let word = UnsafeRawPointer(base + j).loadUnaligned(as: UInt64.self)
                    if !Self.needsEscape(word) {
                        UnsafeMutableRawPointer(p + i).storeBytes(of: word, as: UInt64.self)
                        i &+= 8
                        j &+= 8
                        continue
                    }
                }
                let byte = base[j]
                j &+= 1
                let escape: UInt8
                switch byte {
                case 0x22: escape = 0x22
                case 0x5C: escape = 0x5C
                case 0x0A: escape = UInt8(ascii: "n")
                case 0x0D: escape = UInt8(ascii: "r")
                case 0x09: escape = UInt8(ascii: "t")
                case 0x08: escape = UInt8(ascii: "b")
                case 0x0C: escape = UInt8(ascii: "f")
                case ..<0x20:
                    p[i] = 0x5C
                    p[i &+ 1] = UInt8(ascii: "u")
                    p[i &+ 2] = UInt8(ascii: "0")
                    p[i &+ 3] = UInt8(ascii: "0")
                    p[i &+ 4] = hex[Int(byte >> 4)]
                    p[i &+ 5] = hex[Int(byte & 0xF)]
                    i &+= 6
                    continue
                default:
                    p[i] = byte
                    i &+= 1
                    continue
                }
                p[i] = 0x5C
                p[i &+ 1] = escape
                i &+= 2
            }
            return i
        }
    }

    @usableFromInline static let hexDigits: StaticString = "0123456789abcdef"

    /// Whether any of the eight bytes is below 0x20, `"` or `\` (SWAR; may report a byte after
    /// a real one, never miss one).
    @inlinable @inline(__always)
    static func needsEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let below = (word &- 0x2020_2020_2020_2020) & ~word & highs
        let quote = word ^ 0x2222_2222_2222_2222
        let backslash = word ^ 0x5C5C_5C5C_5C5C_5C5C
        let quotes = (quote &- ones) & ~quote & highs
        let backslashes = (backslash &- ones) & ~backslash & highs
        return (below | quotes | backslashes) != 0
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

    // MARK: Doubles

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
    /// The member name, as given.
    public let stringValue: String
    /// Always nil: a `JSONKey` names an object member, never an array position.
    public var intValue: Int? { nil }
    /// A key for the member named `text`.
    public init(_ text: String) { stringValue = text }
    /// A key for the member named `stringValue`; never fails.
    public init(stringValue: String) { self.stringValue = stringValue }
    /// A key from a literal: `let id: JSONKey = "id"`.
    public init(stringLiteral value: String) { stringValue = value }
    /// Always nil: integer keys are not supported.
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
