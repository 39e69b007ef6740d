import CSwitchboard
import SwitchboardRouting

extension sb_str {
    /// The bytes, borrowed as the lending call's rules say (for a plugin's argument: the call).
    /// Empty for a NULL `ptr` whatever `len` says, as `validatedString` reads it: a plugin's
    /// mistake is refused by what the call expects of the bytes, never read through NULL.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: len > 0 ? ptr : nil, count: ptr == nil ? 0 : len) }
}

extension sb_bytes {
    /// The bytes, borrowed as `sb_str.bytes` is; empty for a NULL `ptr` whatever `len` says.
    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: len > 0 ? ptr : nil, count: ptr == nil ? 0 : len) }
}

/// A NUL-terminated C string from a descriptor; nil for NULL, lossy for invalid UTF-8.
func stringFromC(_ ptr: UnsafePointer<CChar>?) -> String? {
    guard let ptr else { return nil }
    return String(decoding: UnsafeRawBufferPointer(start: ptr, count: strlen(ptr)), as: UTF8.self)
}

#if canImport(Glibc)
import Glibc
#endif

/// Memory for strings the host lends to a plugin: each copy stays put until the arena is freed.
/// Not thread-safe: its owner locks around every use.
final class BorrowArena: @unchecked Sendable {  // not thread-safe: every use holds its owner's lock
    private var blocks: [UnsafeMutableRawPointer] = []
    private var cursor: UnsafeMutableRawPointer? = nil
    private var remaining = 0

    init() {}

    /// Copies `bytes` (plus a NUL, so the copy is also a C string) and returns the copy.
    func copy(_ bytes: UnsafeRawBufferPointer) -> sb_str {
        let needed = bytes.count + 1
        if needed > remaining {
            let size = max(needed, 256)
            let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 1)
            blocks.append(block)
            cursor = block
            remaining = size
        }
        let dst = cursor!
        if let base = bytes.baseAddress { dst.copyMemory(from: base, byteCount: bytes.count) }
        dst.storeBytes(of: 0, toByteOffset: bytes.count, as: UInt8.self)
        cursor = dst + needed
        remaining -= needed
        return sb_str(ptr: dst.assumingMemoryBound(to: CChar.self), len: bytes.count)
    }

    func copy(_ string: String) -> sb_str {
        var s = string
        return s.withUTF8 { copy(UnsafeRawBufferPointer($0)) }
    }

    deinit {
        for block in blocks { block.deallocate() }
    }
}

// (pointer, length) values: whether the memory they point at may cross threads is the business of
// whoever lends it, and each lending site documents that (see switchboard.h, rule 4).
extension sb_str: @retroactive @unchecked Sendable {}  // a view whose memory's lifetime the ABI defines; moving the view is safe
extension sb_bytes: @retroactive @unchecked Sendable {}  // as sb_str
