import Foundation
import GRDB

/// Plugin state in SQLite (`state.backend: sqlite`), through GRDB: `<directory>/state.db`.
///
/// Durability: WAL journal with `synchronous = FULL`, so a transaction is on stable storage when
/// its commit returns, and the store thread answers a call only after that (`StateCall`). Calls
/// that arrive while a commit is in flight go into the next transaction together (group commit):
/// one sync answers them all.
///
/// Several processes may open one directory at once (a handover, two hosts on one machine):
/// SQLite locks the database, and a writer waits up to `busyTimeout` for another's transaction.
///
/// Schema (read it with `sqlite3 <state.directory>/state/state.db`):
///
///     CREATE TABLE state (plugin TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
///                         UNIQUE (plugin, key));
///     CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
///
/// Keys compare in byte order (TEXT with SQLite's BINARY collation is `memcmp` of UTF-8). The
/// unique index on (plugin, key) serves lookups, prefix ranges and counts, which read no values.
///
/// Import: a `state.log` left by an earlier version in the same directory is read at the first
/// start, its entries written in one transaction with a `meta` row that records the import, and
/// the file renamed `state.log.imported` (kept as a backup). A process that finds the meta row
/// only renames the log.
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
                        CREATE TABLE IF NOT EXISTS state (plugin TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, UNIQUE (plugin, key));
                        CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
                        """)
            }
        } catch {
            throw OpenError(description: "cannot open the state database \(path): \(error)")
        }
        imported = try Self.importLog(directory: directory, into: queue)
    }

    func transaction<R>(writes: Bool, _ body: (any StateTransaction) throws -> R) throws -> R {
        try queue.writeWithoutTransaction { db in
            var result: R? = nil
            try db.inTransaction(writes ? .immediate : .deferred) {
                result = try body(SQLiteTransaction(db: db))
                return .commit
            }
            return result!
        }
    }

    /// Imports `<directory>/state.log` if there is one (see the type's comment).
    private static func importLog(directory: String, into queue: DatabaseQueue) throws -> Int? {
        let log = directory + "/state.log"
        guard FileManager.default.fileExists(atPath: log) else { return nil }
        let data: [String: [String: [UInt8]]]
        do {
            data = try StateLog.read(log)
        } catch {
            throw OpenError(description: "cannot import \(log) into \(directory)/state.db: \(error)")
        }
        var count = 0
        do {
            try queue.write { db in
                guard try String.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'imported_log'") == nil else { return }
                let insert = try db.makeStatement(sql: "INSERT OR REPLACE INTO state (plugin, key, value) VALUES (?, ?, ?)")
                for (plugin, entries) in data {
                    for (key, value) in entries {
                        try insert.execute(arguments: [plugin, key, Data(value)])
                        count += 1
                    }
                }
                try db.execute(sql: "INSERT INTO meta (name, value) VALUES ('imported_log', ?)", arguments: ["\(count) entries from \(log)"])
            }
        } catch {
            throw OpenError(description: "cannot import \(log) into \(directory)/state.db: \(error)")
        }
        var backup = log + ".imported"
        var n = 1
        while FileManager.default.fileExists(atPath: backup) {
            n += 1
            backup = log + ".imported.\(n)"
        }
        guard rename(log, backup) == 0 else {
            throw OpenError(description: "imported \(log), but cannot rename it to \(backup): \(String(cString: strerror(errno)))")
        }
        return count
    }
}

/// One transaction on the database, run on GRDB's writer queue. Statements are cached by the
/// connection: each is compiled once.
private struct SQLiteTransaction: StateTransaction {
    let db: Database

    func get(_ plugin: String, _ key: String) throws -> [UInt8]? {
        let statement = try db.cachedStatement(sql: "SELECT value FROM state WHERE plugin = ? AND key = ?")
        return try Data.fetchOne(statement, arguments: [plugin, key]).map { [UInt8]($0) }
    }

    func put(_ plugin: String, _ key: String, _ value: [UInt8]) throws {
        let statement = try db.cachedStatement(
            sql: "INSERT INTO state (plugin, key, value) VALUES (?, ?, ?) ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value")
        try statement.execute(arguments: [plugin, key, Data(value)])
    }

    func delete(_ plugin: String, _ key: String) throws -> Bool {
        let statement = try db.cachedStatement(sql: "DELETE FROM state WHERE plugin = ? AND key = ?")
        try statement.execute(arguments: [plugin, key])
        return db.changesCount > 0
    }

    func list(_ plugin: String, prefix: String, after: String, skip: Int, limit: Int) throws -> (entries: [(key: String, value: [UInt8])], count: Int) {
        // The keys with the prefix are the range [prefix, upper): upper is the prefix with its
        // last character stepped up one code point (UTF-8's byte order is code point order).
        let upper = Self.upperBound(prefix)
        var range = "plugin = ? AND key >= ?"
        var arguments: StatementArguments = [plugin, prefix]
        if let upper {
            range += " AND key < ?"
            arguments += [upper]
        }
        let count = try Int.fetchOne(db.cachedStatement(sql: "SELECT count(*) FROM state WHERE \(range)"), arguments: arguments) ?? 0
        var page = range
        var pageArguments = arguments
        if !after.isEmpty {
            page += " AND key > ?"
            pageArguments += [after]
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
            let value: Data = row[1]
            return (key: row[0], value: [UInt8](value))
        }
        return (entries, count)
    }

    func atomically<R>(_ body: () throws -> R) throws -> R {
        var result: R? = nil
        try db.inSavepoint {
            result = try body()
            return .commit
        }
        return result!
    }

    /// The least string above every string that starts with `prefix`; nil when there is none
    /// (an empty prefix, or one of U+10FFFF only).
    static func upperBound(_ prefix: String) -> String? {
        var scalars = Array(prefix.unicodeScalars)
        while let last = scalars.last {
            scalars.removeLast()
            guard last.value < 0x10FFFF else { continue }
            let next = last.value == 0xD7FF ? 0xE000 : last.value + 1
            scalars.append(Unicode.Scalar(next)!)
            var text = ""
            text.unicodeScalars.append(contentsOf: scalars)
            return text
        }
        return nil
    }
}
