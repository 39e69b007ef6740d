import struct SwitchboardCore.CodePointKey
import Foundation
import GRDB
import struct SwitchboardCore.Locked
import CSwitchboardHostSupport

/// Plugin state in SQLite (`state.backend: sqlite`), through GRDB: `<directory>/state.db`.
///
/// Durability: WAL journal with `synchronous = FULL`, so a transaction is on stable storage when
/// its commit returns, and the store thread answers a call only after that (`StateCalls`). Calls
/// that arrive while a commit is in flight go into the next transaction together (group commit):
/// one sync answers them all.
///
/// Several processes may open one directory at once (a handover, two hosts on one machine):
/// SQLite locks the database, and a writer waits up to `busyTimeout` for another's transaction.
///
/// Schema (read it with `sqlite3 <state.directory>/state/state.db`):
///
///     CREATE TABLE state (plugin TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL,
///                         UNIQUE (plugin, key));
///     CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
///
/// A key is its UTF-8 bytes as a BLOB: BLOBs compare with `memcmp`, so keys list in byte order,
/// and a key holding NUL stays whole (a TEXT binding would end at it). Read them with
/// `CAST(key AS TEXT)`. The unique index on (plugin, key) serves lookups, prefix ranges and
/// counts, which read no values.
///
/// Import: a `state.log` left by an earlier version in the same directory is read at start, its
/// entries written in one transaction into an empty store with a `meta` row naming the log (size
/// and modification time), and the file renamed `state.log.imported` (kept as a backup). A log
/// the `meta` row names was imported already (by a server that stopped before renaming it, or by
/// another server starting at the same moment): it is only renamed. Any other log beside a store
/// that holds data stops the start: importing it would put old values over newer ones.
final class SQLiteStateStorage: StateStorage {
    let queue: DatabaseQueue
    let path: String
    /// How many entries the first start imported from `state.log` (nil: none there).
    let imported: Int?

    static let busyTimeout: TimeInterval = 10

    struct OpenError: Error, CustomStringConvertible {
        let description: String
    }

    init(directory: String) throws {
        do {
            try makeDirectories(directory)
        } catch {
            throw OpenError(description: "cannot create the state directory \(directory): \(error)")
        }
        path = directory + "/state.db"
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.busyMode = .timeout(Self.busyTimeout)
        configuration.label = "switchboard.state"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
            try queue.write { db in
                try db.execute(
                    sql: """
                        CREATE TABLE IF NOT EXISTS state (plugin TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, UNIQUE (plugin, key));
                        CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
                        """)
            }
        } catch {
            throw OpenError(description: "cannot open the state database \(path): \(error)")
        }
        imported = try Self.importLog(directory: directory, into: queue)
        // Mapped once the connection has read in WAL mode (it has: the import above).
        walIndex = WALIndexHeader(queue)
        _ = othersCommitted()  // what "since" means from here on
    }

    /// Counts of keys by prefix, kept between transactions: counting 100,000 keys through the
    /// index takes milliseconds, a page a fraction of one. A plugin's counts are dropped when
    /// this process writes for it, all of them when another process has committed (SQLite's
    /// `data_version`) or a transaction did not commit.
    private let counts = Locked(CountCache())
    /// SQLite's `data_version` when `othersCommitted` last read it: it moves only when another
    /// connection commits.
    private let seenVersion = Locked<Int?>(nil)
    /// The wal-index header as read before the last `data_version` that `othersCommitted` read:
    /// while the header is the same, no connection has committed since.
    private let checkedHeader = Locked<WALIndexHeader.Value?>(nil)
    /// nil when SQLite has no shared memory to read (then every check is a transaction).
    let walIndex: WALIndexHeader?

    func othersCommitted() -> Bool {
        // The header first: unchanged since a check that began after it was read, nothing has
        // committed since that check (SQLite rewrites it in every commit before the commit
        // returns), so no transaction is needed.
        let header = walIndex?.read()
        if let header, checkedHeader.withLock({ $0 == header }) { return false }
        // Run inline when the queue is idle, as it is for the store's holder.
        guard let version = try? queue.inDatabase({ db in try Int.fetchOne(db.cachedStatement(sql: "PRAGMA data_version")) }) ?? nil else {
            checkedHeader.withLock { $0 = nil }
            return true
        }
        checkedHeader.withLock { $0 = header }
        return seenVersion.withLock { seen in
            defer { seen = version }
            return seen != version
        }
    }

    func transaction<R>(writes: Bool, _ body: (any StateTransaction) throws -> R) throws -> R {
        try queue.writeWithoutTransaction { db in
            var result: R? = nil
            do {
                try db.inTransaction(writes ? .immediate : .deferred) {
                    let version = try Int.fetchOne(db.cachedStatement(sql: "PRAGMA data_version")) ?? 0
                    counts.withLock { $0.check(version: version) }
                    result = try body(SQLiteTransaction(db: db, counts: counts))
                    return .commit
                }
            } catch {
                counts.withLock { $0.clear() }
                throw error
            }
            return result!
        }
    }

    /// Imports `<directory>/state.log` if there is one (see the type's comment); how many entries.
    private static func importLog(directory: String, into queue: DatabaseQueue) throws -> Int? {
        let log = directory + "/state.log"
        var info = stat()
        // None, or renamed by another server a moment ago: nothing to import.
        guard stat(log, &info) == 0 else { return nil }
        let identity = "\(info.st_size) bytes, modified \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        let data: [String: [[UInt8]: [UInt8]]]
        do {
            data = try StateLog.read(log)
        } catch {
            guard FileManager.default.fileExists(atPath: log) else { return nil }
            throw OpenError(description: "cannot import \(log) into \(directory)/state.db: \(error)")
        }
        var count: Int? = 0
        do {
            try queue.write { db in
                let recorded = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'imported_log'")
                if recorded == identity {
                    count = nil  // imported before; only the rename is left
                    return
                }
                guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM state)") != true else {
                    throw OpenError(
                        description: "\(log) is an earlier version's state, and \(directory)/state.db already holds data: importing it"
                            + " would put old values over newer ones. Move \(log) away (or, to start again from it, move state.db away)")
                }
                let insert = try db.makeStatement(sql: "INSERT INTO state (plugin, key, value) VALUES (?, ?, ?)")
                for (plugin, entries) in data {
                    for (key, value) in entries {
                        try insert.execute(arguments: [plugin, Data(key), Data(value)])
                        count! += 1
                    }
                }
                try db.execute(sql: "INSERT OR REPLACE INTO meta (name, value) VALUES ('imported_log', ?)", arguments: [identity])
            }
        } catch let error as OpenError {
            throw error
        } catch {
            throw OpenError(description: "cannot import \(log) into \(directory)/state.db: \(error)")
        }
        var backup = log + ".imported"
        var n = 1
        while FileManager.default.fileExists(atPath: backup) {
            n += 1
            backup = log + ".imported.\(n)"
        }
        // Another server may have renamed it first: then it is done.
        guard rename(log, backup) == 0 || errno == ENOENT else {
            throw OpenError(description: "imported \(log), but cannot rename it to \(backup): \(String(cString: strerror(errno)))")
        }
        return count
    }
}

/// Notices that some connection, of this process or another, may have committed to a WAL-mode
/// database since an earlier look, without a lock, a system call or a transaction: SQLite keeps
/// the wal-index header at the start of its shared memory (`<database>-shm`), two copies of 48
/// bytes (its version, a change counter that moves with each transaction, the last valid frame,
/// salts and checksums), and a commit rewrites both (the second first) before it returns
/// (sqlite.org/walformat.html §2.1, "The WAL-Index Header"). So an unchanged header means nothing
/// has committed since it was read. The header is read through SQLite's own mapping of that memory
/// (the VFS's `xShmMap`), which the connection keeps until it closes: this holds no descriptor of
/// the file (closing one would drop the process's POSIX locks on it, SQLite's among them) and sees
/// what SQLite sees. It only ever says "unchanged" or "maybe": an uninitialised header, a version
/// other than 3007000, or two copies caught mid-rewrite read as nil, and the caller asks SQLite
/// (`PRAGMA data_version`), which stays the authority.
final class WALIndexHeader: @unchecked Sendable {  // `region` is SQLite's shared memory, only ever read with atomic loads
    /// The first copy of the header, as 48 bytes.
    struct Value: Equatable, Sendable {
        var a, b, c, d, e, f: UInt64
    }

    /// Region 0 of the wal-index, SQLite's mapping; valid while `queue`'s connection is open.
    private let region: UnsafeRawPointer
    /// Kept so the connection, and with it the mapping, outlives this.
    private let queue: DatabaseQueue

    /// The header of `queue`'s database; nil when its VFS has no shared memory mapped (not in WAL
    /// mode, or not read since it opened).
    init?(_ queue: DatabaseQueue) {
        guard let region = queue.inDatabase({ db in db.sqliteConnection.flatMap { sbh_wal_index(UnsafeMutableRawPointer($0)) } }) else {
            return nil
        }
        self.region = UnsafeRawPointer(region)
        self.queue = queue
    }

    /// The header now; nil when it cannot be trusted (see the type's comment).
    func read() -> Value? {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 6) { words -> Value? in
            guard sbh_wal_index_header(region, UnsafeMutableRawPointer(words.baseAddress!).assumingMemoryBound(to: UInt32.self)) == 1 else { return nil }
            return Value(a: words[0], b: words[1], c: words[2], d: words[3], e: words[4], f: words[5])
        }
    }
}

/// One transaction on the database, run on GRDB's writer queue. Statements are cached by the
/// connection: each is compiled once.
private struct SQLiteTransaction: StateTransaction {
    let db: Database
    let counts: Locked<CountCache>

    func get(_ plugin: String, _ key: String) throws -> [UInt8]? {
        let statement = try db.cachedStatement(sql: "SELECT value FROM state WHERE plugin = ? AND key = ?")
        return try Data.fetchOne(statement, arguments: [plugin, Data(key.utf8)]).map { [UInt8]($0) }
    }

    func put(_ plugin: String, _ key: String, _ value: [UInt8]) throws {
        let statement = try db.cachedStatement(
            sql: "INSERT INTO state (plugin, key, value) VALUES (?, ?, ?) ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value")
        counts.withLock { $0.invalidate(plugin) }
        try statement.execute(arguments: [plugin, Data(key.utf8), Data(value)])
    }

    func delete(_ plugin: String, _ key: String) throws -> Bool {
        let statement = try db.cachedStatement(sql: "DELETE FROM state WHERE plugin = ? AND key = ?")
        counts.withLock { $0.invalidate(plugin) }
        try statement.execute(arguments: [plugin, Data(key.utf8)])
        return db.changesCount > 0
    }

    func list(_ plugin: String, prefix: String, after: String, skip: Int, limit: Int) throws -> (entries: [(key: String, value: [UInt8])], count: Int) {
        // The keys with the prefix are the range [prefix, upper): upper is the prefix with its
        // last byte below 0xFF stepped up (and what followed it dropped).
        let lower = Data(prefix.utf8)
        let upper = Self.upperBound(lower)
        var range = "plugin = ? AND key >= ?"
        var arguments: StatementArguments = [plugin, lower]
        if let upper {
            range += " AND key < ?"
            arguments += [upper]
        }
        let count: Int
        if let cached = counts.withLock({ $0.count(plugin, prefix) }) {
            count = cached
        } else {
            count = try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM state WHERE \(range)"), arguments: arguments) ?? 0
            counts.withLock { $0.store(plugin, prefix, count) }
        }
        // One lower bound, so the index seeks to it (with two, SQLite seeks to one and filters
        // by the other, walking from the prefix): the later of the prefix, `after` (exclusive)
        // and the paging anchor.
        var skip = skip
        var lowerTest = "key >= ?"
        var lowerValue = lower
        let afterBytes = Data(after.utf8)
        if !after.isEmpty, !afterBytes.lexicographicallyPrecedes(lower) {
            (lowerTest, lowerValue) = ("key > ?", afterBytes)
        } else if after.isEmpty, skip >= CountCache.anchorStride, let anchors = try anchors(plugin, prefix, range, arguments) {
            // Start at the anchor at or before the offset: the index walks less than a stride.
            let index = min(skip / CountCache.anchorStride, anchors.count - 1)
            lowerValue = anchors[index]
            skip -= index * CountCache.anchorStride
        }
        var page = "plugin = ? AND \(lowerTest)"
        var pageArguments: StatementArguments = [plugin, lowerValue]
        if let upper {
            page += " AND key < ?"
            pageArguments += [upper]
        }
        // The page's rowids come from the index alone (what is skipped is never read); the
        // values only for the page.
        let sql = """
            SELECT s.key, s.value FROM (SELECT rowid AS r, key FROM state WHERE \(page) ORDER BY key LIMIT ? OFFSET ?) AS p
            JOIN state AS s ON s.rowid = p.r ORDER BY p.key
            """
        pageArguments += [limit == 0 ? -1 : limit, skip]
        let rows = try Row.fetchAll(db.cachedStatement(sql: sql), arguments: pageArguments)
        let entries = rows.map { row -> (key: String, value: [UInt8]) in
            let (key, value): (Data, Data) = (row[0], row[1])
            return (key: String(decoding: key, as: UTF8.self), value: [UInt8](value))
        }
        return (entries, count)
    }

    /// Every `anchorStride`-th key under the prefix, in order (the first is the first key): read
    /// once through the index, then kept with the count until a write (`CountCache`). nil when
    /// there are no keys.
    private func anchors(_ plugin: String, _ prefix: String, _ range: String, _ arguments: StatementArguments) throws -> [Data]? {
        if let kept = counts.withLock({ $0.anchors(plugin, prefix) }) { return kept.isEmpty ? nil : kept }
        var anchors: [Data] = []
        var position = 0
        let keys = try Data.fetchCursor(db.cachedStatement(sql: "SELECT key FROM state WHERE \(range) ORDER BY key"), arguments: arguments)
        while let key = try keys.next() {
            if position % CountCache.anchorStride == 0 { anchors.append(key) }
            position += 1
        }
        counts.withLock { $0.storeAnchors(plugin, prefix, anchors) }
        return anchors.isEmpty ? nil : anchors
    }

    func atomically<R>(_ body: () throws -> R) throws -> R {
        var result: R? = nil
        try db.inSavepoint {
            result = try body()
            return .commit
        }
        return result!
    }

    /// The least byte string above every one that starts with `prefix`; nil when there is none
    /// (an empty prefix, or one of 0xFF bytes only, which UTF-8 never holds).
    static func upperBound(_ prefix: Data) -> Data? {
        var bytes = [UInt8](prefix)
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return Data(bytes)
            }
            bytes.removeLast()
        }
        return nil
    }
}

/// Key counts by plugin and prefix (`SQLiteStateStorage.counts`), and anchors for paging: every
/// `anchorStride`-th key, so a page at offset n starts at anchor n / stride and walks at most a
/// stride of the index (SQLite's OFFSET walks all n). Bounded: at most `limit` prefixes per plugin
/// are kept, the rest are counted again; anchors cost one key per `anchorStride` keys.
struct CountCache {
    static let anchorStride = 128
    /// By plugin, then prefix compared by code points (`CodePointKey`): canonically equivalent
    /// prefixes are different keys in the store.
    private var counts: [String: [CodePointKey: Int]] = [:]
    private var anchors: [String: [CodePointKey: [Data]]] = [:]
    private var version: Int? = nil
    static let limit = 64

    /// Drops everything when another connection has committed since the last transaction.
    mutating func check(version: Int) {
        if self.version != version {
            counts.removeAll()
            anchors.removeAll()
        }
        self.version = version
    }

    func count(_ plugin: String, _ prefix: String) -> Int? { counts[plugin]?[CodePointKey(prefix)] }

    mutating func store(_ plugin: String, _ prefix: String, _ count: Int) {
        if counts[plugin, default: [:]].count >= Self.limit { counts[plugin] = [:] }
        counts[plugin, default: [:]][CodePointKey(prefix)] = count
    }

    func anchors(_ plugin: String, _ prefix: String) -> [Data]? { anchors[plugin]?[CodePointKey(prefix)] }

    mutating func storeAnchors(_ plugin: String, _ prefix: String, _ keys: [Data]) {
        if anchors[plugin, default: [:]].count >= Self.limit { anchors[plugin] = [:] }
        anchors[plugin, default: [:]][CodePointKey(prefix)] = keys
    }

    mutating func invalidate(_ plugin: String) {
        counts[plugin] = nil
        anchors[plugin] = nil
    }

    mutating func clear() {
        counts.removeAll()
        anchors.removeAll()
        version = nil
    }
}
