#if canImport(Glibc)
import Glibc
#endif

extension StringProtocol {
    /// Equal code point by code point (the same UTF-8 bytes), as Python, JSON member names and
    /// HTTP compare strings. Swift's `==` compares by canonical equivalence instead, so
    /// `"e\u{301}" == "\u{E9}"`, which none of those would say.
    /// Native strings compare with one `memcmp`; it runs on every request (route lookup).
    @inlinable public func hasSameCodePoints(as other: some StringProtocol) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        let compared = utf8.withContiguousStorageIfAvailable { a in
            other.utf8.withContiguousStorageIfAvailable { b in a.isEmpty || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0 }
        }
        if let compared, let compared { return compared }
        return utf8.elementsEqual(other.utf8)
    }
}

extension StringProtocol {
    /// Whether `bytes` are this string's UTF-8, byte for byte: the same code points when they are
    /// UTF-8, and never equal when they are not. For names a plugin passes as (pointer, length),
    /// matched without decoding or copying them (a lossy decoding would make `"a\xFF"` and
    /// `"a\xFE"` one name).
    @inlinable public func hasSameCodePoints(asUTF8 bytes: UnsafeRawBufferPointer) -> Bool {
        guard utf8.count == bytes.count else { return false }
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return true }
        if let compared = utf8.withContiguousStorageIfAvailable({ memcmp($0.baseAddress!, base, bytes.count) == 0 }) { return compared }
        return utf8.elementsEqual(bytes)
    }
}

/// A string as a dictionary or set key that equals another only when their code points do
/// (`hasSameCodePoints`). `String`'s own `Hashable` identifies canonically equivalent strings, so
/// `"e\u{301}"` and `"\u{E9}"` would be one key: one topic, one prefix, one route segment.
/// Wraps a `Substring`, so a lookup by a slice of a request copies nothing.
public struct CodePointKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The key's text. A key made from a slice keeps the slice's whole string alive while the
    /// key lives: make stored keys from their own strings, lookup keys from request slices.
    public let text: Substring

    /// A key for all of `text`.
    public init(_ text: String) { self.text = text[...] }
    /// A key for `text`, nothing copied (see `text` for what it keeps alive).
    public init(_ text: Substring) { self.text = text }

    /// The key's text as its own `String` (a copy).
    public var string: String { String(text) }

    public static func == (a: Self, b: Self) -> Bool { a.text.hasSameCodePoints(as: b.text) }

    /// By UTF-8 bytes, which is code point order.
    public static func < (a: Self, b: Self) -> Bool { a.text.utf8.lexicographicallyPrecedes(b.text.utf8) }

    public func hash(into hasher: inout Hasher) {
        // Equal keys hash their bytes in one call either way (native strings are contiguous).
        let hashed: Void? = text.utf8.withContiguousStorageIfAvailable { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
        if hashed == nil { Array(text.utf8).withUnsafeBytes { hasher.combine(bytes: $0) } }
    }

    public var description: String { String(text) }
}
