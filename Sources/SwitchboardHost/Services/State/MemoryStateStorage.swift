import class SwitchboardSDK.Locked

/// State kept in memory for the life of the process (`state.backend: memory`, tests). A
/// transaction works on a copy and publishes it when it commits, so an operation that fails
/// part-way changes nothing.
final class MemoryStateStorage: StateStorage {
    private let data = Locked<[String: [String: [UInt8]]]>([:])

    func transaction<R>(writes: Bool, _ body: (any StateTransaction) throws -> R) throws -> R {
        try data.withLock { data in
            let tx = MemoryTransaction(data: data)
            let result = try body(tx)
            data = tx.data
            return result
        }
    }
}

private final class MemoryTransaction: StateTransaction {
    var data: [String: [String: [UInt8]]]

    init(data: [String: [String: [UInt8]]]) { self.data = data }

    func get(_ plugin: String, _ key: String) throws -> [UInt8]? { data[plugin]?[key] }

    func put(_ plugin: String, _ key: String, _ value: [UInt8]) throws { data[plugin, default: [:]][key] = value }

    func delete(_ plugin: String, _ key: String) throws -> Bool {
        guard data[plugin]?.removeValue(forKey: key) != nil else { return false }
        if data[plugin]?.isEmpty == true { data[plugin] = nil }
        return true
    }

    func list(_ plugin: String, prefix: String, after: String, skip: Int, limit: Int) throws -> (entries: [(key: String, value: [UInt8])], count: Int) {
        let matching = (data[plugin] ?? [:]).filter { $0.key.utf8.starts(with: prefix.utf8) }
        let entries = matching.filter { after.isEmpty || after.utf8.lexicographicallyPrecedes($0.key.utf8) }
            .sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            .dropFirst(skip)
            .prefix(limit == 0 ? Int.max : limit)
            .map { (key: $0.key, value: $0.value) }
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
