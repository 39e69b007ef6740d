import struct SwitchboardCore.Locked

/// State kept in memory for the life of the process (`state.backend: memory`, tests). A
/// transaction works on a copy and publishes it when it commits, so an operation that fails
/// part-way changes nothing. Keys are their UTF-8 bytes, as in SQLite: Swift's `String`
/// equality would make "é" and "e\u{301}" one key.
final class MemoryStateStorage: StateStorage {
    private let data = Locked<[String: [[UInt8]: [UInt8]]]>([:])

    func transaction<R>(writes: Bool, _ body: (any StateTransaction) throws -> R) throws -> R {
        try data.withLock { data in
            let tx = MemoryTransaction(data: data)
            let result = try body(tx)
            data = tx.data
            return result
        }
    }

    /// Only this process holds it.
    func othersCommitted() -> Bool { false }
}

private final class MemoryTransaction: StateTransaction {
    var data: [String: [[UInt8]: [UInt8]]]

    init(data: [String: [[UInt8]: [UInt8]]]) { self.data = data }

    func get(_ plugin: String, _ key: String) throws -> [UInt8]? { data[plugin]?[Array(key.utf8)] }

    func put(_ plugin: String, _ key: String, _ value: [UInt8]) throws { data[plugin, default: [:]][Array(key.utf8)] = value }

    func delete(_ plugin: String, _ key: String) throws -> Bool {
        guard data[plugin]?.removeValue(forKey: Array(key.utf8)) != nil else { return false }
        if data[plugin]?.isEmpty == true { data[plugin] = nil }
        return true
    }

    func list(_ plugin: String, prefix: String, after: String, skip: Int, limit: Int) throws -> (entries: [(key: String, value: [UInt8])], count: Int) {
        let (prefix, after) = (Array(prefix.utf8), Array(after.utf8))
        let matching = (data[plugin] ?? [:]).filter { $0.key.starts(with: prefix) }
        let entries = matching.filter { after.isEmpty || after.lexicographicallyPrecedes($0.key) }
            .sorted { $0.key.lexicographicallyPrecedes($1.key) }
            .dropFirst(skip)
            .prefix(limit == 0 ? Int.max : limit)
            .map { (key: String(decoding: $0.key, as: UTF8.self), value: $0.value) }
        return (Array(entries), matching.count)
    }

    func atomically<R>(_ body: () throws -> R) throws -> R {
        let saved = data
        do {
            return try body()
        } catch {
            data = saved
            throw error
        }
    }
}
