public import CSwitchboard

#if canImport(Glibc)
import Glibc
#endif

/// C copies of strings for one host call that copies what it keeps (route_add): freed together
/// when the scope ends.
final class CStrings {
    private var blocks: [UnsafeMutableRawPointer] = []

    static func scope<R>(_ body: (CStrings) -> R) -> R {
        let strings = CStrings()
        defer { for block in strings.blocks { free(block) } }
        return body(strings)
    }

    func str(_ text: String) -> sb_str {
        guard !text.isEmpty else { return sb_str(ptr: nil, len: 0) }
        let copy = strdup(text)!
        blocks.append(UnsafeMutableRawPointer(copy))
        return sb_str(ptr: UnsafePointer(copy), len: strlen(copy))
    }

    func strs(_ texts: [String]) -> UnsafePointer<sb_str>? {
        guard !texts.isEmpty else { return nil }
        let raw = malloc(MemoryLayout<sb_str>.stride * texts.count)!
        let array = raw.bindMemory(to: sb_str.self, capacity: texts.count)
        for (i, text) in texts.enumerated() { (array + i).initialize(to: str(text)) }
        blocks.append(raw)
        return UnsafePointer(array)
    }
}

/// Lends `text` as an sb_str for the duration of `body` (the host copies what it keeps).
func withSBStr<R>(_ text: String, _ body: (sb_str) -> R) -> R {
    var text = text
    return text.withUTF8 { utf8 in
        utf8.withMemoryRebound(to: CChar.self) { body(sb_str(ptr: $0.baseAddress, len: $0.count)) }
    }
}

/// Lends `bytes` as sb_bytes for the duration of `body`.
func withSBBytes<R>(_ bytes: some Collection<UInt8>, _ body: (sb_bytes) -> R) -> R {
    if let result = bytes.withContiguousStorageIfAvailable({ body(sb_bytes(ptr: $0.baseAddress, len: $0.count)) }) {
        return result
    }
    return Array(bytes).withUnsafeBufferPointer { body(sb_bytes(ptr: $0.baseAddress, len: $0.count)) }
}

extension sb_str {
    /// A copy of the text (invalid UTF-8 repaired).
    public var text: String {
        guard let ptr, len > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: ptr, count: len), as: UTF8.self)
    }
}

extension sb_bytes {
    /// A copy of the bytes.
    public var array: [UInt8] {
        guard let ptr, len > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: ptr, count: len))
    }
}
