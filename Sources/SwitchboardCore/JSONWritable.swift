#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A value that writes its own JSON straight into a `JSONWriter`: the SDK encoder's fast path.
/// `Response.json` and `JSONEncoding.encode` take it before `Encodable`, and its writing compiles
/// to direct stores, with no Codable containers, existentials or key strings made per value.
///
///     struct User: JSONWritable {
///         let id: Int, name: String, created: Date
///         func write(to w: inout JSONWriter) throws {
///             try w.object { w in
///                 w.member("id", id)
///                 w.member("name", name)
///                 try w.member("created", created)
///             }
///         }
///     }
///
/// A conformance writes exactly one value (an object, an array or a scalar) and leaves every
/// container it opened closed. Keys pass through the writer's key strategy (`JSONOptions.keys`).
/// The standard types below conform as `JSONEncoding` writes them through `Encodable`: `Date` as
/// ISO 8601 with `+00:00`, `UUID` as its lower-case string, `Decimal` as a number, `nil` as `null`.
public protocol JSONWritable {
    /// Writes this value as the writer's next value.
    /// - Throws: `JSONWriter.NonFiniteNumber` (NaN, infinity), `ISO8601.OutOfRange` (a date
    ///   outside years 1 to 9999), or the conformance's own error; the route answers 500 with a
    ///   JSON body.
    func write(to writer: inout JSONWriter) throws
}

extension String: JSONWritable {
    /// Writes the string quoted, with the escapes RFC 8259 requires (`JSONWriter.string`).
    @inlinable public func write(to writer: inout JSONWriter) { writer.string(self) }
}

extension Int: JSONWritable {
    /// Writes the integer in decimal.
    @inlinable public func write(to writer: inout JSONWriter) { writer.int(self) }
}

extension Int64: JSONWritable {
    /// Writes the integer in decimal.
    @inlinable public func write(to writer: inout JSONWriter) { writer.int(self) }
}

extension Int32: JSONWritable {
    /// Writes the integer in decimal.
    @inlinable public func write(to writer: inout JSONWriter) { writer.int(self) }
}

extension UInt64: JSONWritable {
    /// Writes the integer in decimal, exact past `Int64.max`.
    @inlinable public func write(to writer: inout JSONWriter) { writer.int(self) }
}

extension Bool: JSONWritable {
    /// Writes `true` or `false`.
    @inlinable public func write(to writer: inout JSONWriter) { writer.bool(self) }
}

extension Double: JSONWritable {
    /// Writes the double as Python's `repr` spells it (`1.0`, `1e-07`).
    /// - Throws: `JSONWriter.NonFiniteNumber` for NaN or infinity (nothing is written).
    @inlinable public func write(to writer: inout JSONWriter) throws { try writer.double(self) }
}

extension UUID: JSONWritable {
    /// Writes the UUID as its quoted lower-case string, as Python's `str(uuid)`.
    @inlinable public func write(to writer: inout JSONWriter) { writer.uuid(uuid) }
}

extension Date: JSONWritable {
    /// Writes the date as `ISO8601.format` does, quoted, with `+00:00`.
    /// - Throws: `ISO8601.OutOfRange` for a date outside years 1 to 9999 (nothing is written).
    @inlinable public func write(to writer: inout JSONWriter) throws { try writer.date(self) }
}

extension NaiveUTC: JSONWritable {
    /// Writes the date as `ISO8601.format` does, quoted, without an offset.
    /// - Throws: `ISO8601.OutOfRange` for a date outside years 1 to 9999 (nothing is written).
    @inlinable public func write(to writer: inout JSONWriter) throws { try writer.date(date, offset: false) }
}

extension Decimal: JSONWritable {
    /// - Throws: `JSONWriter.NonFiniteNumber` for a NaN decimal.
    public func write(to writer: inout JSONWriter) throws {
        guard isFinite else { throw JSONWriter.NonFiniteNumber(value: .nan) }
        writer.number(text: description)
    }
}

extension JSONValue: JSONWritable {
    /// Writes the whole tree (`JSONWriter.value`).
    /// - Throws: `JSONWriter.NonFiniteNumber` for a NaN or infinite `.double` anywhere in it.
    public func write(to writer: inout JSONWriter) throws { try writer.value(self) }
}

extension Optional: JSONWritable where Wrapped: JSONWritable {
    /// Writes the wrapped value, or `null` for nil.
    @inlinable public func write(to writer: inout JSONWriter) throws {
        if let self { try self.write(to: &writer) } else { writer.null() }
    }
}

extension Array: JSONWritable where Element: JSONWritable {
    /// Writes a JSON array of the elements, in order.
    /// - Throws: the first error an element's `write(to:)` throws (the array is left unfinished).
    @inlinable public func write(to writer: inout JSONWriter) throws {
        writer.beginArray()
        // Through the buffer: each element is borrowed, not copied (no retain per element).
        try withUnsafeBufferPointer { elements in
            for i in elements.indices { try elements[i].write(to: &writer) }
        }
        writer.endArray()
    }
}

extension Dictionary: JSONWritable where Key == String, Value: JSONWritable {
    /// Members in the dictionary's iteration order (which Swift does not fix); use
    /// `JSONOptions.sortedKeys` or a `KeyValuePairs` for a stable order.
    @inlinable public func write(to writer: inout JSONWriter) throws { try writer.members(self) }
}

extension KeyValuePairs: JSONWritable where Key == String, Value: JSONWritable {
    /// Members in the order written.
    @inlinable public func write(to writer: inout JSONWriter) throws { try writer.members(self) }
}

extension JSONWriter {
    /// An object of these members, in the sequence's order.
    @inlinable
    public mutating func members<Value: JSONWritable>(_ members: some Sequence<(key: String, value: Value)>) throws {
        beginObject()
        for (key, value) in members {
            self.key(key)
            try value.write(to: &self)
        }
        endObject()
    }
}
