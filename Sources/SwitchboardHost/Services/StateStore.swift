import class SwitchboardSDK.Locked
import CSwitchboard
import Dispatch

struct StateError: Error {
    let status: sb_status
}

struct StateResult: Sendable {
    var value: [UInt8] = []
    var number: Int64 = 0
    var entries: [(key: String, value: [UInt8])] = []
}

/// Runs one state-store call off the event loop and completes it through the plugin's callback.
enum StateCall {
    private static let queue = DispatchQueue(label: "switchboard.state-store")

    static func run(
        _ pluginHandle: OpaquePointer?, _ done: sb_state_done_fn?, _ user: UnsafeMutableRawPointer?,
        _ operation: @escaping @Sendable (StateStore, String) throws -> StateResult
    ) -> sb_status {
        guard let plugin = PluginInstance.from(pluginHandle), let done else { return SB_ERR_INVALID_ARGUMENT }
        // The callback runs plugin code: hold a lease so the generation stays loaded until then.
        guard plugin.enter() else { return SB_ERR_STATE }
        let store = HostAPI.services.store
        let name = plugin.name
        let context = UnsafeSendable((done, user))
        queue.async {
            defer { plugin.leave() }
            let (done, user) = context.value
            do {
                let result = try operation(store, name)
                complete(done, user, SB_OK, result)
            } catch let error as StateError {
                complete(done, user, error.status, StateResult())
            } catch {
                complete(done, user, SB_ERR_IO, StateResult())
            }
        }
        return SB_OK
    }

    private static func complete(_ done: sb_state_done_fn, _ user: UnsafeMutableRawPointer?, _ status: sb_status, _ result: StateResult) {
        let arena = BorrowArena()
        let value = result.value.withUnsafeBytes { arena.copy($0) }
        let entries = result.entries.map { entry in
            let key = arena.copy(entry.key)
            let value = entry.value.withUnsafeBytes { arena.copy($0) }
            return sb_state_entry(key: key, value: sb_bytes(ptr: UnsafeRawPointer(value.ptr)?.assumingMemoryBound(to: UInt8.self), len: value.len))
        }
        entries.withUnsafeBufferPointer { list in
            var out = sb_state_result()
            out.struct_size = UInt32(MemoryLayout<sb_state_result>.size)
            out.value = sb_bytes(ptr: UnsafeRawPointer(value.ptr)?.assumingMemoryBound(to: UInt8.self), len: value.len)
            out.number = result.number
            out.entries = list.baseAddress
            out.entry_count = list.count
            done(user, status, &out)
        }
    }
}

/// The per-plugin key-value store behind the `state_*` host functions. Calls are synchronous and
/// may block (a sync per change); `StateCall` runs them on its own serial queue, so the event loop
/// never waits for the store.
///
/// Every plugin's keys are held in memory. Opened on a directory (`state.backend: file`), every
/// change is also appended to one log file and synced before the call completes, and the log is
/// replayed at start; without one (`state.backend: memory`, tests) contents live as long as the
/// process.
///
/// File: `<directory>/state.log`, a header (`SWBSTATE` and a format version) then records:
///
///     u32 payload length | u32 CRC-32 of the payload | payload
///     payload: u8 op (1 put, 2 delete) | u16 plugin length | plugin | u32 key length | key |
///              u32 value length | value                       (integers little-endian)
///
/// A record is whole or it is not there: replay stops at the first record that is short or fails
/// its CRC (a crash mid-append) and the file is truncated there, so the next append starts clean.
/// When the log is more than twice the live data (and at least `compactAt` bytes), it is
/// rewritten: a new file with one put per live key, synced, then renamed over the log.
///
/// All calls arrive one at a time from `StateCall`'s queue; the lock makes the type safe anyway.
final class StateStore: Sendable {
    private struct Storage {
        var data: [String: [String: [UInt8]]] = [:]
        /// The log; -1 for a store kept in memory only.
        var fd: Int32 = -1
        var fileBytes = 0
        /// What a compacted log of the current data would take (kept as changes apply).
        var liveBytes = StateStore.magic.count
    }
    private let storage: Locked<Storage>
    let path: String?
    let compactAt: Int

    /// A store kept in memory only.
    init() {
        path = nil
        compactAt = .max
        storage = Locked(Storage())
    }

    static let magic: [UInt8] = Array("SWBSTATE".utf8) + [1, 0, 0, 0]

    struct OpenError: Error, CustomStringConvertible {
        let description: String
    }

    /// Opens (creating) the log in `directory` and replays it.
    init(directory: String, compactAt: Int = 1 << 20) throws {
        let path = directory + "/state.log"
        self.path = path
        self.compactAt = compactAt
        do {
            try makeDirectories(directory)
        } catch {
            throw OpenError(description: "cannot create the state directory \(directory): \(error)")
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw OpenError(description: "cannot open \(path): \(String(cString: strerror(errno)))") }
        var storage = Storage()
        storage.fd = fd
        let contents = Self.readAll(fd)
        if contents.isEmpty {
            guard Self.writeAll(fd, Self.magic), fsync(fd) == 0 else {
                close(fd)
                throw OpenError(description: "cannot write \(path): \(String(cString: strerror(errno)))")
            }
            storage.fileBytes = Self.magic.count
        } else {
            guard contents.starts(with: Self.magic) else {
                close(fd)
                throw OpenError(description: "\(path) is not a Switchboard state log (or a newer format): move it away to start empty")
            }
            var offset = Self.magic.count
            while let (record, next) = Self.record(in: contents, at: offset) {
                Self.apply(record, to: &storage)
                offset = next
            }
            if offset < contents.count {
                // A torn last append: drop it, so new records follow whole ones.
                _ = ftruncate(fd, off_t(offset))
                _ = fsync(fd)
            }
            storage.fileBytes = offset
        }
        _ = lseek(fd, off_t(storage.fileBytes), SEEK_SET)
        self.storage = Locked(storage)
    }

    deinit {
        storage.withLock { s in if s.fd >= 0 { close(s.fd) } }
    }

    // MARK: StateStore

    func get(plugin: String, key: String) throws -> StateResult {
        guard let value = storage.withLock({ $0.data[plugin]?[key] }) else { throw StateError(status: SB_ERR_NOT_FOUND) }
        return StateResult(value: value)
    }

    func put(plugin: String, key: String, value: [UInt8]) throws -> StateResult {
        try storage.withLock { s in try commit(.put(plugin, key, value), to: &s) }
        return StateResult()
    }

    func compareAndPut(plugin: String, key: String, expected: [UInt8]?, value: [UInt8]) throws -> StateResult {
        try storage.withLock { s in
            guard s.data[plugin]?[key] == expected else { throw StateError(status: SB_ERR_CONFLICT) }
            try commit(.put(plugin, key, value), to: &s)
        }
        return StateResult()
    }

    func delete(plugin: String, key: String) throws -> StateResult {
        try storage.withLock { s in
            guard s.data[plugin]?[key] != nil else { throw StateError(status: SB_ERR_NOT_FOUND) }
            try commit(.delete(plugin, key), to: &s)
        }
        return StateResult()
    }

    func compareAndDelete(plugin: String, key: String, expected: [UInt8]) throws -> StateResult {
        try storage.withLock { s in
            guard let current = s.data[plugin]?[key] else { throw StateError(status: SB_ERR_NOT_FOUND) }
            guard current == expected else { throw StateError(status: SB_ERR_CONFLICT) }
            try commit(.delete(plugin, key), to: &s)
        }
        return StateResult()
    }

    func increment(plugin: String, key: String, by delta: Int64) throws -> StateResult {
        let next = try storage.withLock { s -> Int64 in
            var current: Int64 = 0
            if let bytes = s.data[plugin]?[key] {
                guard let parsed = Int64(String(decoding: bytes, as: UTF8.self)) else { throw StateError(status: SB_ERR_INVALID_ARGUMENT) }
                current = parsed
            }
            let (next, overflow) = current.addingReportingOverflow(delta)
            guard !overflow else { throw StateError(status: SB_ERR_INVALID_ARGUMENT) }
            try commit(.put(plugin, key, Array(String(next).utf8)), to: &s)
            return next
        }
        return StateResult(number: next)
    }

    func list(plugin: String, prefix: String, after: String, limit: Int) throws -> StateResult {
        storage.withLock { s in
            let matching = (s.data[plugin] ?? [:]).filter { $0.key.hasPrefix(prefix) }
            let entries = matching.filter { after.isEmpty || $0.key > after }
                .sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
                .prefix(limit == 0 ? Int.max : limit)
                .map { (key: $0.key, value: $0.value) }
            return StateResult(number: Int64(matching.count), entries: Array(entries))
        }
    }

    /// The log's size in bytes (tests watch compaction with it).
    var fileSize: Int { storage.withLock { $0.fileBytes } }

    // MARK: Records

    enum Change {
        case put(String, String, [UInt8])
        case delete(String, String)
    }

    /// Appends and syncs the change, then applies it: a change the log does not hold never shows.
    private func commit(_ change: Change, to s: inout Storage) throws {
        guard s.fd >= 0 else { return Self.apply(change, to: &s) }
        let record = Self.encode(change)
        guard Self.writeAll(s.fd, record), fdatasync(s.fd) == 0 else {
            // Whatever part was written is a torn record: cut it off so the log stays replayable.
            _ = ftruncate(s.fd, off_t(s.fileBytes))
            _ = lseek(s.fd, off_t(s.fileBytes), SEEK_SET)
            throw StateError(status: SB_ERR_IO)
        }
        s.fileBytes += record.count
        Self.apply(change, to: &s)
        if s.fileBytes >= compactAt && s.fileBytes > 2 * s.liveBytes { compact(&s) }
    }

    /// Rewrites the log with the live data only. On any failure the old log stays in use.
    private func compact(_ s: inout Storage) {
        guard let path else { return }
        let temporary = path + ".compact"
        let fd = open(temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        var bytes = Self.magic
        for (plugin, keys) in s.data.sorted(by: { $0.key < $1.key }) {
            for (key, value) in keys.sorted(by: { $0.key < $1.key }) { bytes += Self.encode(.put(plugin, key, value)) }
        }
        guard Self.writeAll(fd, bytes), fsync(fd) == 0, rename(temporary, path) == 0 else {
            close(fd)
            unlink(temporary)
            return
        }
        close(s.fd)
        s.fd = fd
        s.fileBytes = bytes.count
        _ = lseek(fd, off_t(bytes.count), SEEK_SET)
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

    private static func apply(_ change: Change, to s: inout Storage) {
        switch change {
        case .put(let plugin, let key, let value):
            let old = s.data[plugin, default: [:]].updateValue(value, forKey: key)
            s.liveBytes += recordSize(plugin, key, value.count) - (old.map { recordSize(plugin, key, $0.count) } ?? 0)
        case .delete(let plugin, let key):
            guard let old = s.data[plugin]?.removeValue(forKey: key) else { return }
            s.liveBytes -= recordSize(plugin, key, old.count)
            if s.data[plugin]?.isEmpty == true { s.data[plugin] = nil }
        }
    }

    /// The size of a put record (8 bytes of framing, 11 of fixed payload fields).
    private static func recordSize(_ plugin: String, _ key: String, _ valueCount: Int) -> Int {
        19 + plugin.utf8.count + key.utf8.count + valueCount
    }

    // MARK: Files

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

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
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
