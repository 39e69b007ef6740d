import CSwitchboard
import SwitchboardRouting

extension sb_str {
    /// The bytes, borrowed as the lending call's rules say (for a plugin's argument: the call).
    /// Empty for a NULL `ptr` whatever `len` says, as `validatedString` reads it: a plugin's
    /// mistake is refused by what the call expects of the bytes, never read through NULL.
    /// A `len` past `Int.max` (a garbage size_t) reads as negative: empty too, never a buffer
    /// with a negative count.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: len > 0 ? ptr : nil, count: ptr == nil || len <= 0 ? 0 : len) }
}

extension sb_bytes {
    /// The bytes, borrowed as `sb_str.bytes` is; empty for a NULL `ptr` whatever `len` says.
    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: len > 0 ? ptr : nil, count: ptr == nil || len <= 0 ? 0 : len) }

    /// The same memory as `text`, as bytes (a lent copy's NUL not counted); borrowed as `text` is.
    init(_ text: sb_str) {
        self.init(ptr: UnsafeRawPointer(text.ptr)?.assumingMemoryBound(to: UInt8.self), len: text.len)
    }
}

/// An array of sized structs from a plugin (rule 1 of switchboard.h), read with the first
/// element's `struct_size` as the stride: that size must be at least the host's own
/// (`MemoryLayout<Element>.size`), at most 4 KiB and a multiple of the struct's alignment, and
/// every element must carry the same size. `count` elements at `base`, borrowed for the call;
/// `visit` sees each one in order (the host's prefix of it) and returns false to stop. False when
/// a size is refused or `visit` stopped.
func forEachSizedStruct<Element>(
    _ base: UnsafePointer<Element>, count: Int, size: (Element) -> UInt32, _ visit: (Element) -> Bool
) -> Bool {
    let stride = Int(size(base.pointee))
    guard stride >= MemoryLayout<Element>.size, stride <= 4096, stride % MemoryLayout<Element>.alignment == 0 else { return false }
    for i in 0..<count {
        let element = UnsafeRawPointer(base).advanced(by: i * stride).assumingMemoryBound(to: Element.self).pointee
        guard Int(size(element)) == stride, visit(element) else { return false }
    }
    return true
}

/// A NUL-terminated C string from a descriptor; nil for NULL, lossy for invalid UTF-8.
func stringFromC(_ ptr: UnsafePointer<CChar>?) -> String? {
    guard let ptr else { return nil }
    return String(decoding: UnsafeRawBufferPointer(start: ptr, count: strlen(ptr)), as: UTF8.self)
}

#if canImport(Glibc)
import Glibc
#endif

/// Copies bytes, each followed by a NUL (so a copy is also a C string), one after the other into
/// memory it does not own: `BorrowArena`'s blocks, or a caller's temporary allocation.
struct LendingCursor {
    private var next: UnsafeMutableRawPointer?
    /// Bytes left after `next`.
    private(set) var remaining: Int

    init(_ region: UnsafeMutableRawBufferPointer) {
        next = region.baseAddress
        remaining = region.count
    }

    /// The bytes `bytes` takes, with its NUL.
    static func size(_ bytes: Int) -> Int { bytes + 1 }

    /// Copies `bytes` and its NUL; nil when fewer than `size(bytes.count)` bytes are left.
    mutating func copy(_ bytes: UnsafeRawBufferPointer) -> sb_str? {
        let needed = Self.size(bytes.count)
        guard needed <= remaining, let dst = next else { return nil }
        if let base = bytes.baseAddress { dst.copyMemory(from: base, byteCount: bytes.count) }
        dst.storeBytes(of: 0, toByteOffset: bytes.count, as: UInt8.self)
        next = dst + needed
        remaining -= needed
        return sb_str(ptr: dst.assumingMemoryBound(to: CChar.self), len: bytes.count)
    }
}

/// Memory for strings the host lends to a plugin: each copy stays put until the arena is freed.
/// Not thread-safe: its owner locks around every use.
///
/// Its first block is the object's own tail storage (`ManagedBuffer`), so an arena that lends
/// under `inlineBytes` costs one heap allocation, not three (object, block list, block): every
/// request that borrows a path parameter made those. A class instance's tail storage never moves,
/// so the copies in it stay valid while the arena lives (its owner holds it for as long as the
/// plugin may read them). Past it, blocks of 256 bytes or more are allocated as needed.
final class BorrowArena: ManagedBuffer<BorrowArena.Header, UInt8> {
    struct Header {
        var cursor: LendingCursor
        /// Allocated past the inline block, freed with the arena.
        var blocks: [UnsafeMutableRawPointer] = []
    }

    /// The inline block's size when none is asked for, in bytes: a handful of parameters,
    /// header values or configuration entries.
    static let inlineBytes = 256

    /// A new arena whose inline block holds at least `capacity` bytes (copies take one more byte
    /// each, for the NUL: `LendingCursor.size`).
    static func make(capacity: Int = inlineBytes) -> BorrowArena {
        let buffer = create(minimumCapacity: capacity) { buffer in
            Header(cursor: buffer.withUnsafeMutablePointerToElements { LendingCursor(UnsafeMutableRawBufferPointer(start: $0, count: buffer.capacity)) })
        }
        return unsafeDowncast(buffer, to: BorrowArena.self)
    }

    /// Copies `bytes` (plus a NUL, so the copy is also a C string) and returns the copy.
    func copy(_ bytes: UnsafeRawBufferPointer) -> sb_str {
        withUnsafeMutablePointerToHeader { header in
            if let copied = header.pointee.cursor.copy(bytes) { return copied }
            let size = max(LendingCursor.size(bytes.count), Self.inlineBytes)
            let block = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 1)
            header.pointee.blocks.append(block)
            header.pointee.cursor = LendingCursor(UnsafeMutableRawBufferPointer(start: block, count: size))
            return header.pointee.cursor.copy(bytes)!
        }
    }

    func copy(_ string: String) -> sb_str {
        var s = string
        return s.withUTF8 { copy(UnsafeRawBufferPointer($0)) }
    }

    deinit {
        withUnsafeMutablePointerToHeader { header in
            for block in header.pointee.blocks { block.deallocate() }
        }
    }
}

// (pointer, length) values: whether the memory they point at may cross threads is the business of
// whoever lends it, and each lending site documents that (see switchboard.h, rule 4).
extension sb_str: @retroactive @unchecked Sendable {}  // a view whose memory's lifetime the ABI defines; moving the view is safe
extension sb_bytes: @retroactive @unchecked Sendable {}  // as sb_str
