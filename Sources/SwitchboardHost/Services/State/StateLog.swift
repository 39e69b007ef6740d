import Foundation

/// The state log that Switchboard kept before its store moved to SQLite: read once at start to
/// import it (`SQLiteStateStorage`), and written by tests that check the import.
///
/// File: `<directory>/state.log`, a header (`SWBSTATE` and a format version) then records:
///
///     u32 payload length | u32 CRC-32 of the payload | payload
///     payload: u8 op (1 put, 2 delete) | u16 plugin length | plugin | u32 key length | key |
///              u32 value length | value                       (integers little-endian)
///
/// A record is whole or it is not there: replay stops at the first record that is short or fails
/// its CRC (a crash mid-append), as the old store did.
enum StateLog {
    static let magic: [UInt8] = Array("SWBSTATE".utf8) + [1, 0, 0, 0]

    struct ReadError: Error, CustomStringConvertible {
        let description: String
    }

    enum Change: Equatable {
        case put(String, String, [UInt8])
        case delete(String, String)
    }

    /// The live entries of the log at `path` (plugin → key's UTF-8 bytes → value): keys as bytes,
    /// as the store keeps them (`String` equality would merge canonically equivalent keys).
    /// - Throws: `ReadError` when the file cannot be read or is not a state log.
    static func read(_ path: String) throws(ReadError) -> [String: [[UInt8]: [UInt8]]] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw ReadError(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let contents = readAll(fd)
        guard contents.starts(with: magic) else {
            throw ReadError(description: "\(path) is not a Switchboard state log (or a newer format): move it away to start without it")
        }
        var data: [String: [[UInt8]: [UInt8]]] = [:]
        var offset = magic.count
        while let (change, next) = record(in: contents, at: offset) {
            switch change {
            case .put(let plugin, let key, let value): data[plugin, default: [:]][Array(key.utf8)] = value
            case .delete(let plugin, let key):
                data[plugin]?[Array(key.utf8)] = nil
                if data[plugin]?.isEmpty == true { data[plugin] = nil }
            }
            offset = next
        }
        return data
    }

    /// Writes a log of `changes` at `path`, as the store before SQLite wrote it.
    static func write(_ changes: [Change], to path: String) throws(ReadError) {
        let bytes = changes.reduce(magic) { $0 + encode($1) }
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw ReadError(description: "cannot write \(path)")
        }
    }

    static func encode(_ change: Change) -> [UInt8] {
        var payload: [UInt8] = []
        func u16(_ n: Int) { payload += [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF)] }
        func u32(_ n: Int) { payload += (0..<4).map { UInt8(n >> ($0 * 8) & 0xFF) } }
        switch change {
        case .put(let plugin, let key, let value):
            payload.append(1)
            u16(plugin.utf8.count); payload += plugin.utf8
            u32(key.utf8.count); payload += key.utf8
            u32(value.count); payload += value
        case .delete(let plugin, let key):
            payload.append(2)
            u16(plugin.utf8.count); payload += plugin.utf8
            u32(key.utf8.count); payload += key.utf8
            u32(0)
        }
        var record: [UInt8] = []
        let crc = CRC32.checksum(payload)
        for n in [payload.count, Int(crc)] { record += (0..<4).map { UInt8(n >> ($0 * 8) & 0xFF) } }
        return record + payload
    }

    /// The whole record at `offset` and the offset after it; nil when it is short or corrupt.
    static func record(in bytes: [UInt8], at offset: Int) -> (Change, Int)? {
        func u32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(bytes[at + $1]) << ($1 * 8) } }
        guard offset + 8 <= bytes.count else { return nil }
        let length = u32(offset)
        let start = offset + 8
        guard length >= 11, start + length <= bytes.count else { return nil }
        let payload = bytes[start..<(start + length)]
        guard CRC32.checksum(payload) == UInt32(u32(offset + 4)) else { return nil }
        var at = start
        let op = bytes[at]; at += 1
        let pluginLength = Int(bytes[at]) | Int(bytes[at + 1]) << 8; at += 2
        guard at + pluginLength + 4 <= start + length else { return nil }
        let plugin = String(decoding: bytes[at..<(at + pluginLength)], as: UTF8.self); at += pluginLength
        let keyLength = u32(at); at += 4
        guard at + keyLength + 4 <= start + length else { return nil }
        let key = String(decoding: bytes[at..<(at + keyLength)], as: UTF8.self); at += keyLength
        let valueLength = u32(at); at += 4
        guard at + valueLength == start + length else { return nil }
        switch op {
        case 1: return (.put(plugin, key, Array(bytes[at..<(at + valueLength)])), start + length)
        case 2: return (.delete(plugin, key), start + length)
        default: return nil
        }
    }

    private static func readAll(_ fd: Int32) -> [UInt8] {
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var offset: off_t = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return out }
            out += buffer[0..<n]
            offset += off_t(n)
        }
    }

}

/// CRC-32 (IEEE 802.3, as zlib's crc32), for the state log's records.
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        (0..<8).reduce(UInt32(n)) { c, _ in c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    }

    static func checksum(_ bytes: some Collection<UInt8>) -> UInt32 {
        ~bytes.reduce(~UInt32(0)) { c, byte in table[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
