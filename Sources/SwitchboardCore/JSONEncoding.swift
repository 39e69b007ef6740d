#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Encodes `Encodable` values to JSON, written straight into one buffer by `JSONWriter`: object
/// keys in the order they are encoded (declaration order for synthesised conformances), as
/// FastAPI keeps a model's field order. `Date` is written as ISO 8601 in UTC with microseconds
/// and an offset (`2024-01-15T12:00:00.123456+00:00`, as orjson writes an aware datetime; wrap it
/// in `NaiveUTC` for orjson's naive form), `UUID` as its lower-case string (as Python's `str`),
/// `Decimal` as a number. NaN and infinity throw `JSONWriter.NonFiniteNumber`, naming where.
public enum JSONEncoding {
    /// NaN or infinity, which JSON cannot carry (`JSONWriter.NonFiniteNumber`).
    public typealias NonFiniteNumber = JSONWriter.NonFiniteNumber

    /// The JSON bytes of `value`, written by its own `write(to:)` (no Codable containers).
    /// - Throws: what `write(to:)` throws (`NonFiniteNumber`, `ISO8601.OutOfRange`, its own).
    @inlinable
    public static func encode(_ value: some JSONWritable, options: JSONOptions = .compact) throws -> [UInt8] {
        try writing(value, options: options)
    }

    /// For a type that is both: its own `write(to:)`, the fast path.
    @inlinable
    public static func encode(_ value: some JSONWritable & Encodable, options: JSONOptions = .compact) throws -> [UInt8] {
        try writing(value, options: options)
    }

    @inlinable
    static func writing(_ value: some JSONWritable, options: JSONOptions) throws -> [UInt8] {
        // Sorting needs every member before writing the first: a compact pass, then the tree
        // (as the Encodable path does, so both merge and convert keys alike).
        var writer = JSONWriter(options: options.sortedKeys ? .compact : options, capacity: 1024)
        try value.write(to: &writer)
        guard writer.isComplete, writer.byteCount > 0 else { throw MalformedDocument(type: "\(type(of: value))") }
        if options.sortedKeys {
            let tree = try JSONValue.parse(writer.takeBytes())
            writer = JSONWriter(options: options, capacity: 1024)
            try writer.value(tree)
        }
        return writer.takeBytes()
    }

    /// A `JSONWritable` conformance that wrote no value or two, left a container open or ended
    /// one it had not begun: a bug in the conformance, answered 500 rather than sent as broken
    /// JSON.
    public struct MalformedDocument: Error, CustomStringConvertible {
        /// The name of the type whose `write(to:)` misbehaved, as `type(of:)` prints it.
        public let type: String
        @usableFromInline init(type: String) { self.type = type }
        /// The type and what it did wrong, for the log.
        public var description: String { "\(type).write(to:) did not write exactly one complete JSON value" }
    }

    /// The JSON text of a `JSONWritable` value (its own `write(to:)`).
    @inlinable
    public static func encode(_ value: some JSONWritable) throws -> String {
        String(decoding: try writing(value, options: .compact), as: UTF8.self)
    }

    /// The JSON text of a value that is both: its own `write(to:)`.
    @inlinable
    public static func encode(_ value: some JSONWritable & Encodable) throws -> String {
        String(decoding: try writing(value, options: .compact), as: UTF8.self)
    }

    /// The JSON bytes of `value`, through its `Encodable` conformance.
    public static func encode(_ value: some Encodable, options: JSONOptions = .compact) throws -> [UInt8] {
        if options.sortedKeys {
            // Sorting needs every member before writing the first: through the tree.
            let tree = try JSONValue(encoding: value)
            var writer = JSONWriter(options: options)
            try writer.value(tree)
            return writer.takeBytes()
        }
        let encoder = DirectEncoder(options: options)
        try encoder.encodeValue(value)
        if let failure = encoder.failure { throw failure }
        return encoder.writer.takeBytes()
    }

    /// The JSON text of `value`.
    public static func encode(_ value: some Encodable) throws -> String {
        String(decoding: try encode(value, options: .compact), as: UTF8.self)
    }
}

/// A date written as orjson writes a naive datetime: ISO 8601 in UTC, microseconds (unless
/// zero), no offset (`2024-01-15T12:00:00.123456`), what `datetime.utcnow()` gives.
public struct NaiveUTC: Encodable, Sendable {
    /// The instant to write; its UTC date and time are written, without an offset.
    public var date: Date
    /// Wraps `date` for the naive form.
    public init(_ date: Date) { self.date = date }

    /// Encodes the date as one string, `ISO8601.format(date, offset: false)`.
    /// - Throws: `ISO8601.OutOfRange` for a date outside years 1 to 9999, or the encoder's error.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(try ISO8601.format(date, offset: false))
    }
}

/// ISO 8601 date-times as Python's `datetime.isoformat()` writes them in UTC.
public enum ISO8601 {
    /// `2024-01-15T12:00:00.123456+00:00` (or without `+00:00`); the fraction is left out when
    /// it is zero (`2024-01-15T12:00:00+00:00`), as `isoformat()` and orjson write it.
    /// - Throws: `OutOfRange` for a date outside years 1 to 9999 (what `datetime` can hold),
    ///   NaN or infinity.
    public static func format(_ date: Date, offset: Bool = true) throws(OutOfRange) -> String {
        let seconds = date.timeIntervalSince1970
        guard isRepresentable(seconds) else { throw OutOfRange(seconds: seconds) }
        return String(unsafeUninitializedCapacity: maximumLength) { put(seconds, offset: offset, $0.baseAddress!) }
    }

    /// The longest text `format` writes, in bytes (`9999-12-31T23:59:59.999999+00:00`).
    public static let maximumLength = 32

    /// Whether `seconds` since 1970 falls in years 1 to 9999, UTC (what `datetime` can hold).
    @usableFromInline
    static func isRepresentable(_ seconds: Double) -> Bool {
        seconds.isFinite && seconds >= -62_135_596_800 && seconds < 253_402_300_800
    }

    /// Writes `format`'s text for `seconds` (representable) at `p`, at most `maximumLength`
    /// bytes; how many.
    @usableFromInline
    static func put(_ seconds: Double, offset: Bool, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        var whole = Int64(seconds.rounded(.down))
        var micros = Int64(((seconds - Double(whole)) * 1_000_000).rounded())
        if micros >= 1_000_000 {
            whole += 1
            micros -= 1_000_000
        }
        let days = whole >= 0 ? whole / 86_400 : (whole - 86_399) / 86_400
        let secondOfDay = whole - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        var i = 0
        func digits(_ n: Int64, _ width: Int, then separator: UInt8?) {
            var n = n
            for k in stride(from: width - 1, through: 0, by: -1) {
                p[i + k] = UInt8(ascii: "0") + UInt8(truncatingIfNeeded: n % 10)
                n /= 10
            }
            i += width
            if let separator {
                p[i] = separator
                i += 1
            }
        }
        digits(year, 4, then: UInt8(ascii: "-"))
        digits(month, 2, then: UInt8(ascii: "-"))
        digits(day, 2, then: UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2, then: UInt8(ascii: ":"))
        digits(secondOfDay / 60 % 60, 2, then: UInt8(ascii: ":"))
        digits(secondOfDay % 60, 2, then: nil)
        if micros != 0 {
            p[i] = UInt8(ascii: ".")
            i += 1
            digits(micros, 6, then: nil)
        }
        if offset {
            for byte in "+00:00".utf8 {
                p[i] = byte
                i += 1
            }
        }
        return i
    }

    /// A date JSON's ISO 8601 form cannot carry (seconds since 1970).
    public struct OutOfRange: Error, CustomStringConvertible {
        /// The refused date, in seconds since the Unix epoch (NaN or infinite for such a `Date`).
        public let seconds: Double
        @usableFromInline init(seconds: Double) { self.seconds = seconds }
        /// The refused date and the range it left, for the log.
        public var description: String { "a date \(seconds) s from 1970 is outside years 1 to 9999" }
    }

    /// Proleptic Gregorian year, month, day of a day count from 1970-01-01 (H. Hinnant's
    /// `civil_from_days`).
    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension JSONWriter {
    /// A date as `ISO8601.format` writes it, quoted, as the next value.
    /// - Throws: `ISO8601.OutOfRange` for a date outside years 1 to 9999 (nothing is written).
    @inlinable
    public mutating func date(_ date: Date, offset: Bool = true) throws(ISO8601.OutOfRange) {
        let seconds = date.timeIntervalSince1970
        guard ISO8601.isRepresentable(seconds) else { throw ISO8601.OutOfRange(seconds: seconds) }
        writeValue(reserving: ISO8601.maximumLength &+ 2) { p in
            var i = 0
            p[i] = UInt8(ascii: "\"")
            i &+= 1
            i &+= ISO8601.put(seconds, offset: offset, p + i)
            p[i] = UInt8(ascii: "\"")
            return i &+ 1
        }
    }

    /// Writes a whole `JSONValue` (objects keep their member order, unless `sortedKeys`).
    public mutating func value(_ value: JSONValue) throws(NonFiniteNumber) {
        switch value {
        case .null: null()
        case .bool(let b): bool(b)
        case .int(let i): int(i)
        case .double(let d): try double(d)
        case .string(let s): string(s)
        case .array(let items):
            beginArray()
            for item in items { try self.value(item) }
            endArray()
        case .object(let members):
            beginObject()
            if options.sortedKeys {
                let converted = members.map { (options.keys == .camelCase ? JSONWriter.camelCase($0.0) : $0.0, $0.1) }
                for (name, member) in converted.sorted(by: { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }) {
                    key(converted: name)
                    try self.value(member)
                }
            } else {
                for (name, member) in members {
                    key(name)
                    try self.value(member)
                }
            }
            endObject()
        }
    }
}

// MARK: - The Encoder

/// Writes as `encode(to:)` calls arrive. Codable has no "container finished" call, so each open
/// container is a frame on a stack: writing to a container first closes the frames above it
/// (nested containers it opened earlier are done by then), and a value's frames are closed when
/// its `encode(to:)` returns.
final class DirectEncoder {
    // Unchecked: the encoder is used by one encode call on one thread, and the checks would cost
    // a runtime call per value written.
    @exclusivity(unchecked) var writer: JSONWriter
    /// Open containers, innermost last; each is closed with `}` or `]`. A container's id tells
    /// it from a later one at the same depth.
    @exclusivity(unchecked) private var frames: [(object: Bool, id: Int)] = []
    private var nextID = 0
    /// A misuse found where Codable gives no way to throw (a container made from one that was
    /// already closed); thrown when the encoding ends.
    var failure: (any Error)? = nil
    /// The keys leading to the value being written: a coding path is built from it only when
    /// asked for (an error, or a type that reads `codingPath`), not for every value.
    @exclusivity(unchecked) var keys: [any CodingKey] = []

    init(options: JSONOptions) { writer = JSONWriter(options: options, capacity: 1024) }

    /// Closes every frame above `depth` (keeps `depth` frames open).
    @inline(__always)
    func close(above depth: Int) {
        while frames.count > depth {
            if frames.removeLast().object { writer.endObject() } else { writer.endArray() }
        }
    }

    /// Opens a container; its id.
    func open(object: Bool) -> Int {
        if object { writer.beginObject() } else { writer.beginArray() }
        nextID += 1
        frames.append((object, nextID))
        return nextID
    }

    var depth: Int { frames.count }

    func id(atDepth depth: Int) -> Int { frames.count >= depth && depth > 0 ? frames[depth - 1].id : -1 }

    /// Whether the container `id` at `depth` is still open. Writing order is the JSON's order:
    /// a container written to after a later sibling was started is closed by then, and writing
    /// into it would put the value in the wrong place.
    func isOpen(_ depth: Int, _ id: Int) -> Bool { frames.count >= depth && depth > 0 && frames[depth - 1].id == id }

    func misuse(_ value: Any, _ length: Int) -> EncodingError {
        EncodingError.invalidValue(
            value,
            .init(
                codingPath: path(length),
                debugDescription: "JSONEncoding writes as values arrive: this container was written to after a later sibling had been started"))
    }

    /// Keeps the first `length` keys (the path of the container writing now).
    @inline(__always)
    func truncateKeys(to length: Int) {
        if keys.count > length { keys.removeSubrange(length...) }
    }

    /// Encodes one value at the writer's current slot (after a key, or as an element).
    func encodeValue<T: Encodable>(_ value: T) throws {
        // Types with a JSON form of their own, found by type identity (no dynamic casts).
        if T.self == String.self { return writer.string(unsafeBitCast(value, to: String.self)) }
        if T.self == Int.self { return writer.int(unsafeBitCast(value, to: Int.self)) }
        if T.self == Double.self { return try double(unsafeBitCast(value, to: Double.self)) }
        if T.self == Bool.self { return writer.bool(unsafeBitCast(value, to: Bool.self)) }
        if T.self == Date.self { return try writer.date(unsafeBitCast(value, to: Date.self)) }
        if T.self == NaiveUTC.self { return try writer.date(unsafeBitCast(value, to: NaiveUTC.self).date, offset: false) }
        if T.self == UUID.self { return writer.uuid(unsafeBitCast(value, to: UUID.self).uuid) }
        if T.self == Decimal.self {
            let decimal = value as! Decimal
            guard decimal.isFinite else { throw JSONWriter.NonFiniteNumber(value: .nan, codingPath: keys.map(\.stringValue).joined(separator: ".")) }
            return writer.number(text: decimal.description)
        }
        if T.self == JSONValue.self { return try writer.value(value as! JSONValue) }
        let mark = frames.count
        let before = writer.byteCount
        try value.encode(to: SlotEncoder(encoder: self, depth: mark, pathLength: keys.count))
        if let failure { throw failure }
        close(above: mark)
        // A value that encoded nothing at all is an empty object (as Foundation's encoder writes).
        if writer.byteCount == before { writer.beginObject(); writer.endObject() }
    }

    /// `value`, or `NonFiniteNumber` naming the keys that lead to it (and `last`, when given).
    func double(_ value: Double, last: (any CodingKey)? = nil) throws {
        do {
            try writer.double(value)
        } catch {
            var error = error
            error.codingPath = (keys + (last.map { [$0] } ?? [])).map(\.stringValue).joined(separator: ".")
            throw error
        }
    }

    /// Writes `value` under `key` (pushed for the value's coding path while it is written).
    @inline(__always)
    func encodeValue<T: Encodable>(_ value: T, under key: any CodingKey) throws {
        keys.append(key)
        defer { keys.removeLast() }
        try encodeValue(value)
    }

    func path(_ length: Int) -> [any CodingKey] { Array(keys.prefix(length)) }
}

/// The `Encoder` handed to one value's `encode(to:)`; `depth` is the number of frames open
/// outside the value.
struct SlotEncoder: Encoder {
    let encoder: DirectEncoder
    let depth: Int
    /// How many of the encoder's keys lead here.
    let pathLength: Int
    var codingPath: [any CodingKey] { encoder.path(pathLength) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        // Asked twice by one value: the same object.
        let id: Int
        if encoder.depth <= depth { id = encoder.open(object: true) } else { encoder.close(above: depth + 1); id = encoder.id(atDepth: depth + 1) }
        return KeyedEncodingContainer(DirectKeyed<Key>(encoder: encoder, depth: depth + 1, id: id, pathLength: pathLength))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let id: Int
        if encoder.depth <= depth { id = encoder.open(object: false) } else { encoder.close(above: depth + 1); id = encoder.id(atDepth: depth + 1) }
        return DirectUnkeyed(encoder: encoder, depth: depth + 1, id: id, pathLength: pathLength)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        DirectSingle(encoder: encoder, pathLength: pathLength)
    }
}

struct DirectSingle: SingleValueEncodingContainer {
    let encoder: DirectEncoder
    let pathLength: Int
    var codingPath: [any CodingKey] { encoder.path(pathLength) }

    mutating func encodeNil() throws { encoder.writer.null() }
    mutating func encode(_ value: Bool) throws { encoder.writer.bool(value) }
    mutating func encode(_ value: String) throws { encoder.writer.string(value) }
    mutating func encode(_ value: Double) throws { try encoder.double(value) }
    mutating func encode(_ value: Float) throws { try encoder.double(Double(value)) }
    mutating func encode(_ value: Int) throws { encoder.writer.int(value) }
    mutating func encode(_ value: Int8) throws { encoder.writer.int(value) }
    mutating func encode(_ value: Int16) throws { encoder.writer.int(value) }
    mutating func encode(_ value: Int32) throws { encoder.writer.int(value) }
    mutating func encode(_ value: Int64) throws { encoder.writer.int(value) }
    mutating func encode(_ value: UInt) throws { encoder.writer.int(value) }
    mutating func encode(_ value: UInt8) throws { encoder.writer.int(value) }
    mutating func encode(_ value: UInt16) throws { encoder.writer.int(value) }
    mutating func encode(_ value: UInt32) throws { encoder.writer.int(value) }
    mutating func encode(_ value: UInt64) throws { encoder.writer.int(value) }
    mutating func encode<T: Encodable>(_ value: T) throws { try encoder.encodeValue(value) }
}

struct DirectKeyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: DirectEncoder
    /// Frames open while this object is the innermost.
    let depth: Int
    /// This object's frame.
    let id: Int
    let pathLength: Int
    var codingPath: [any CodingKey] { encoder.path(pathLength) }

    /// Closes what this object opened before, and writes the key; refuses a closed object.
    @inline(__always)
    private func key(_ key: Key) throws {
        guard encoder.isOpen(depth, id) else { throw encoder.misuse(key.stringValue, pathLength) }
        encoder.close(above: depth)
        encoder.writer.key(key.stringValue)
    }

    /// As `key`, where Codable gives no way to throw: the misuse is thrown when encoding ends.
    private func keyForNested(_ key: Key) -> Bool {
        do {
            try self.key(key)
            return true
        } catch {
            if encoder.failure == nil { encoder.failure = error }
            return false
        }
    }

    mutating func encodeNil(forKey key: Key) throws { try self.key(key); encoder.writer.null() }
    mutating func encode(_ value: Bool, forKey key: Key) throws { try self.key(key); encoder.writer.bool(value) }
    mutating func encode(_ value: String, forKey key: Key) throws { try self.key(key); encoder.writer.string(value) }
    mutating func encode(_ value: Double, forKey key: Key) throws { try self.key(key); try encoder.double(value, last: key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { try self.key(key); try encoder.double(Double(value), last: key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { try self.key(key); encoder.writer.int(value) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try self.key(key); encoder.writer.int(value) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try self.key(key); encoder.writer.int(value) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try self.key(key); encoder.writer.int(value) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { try self.key(key); encoder.writer.int(value) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try self.key(key); encoder.writer.int(value) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try self.key(key); encoder.writer.int(value) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try self.key(key); encoder.writer.int(value) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try self.key(key); encoder.writer.int(value) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { try self.key(key); encoder.writer.int(value) }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try self.key(key)
        encoder.truncateKeys(to: pathLength)
        try encoder.encodeValue(value, under: key)
    }

    // A nested container's path is fixed when it is made: its key stays on the stack for it.
    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let open = keyForNested(key)
        let id = open ? encoder.open(object: true) : -1
        encoder.truncateKeys(to: pathLength)
        encoder.keys.append(key)
        return KeyedEncodingContainer(DirectKeyed<NestedKey>(encoder: encoder, depth: depth + 1, id: id, pathLength: pathLength + 1))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let open = keyForNested(key)
        let id = open ? encoder.open(object: false) : -1
        encoder.truncateKeys(to: pathLength)
        encoder.keys.append(key)
        return DirectUnkeyed(encoder: encoder, depth: depth + 1, id: id, pathLength: pathLength + 1)
    }

    mutating func superEncoder() -> any Encoder {
        if encoder.isOpen(depth, id) {
            encoder.close(above: depth)
            encoder.writer.key("super")
        } else if encoder.failure == nil {
            encoder.failure = encoder.misuse("super", pathLength)
        }
        return SlotEncoder(encoder: encoder, depth: depth, pathLength: pathLength)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        _ = keyForNested(key)
        encoder.truncateKeys(to: pathLength)
        encoder.keys.append(key)
        return SlotEncoder(encoder: encoder, depth: depth, pathLength: pathLength + 1)
    }
}

struct DirectUnkeyed: UnkeyedEncodingContainer {
    let encoder: DirectEncoder
    let depth: Int
    let id: Int
    let pathLength: Int
    var codingPath: [any CodingKey] { encoder.path(pathLength) }
    private(set) var count = 0

    init(encoder: DirectEncoder, depth: Int, id: Int, pathLength: Int) {
        self.encoder = encoder
        self.depth = depth
        self.id = id
        self.pathLength = pathLength
    }

    /// Closes what this array opened before; refuses a closed array.
    @inline(__always)
    private mutating func element() throws {
        guard encoder.isOpen(depth, id) else { throw encoder.misuse(count, pathLength) }
        encoder.close(above: depth)
        count += 1
    }

    private mutating func elementForNested() -> Bool {
        do {
            try element()
            return true
        } catch {
            if encoder.failure == nil { encoder.failure = error }
            return false
        }
    }

    mutating func encodeNil() throws { try element(); encoder.writer.null() }
    mutating func encode(_ value: Bool) throws { try element(); encoder.writer.bool(value) }
    mutating func encode(_ value: String) throws { try element(); encoder.writer.string(value) }
    mutating func encode(_ value: Double) throws { try element(); try encoder.double(value, last: IndexKey(count - 1)) }
    mutating func encode(_ value: Int) throws { try element(); encoder.writer.int(value) }
    mutating func encode(_ value: Int64) throws { try element(); encoder.writer.int(value) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try element()
        encoder.truncateKeys(to: pathLength)
        try encoder.encodeValue(value, under: IndexKey(count - 1))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let id = elementForNested() ? encoder.open(object: true) : -1
        return KeyedEncodingContainer(DirectKeyed<NestedKey>(encoder: encoder, depth: depth + 1, id: id, pathLength: pathLength))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let id = elementForNested() ? encoder.open(object: false) : -1
        return DirectUnkeyed(encoder: encoder, depth: depth + 1, id: id, pathLength: pathLength)
    }

    mutating func superEncoder() -> any Encoder {
        _ = elementForNested()
        return SlotEncoder(encoder: encoder, depth: depth, pathLength: pathLength)
    }
}

struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { String(intValue ?? 0) }
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

// MARK: - Encodable to a tree (for sorted keys)

extension JSONValue {
    /// The tree of `value`'s JSON (what sorting keys needs), through the direct encoder's bytes.
    init(encoding value: some Encodable) throws {
        let encoder = DirectEncoder(options: .compact)
        try encoder.encodeValue(value)
        self = try JSONValue.parse(encoder.writer.bytes)
    }
}
