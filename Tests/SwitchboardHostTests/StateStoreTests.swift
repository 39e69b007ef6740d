import CSwitchboard
import Foundation
import Synchronization
import Testing
@testable import SwitchboardHost

/// The state store on SQLite (issue #18): what a plugin writes is there after a restart and after
/// `kill -9`, a transaction applies all or nothing, a page skips without reading, two servers
/// share a directory, and an earlier version's log is imported.
@Suite struct StateStoreTests {
    static func text(_ store: StateStore, _ plugin: String, _ key: String) -> String? {
        (try? store.apply(.get(key), plugin: plugin)).map { String(decoding: $0.value, as: UTF8.self) }
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test(arguments: ["sqlite", "memory"])
    func everyOperationAsTheHeaderSays(backend: String) throws {
        let store = backend == "memory" ? StateStore() : try StateStore(directory: TestPaths.temporaryDirectory("state-ops"))
        _ = try store.apply(.put("items/1", Self.bytes("one")), plugin: "status")
        _ = try store.apply(.put("items/1", Self.bytes("theirs")), plugin: "other")
        #expect(Self.text(store, "status", "items/1") == "one" && Self.text(store, "other", "items/1") == "theirs")
        #expect(throws: StateError.self) { try store.apply(.get("missing"), plugin: "status") }
        #expect(try store.apply(.increment("n", 5), plugin: "status").number == 5)
        #expect(try store.apply(.increment("n", -2), plugin: "status").number == 3)
        _ = try store.apply(.put("text", Self.bytes("x")), plugin: "status")
        #expect(Self.status { try store.apply(.increment("text", 1), plugin: "status") } == SB_ERR_INVALID_ARGUMENT)
        #expect(Self.status { try store.apply(.compareAndPut("items/1", expected: Self.bytes("two"), Self.bytes("3")), plugin: "status") } == SB_ERR_CONFLICT)
        #expect(Self.status { try store.apply(.compareAndPut("items/1", expected: nil, Self.bytes("3")), plugin: "status") } == SB_ERR_CONFLICT)
        _ = try store.apply(.compareAndPut("items/1", expected: Self.bytes("one"), Self.bytes("1")), plugin: "status")
        _ = try store.apply(.compareAndPut("items/9", expected: nil, Self.bytes("9")), plugin: "status")
        #expect(Self.status { try store.apply(.compareAndDelete("items/9", expected: Self.bytes("8")), plugin: "status") } == SB_ERR_CONFLICT)
        #expect(Self.status { try store.apply(.compareAndDelete("nope", expected: Self.bytes("8")), plugin: "status") } == SB_ERR_NOT_FOUND)
        _ = try store.apply(.compareAndDelete("items/9", expected: Self.bytes("9")), plugin: "status")
        #expect(Self.status { try store.apply(.delete("items/9"), plugin: "status") } == SB_ERR_NOT_FOUND)
        #expect(Self.text(store, "status", "items/1") == "1")
    }

    /// Keys are bytes: one holding NUL stays whole, and canonically equivalent spellings stay two.
    @Test(arguments: ["sqlite", "memory"])
    func keysAreTheirBytes(backend: String) throws {
        let store = backend == "memory" ? StateStore() : try StateStore(directory: TestPaths.temporaryDirectory("state-bytes"))
        for key in ["users/alice", "users/alice\0x", "users/alice\0y", "caf\u{E9}", "cafe\u{301}"] {
            _ = try store.apply(.put(key, Self.bytes(key)), plugin: "p")
        }
        for key in ["users/alice", "users/alice\0x", "users/alice\0y", "caf\u{E9}", "cafe\u{301}"] {
            #expect(Self.text(store, "p", key) == key, "\(key.unicodeScalars.map { $0.value })")
        }
        let page = try store.apply(.list(prefix: "users/alice\0", after: "", skip: 0, limit: 0), plugin: "p")
        #expect(page.entries.map(\.key) == ["users/alice\0x", "users/alice\0y"] && page.number == 2)
        #expect(try store.apply(.list(prefix: "", after: "", skip: 0, limit: 0), plugin: "p").number == 5)
    }

    static func status(_ body: () throws -> StateResult) -> sb_status {
        do {
            _ = try body()
            return SB_OK
        } catch let error as StateError {
            return error.status
        } catch {
            return SB_ERR_INTERNAL
        }
    }

    @Test(arguments: ["sqlite", "memory"])
    func aPageIsARangeInByteOrderAtAnyOffset(backend: String) throws {
        let store = backend == "memory" ? StateStore() : try StateStore(directory: TestPaths.temporaryDirectory("state-page"))
        for i in 0..<300 { _ = try store.apply(.put(String(format: "item/%05d", i), Self.bytes("\(i)")), plugin: "p") }
        // Neighbours of the prefix that a careless range would take in.
        for key in ["item", "itema", "item0", "ite", "item/", "item/\u{10FFFF}", "item/é", "iten/1"] {
            _ = try store.apply(.put(key, Self.bytes(key)), plugin: "p")
        }
        _ = try store.apply(.put("item/00001", Self.bytes("other plugin")), plugin: "q")
        // "item/" itself comes first: skipping 251 starts at item/00250.
        let page = try store.apply(.list(prefix: "item/", after: "", skip: 251, limit: 10), plugin: "p")
        #expect(page.entries.map(\.key) == (250..<260).map { String(format: "item/%05d", $0) })
        #expect(page.number == 303, "every key with the prefix: 300, item/, item/é, item/U+10FFFF")
        let after = try store.apply(.list(prefix: "item/", after: "item/00297", skip: 1, limit: 0), plugin: "p")
        #expect(after.entries.map(\.key) == ["item/00299", "item/é", "item/\u{10FFFF}"], "byte order: é (C3 A9) before U+10FFFF (F4)")
        let all = try store.apply(.list(prefix: "", after: "", skip: 0, limit: 0), plugin: "p")
        #expect(all.number == 308 && all.entries.count == 308)
        #expect(all.entries.map(\.key) == all.entries.map(\.key).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
        let top = try store.apply(.list(prefix: "item/\u{10FFFF}", after: "", skip: 0, limit: 5), plugin: "p")
        #expect(top.entries.map(\.key) == ["item/\u{10FFFF}"] && top.number == 1)
    }

    /// Pages at every offset around the paging anchors agree with the memory store, also after a
    /// write moves every key's position.
    @Test func pagesAtAnyOffsetAgreeWithTheMemoryStore() throws {
        let stores = [StateStore(), try StateStore(directory: TestPaths.temporaryDirectory("state-anchors"))]
        func put(_ key: String) throws { for store in stores { _ = try store.apply(.put(key, Self.bytes(key)), plugin: "p") } }
        for i in stride(from: 0, to: 600, by: 2) { try put(String(format: "k/%04d", i)) }
        for round in 0..<2 {
            for skip in [0, 1, 127, 128, 129, 255, 256, 257, 299, 300, 301, 450, 10_000] {
                let pages = try stores.map { try $0.apply(.list(prefix: "k/", after: "", skip: skip, limit: 3), plugin: "p") }
                #expect(pages[0].entries.map(\.key) == pages[1].entries.map(\.key), "round \(round), skip \(skip)")
                #expect(pages[0].number == pages[1].number)
            }
            try put("k/0001")  // every later key moves one position
        }
    }

    @Test(arguments: ["sqlite", "memory"])
    func aTransactionAppliesAllOrNothing(backend: String) throws {
        let store = backend == "memory" ? StateStore() : try StateStore(directory: TestPaths.temporaryDirectory("state-tx"))
        _ = try store.apply(.put("counter", Self.bytes("1")), plugin: "p")
        let failing: [StateStep] = [.put("a", Self.bytes("A")), .delete("counter"), .expect("counter", Self.bytes("1")), .put("b", Self.bytes("B"))]
        do {
            _ = try store.apply(.transaction(failing), plugin: "p")
            Issue.record("an expectation that does not hold applied")
        } catch {
            #expect(error.status == SB_ERR_CONFLICT && error.result.number == 2, "the index of the step that failed")
        }
        #expect(Self.text(store, "p", "a") == nil && Self.text(store, "p", "counter") == "1", "nothing applied")
        _ = try store.apply(
            .transaction([.expect("counter", Self.bytes("1")), .put("counter", Self.bytes("2")), .expectAbsent("item/2"), .put("item/2", Self.bytes("two"))]),
            plugin: "p")
        #expect(Self.text(store, "p", "counter") == "2" && Self.text(store, "p", "item/2") == "two")
        // In a group of calls, one that fails leaves the others standing.
        let outcomes = store.apply([
            (.put("x", Self.bytes("x")), "p"), (.transaction([.put("y", Self.bytes("y")), .expectAbsent("x")]), "p"), (.put("z", Self.bytes("z")), "p"),
        ])
        #expect(outcomes.map { (try? $0.get()) != nil } == [true, false, true])
        #expect(Self.text(store, "p", "x") == "x" && Self.text(store, "p", "y") == nil && Self.text(store, "p", "z") == "z")
    }

    /// state_transaction and state_list_page from C (issue #18): all or nothing with the failing
    /// index, every malformed call refused before `done` (rule 9), pages at an offset.
    @Test func aCPluginUsesTransactionsAndPages() throws {
        let server = try ServerProcess(
            pluginDirectories: [Fixtures.pluginDirectory("state-ops", files: [Fixtures.built["state_ops"]!])],
            environment: ["SWITCHBOARD_STATE_DIRECTORY": TestPaths.temporaryDirectory("state-ops-server")])
        defer { server.stop() }
        let response = try server.get("/state-ops/run")
        #expect(response.status == 200, "\(response.text)")
        var lines: [String: String] = [:]
        for line in response.text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            lines[String(parts[0])] = parts.count > 1 ? String(parts[1]).trimmingCharacters(in: .whitespaces) : ""
        }
        #expect(lines["seed"] == "0 0 0")
        #expect(lines["conflict"] == "-11 2 0", "SB_ERR_CONFLICT at the EXPECT, index 2")
        #expect(lines["k3-after-conflict"]?.hasPrefix("-2 ") == true, "nothing of it applied: k3 absent")
        #expect(lines["k1-after-conflict"] == "0 0 0", "nor k1 deleted")
        for refused in [
            "unknown-kind", "short-struct", "uneven-sizes", "no-ops", "null-ops",
            "put-not-utf8", "get-not-utf8", "inline-not-utf8", "list-not-utf8", "op-not-utf8",
        ] {
            #expect(lines[refused] == "refused -1", "\(refused): \(lines[refused] ?? "missing")")
        }
        #expect(lines["k1-unchanged"] == "0 0 0")
        #expect(lines["repaired-key-absent"]?.hasPrefix("-2 ") == true, "a key that is not UTF-8 was not stored repaired")
        #expect(lines["publish-not-utf8"] == "-1")
        #expect(lines["page-skip-7"] == "0 10 2 p/07", "the 8th and 9th of 10, the count of all")
        #expect(lines["page-after-03-skip-2"] == "0 10 4 p/06")
        // state_get_inline (issue #21): answered inside the call when the value is at hand.
        #expect(lines["inline-k2-where"] == "inline" && lines["inline-k2"]?.hasPrefix("0 ") == true, "\(response.text)")
        #expect(lines["inline-never-where"] == "queued" && lines["inline-never"]?.hasPrefix("-2 ") == true, "\(response.text)")
        #expect(lines["inline-never-again-where"] == "inline" && lines["inline-never-again"]?.hasPrefix("-2 ") == true, "\(response.text)")
        // Looked up by the plugin's bytes, a non-ASCII key is the one stored, byte for byte.
        #expect(lines["inline-utf8-where"] == "inline" && lines["inline-utf8"]?.hasPrefix("0 ") == true, "\(response.text)")
        #expect(lines["inline-utf8-decomposed-where"] == "inline" && lines["inline-utf8-decomposed"]?.hasPrefix("-2 ") == true, "\(response.text)")
        // Two threads reading at once: every read answered with the value. How many took their
        // turn inline, rather than queueing after the wait, is the scheduler's (a flag made half of
        // them queue on an idle machine; bench/state.sh measures what it is worth).
        #expect(lines["inline-concurrent"]?.hasPrefix("1000 ") == true, "\(response.text)")
        // A reader holding a lock the answering thread's completion takes: queued, not stuck.
        #expect(lines["inline-lock-cycle"]?.hasPrefix("0 ") == true && lines["inline-lock-cycle-a"] == "1", "\(response.text)")
        // state_get_now (ABI 1.9): the value visited once inside the call, a known absence, or
        // SB_ERR_WOULD_BLOCK (-5) with nothing queued.
        #expect(lines["now-k2"] == "0 1 b", "\(response.text)")
        #expect(lines["now-never"] == "-2 0 -", "\(response.text)")
        #expect(lines["now-unasked"] == "-5 0 -" && lines["now-unasked-still"] == "-5 0 -", "never read: not at hand, and not queued by asking")
        #expect(lines["get-unasked"]?.hasPrefix("-2 ") == true)
        #expect(lines["now-unasked-again"] == "-2 0 -", "\(response.text)")
        #expect(lines["now-not-utf8"] == "-1 0 -" && lines["now-null-visit"] == "-1" && lines["now-null-plugin"] == "-1", "\(response.text)")
        #expect(lines["now-in-inline-done"] == "0 1 b", "answered inside an inline read's completion: \(response.text)")
        #expect(lines["now-in-queued-done"] == "-5 0", "the drain holds the store: \(response.text)")
        // Read-your-writes: behind a write not yet completed, never the value it replaces.
        #expect(lines["put-k2"]?.hasPrefix("0 ") == true && lines["now-behind-put"] == "ok", "\(response.text)")
        #expect(lines["now-after-put"] == "0 1 c", "\(response.text)")
        // Two threads reading now while a third replaces the value 50 times: every put completes,
        // the writer reads each of its values at once, no reader goes back to an older value.
        #expect(lines["now-concurrent"] == "50 50 0 answered", "puts, own reads, wrong reads: \(response.text)")
    }

    /// Another process committing to the same SQLite store (a worker being replaced, `sqlite3`)
    /// makes this one forget what it remembered: a value at hand is never older than the store.
    @Test func anotherProcessesCommitEmptiesTheCache() throws {
        let directory = TestPaths.temporaryDirectory("state-shared")
        let mine = try StateStore(directory: directory)
        let theirs = try StateStore(directory: directory)
        _ = try mine.apply(.put("k", Self.bytes("mine")), plugin: "p")
        #expect(mine.cached("k", plugin: "p") == .present(Self.bytes("mine")))
        _ = try theirs.apply(.put("k", Self.bytes("theirs")), plugin: "p")
        #expect(mine.cached("k", plugin: "p") == nil, "another connection committed")
        #expect(Self.text(mine, "p", "k") == "theirs")
        #expect(mine.cached("k", plugin: "p") == .present(Self.bytes("theirs")))
        // A compare that fails forgets the key, whatever was remembered.
        #expect(throws: StateError.self) { try mine.apply(.compareAndPut("k", expected: Self.bytes("stale"), Self.bytes("x")), plugin: "p") }
        #expect(mine.cached("k", plugin: "p") == nil)
    }

    /// What lets a cached read skip SQLite: the store reads the wal-index header (through SQLite's
    /// own mapping of `state.db-shm`), which stays the same while nothing commits and moves with
    /// every commit, this connection's or another's. Were it never readable, every read would
    /// still be right, only slower, so this is the test that the fast path is there at all.
    @Test func theWALIndexHeaderMovesWithEveryCommitAndOnlyThen() throws {
        let directory = TestPaths.temporaryDirectory("state-wal-index")
        let mine = try StateStore(directory: directory)
        let theirs = try StateStore(directory: directory)
        let header = try #require((mine.storage as? SQLiteStateStorage)?.walIndex, "the store reads the header")
        _ = try mine.apply(.put("k", Self.bytes("1")), plugin: "p")
        let first = try #require(header.read(), "a WAL-mode database has an initialised header")
        _ = try mine.apply(.get("k"), plugin: "p")
        #expect(mine.cached("k", plugin: "p") == .present(Self.bytes("1")))
        #expect(header.read() == first, "reads commit nothing")
        _ = try mine.apply(.put("k", Self.bytes("2")), plugin: "p")
        let second = try #require(header.read())
        #expect(second != first, "this connection's commit")
        #expect(mine.cached("k", plugin: "p") == .present(Self.bytes("2")), "its own commit keeps what it remembers")
        _ = try theirs.apply(.put("k", Self.bytes("3")), plugin: "p")
        #expect(header.read() != second, "another connection's commit")
        #expect(mine.cached("k", plugin: "p") == nil)
        #expect(Self.text(mine, "p", "k") == "3")
    }

    /// The values a get is answered from without a transaction follow every committed change,
    /// and nothing of a transaction that failed.
    @Test func theCacheFollowsWhatIsCommitted() throws {
        let store = StateStore()
        #expect(store.cached("a", plugin: "p") == nil)
        _ = try? store.apply(.get("a"), plugin: "p")
        #expect(store.cached("a", plugin: "p") == .absent)
        _ = try store.apply(.put("a", Self.bytes("1")), plugin: "p")
        #expect(store.cached("a", plugin: "p") == .present(Self.bytes("1")))
        #expect(store.cached("a", plugin: "q") == nil, "per plugin")
        _ = try store.apply(.increment("a", 2), plugin: "p")
        #expect(store.cached("a", plugin: "p") == .present(Self.bytes("3")))
        _ = try? store.apply(.transaction([.put("a", Self.bytes("9")), .expectAbsent("b"), .expect("c", Self.bytes("x"))]), plugin: "p")
        #expect(store.cached("a", plugin: "p") == nil, "a failed transaction records nothing, and forgets its keys")
        #expect(Self.text(store, "p", "a") == "3" && store.cached("a", plugin: "p") == .present(Self.bytes("3")))
        _ = try store.apply(.transaction([.put("a", Self.bytes("4")), .delete("b")]), plugin: "p")
        #expect(store.cached("a", plugin: "p") == .present(Self.bytes("4")) && store.cached("b", plugin: "p") == .absent)
        _ = try store.apply(.compareAndDelete("a", expected: Self.bytes("4")), plugin: "p")
        #expect(store.cached("a", plugin: "p") == .absent)
        #expect(store.cached("e\u{301}", plugin: "p") == nil && { _ = try? store.apply(.put("é", Self.bytes("x")), plugin: "p"); return store.cached("e\u{301}", plugin: "p") == nil }(), "keys are bytes")
    }

    @Test func everyChangeSurvivesReopening() throws {
        let directory = TestPaths.temporaryDirectory("state") + "/nested/state"
        do {
            let store = try StateStore(directory: directory)
            _ = try store.apply(.put("items/1", Self.bytes(#"{"name":"a"}"#)), plugin: "status")
            _ = try store.apply(.put("items/2", Self.bytes("two")), plugin: "status")
            _ = try store.apply(.delete("items/2"), plugin: "status")
            #expect(try store.apply(.increment("next_id", 1), plugin: "status").number == 1)
        }
        let reopened = try StateStore(directory: directory)
        #expect(Self.text(reopened, "status", "items/1") == #"{"name":"a"}"#)
        #expect(Self.text(reopened, "status", "items/2") == nil)
        #expect(try reopened.apply(.increment("next_id", 1), plugin: "status").number == 2)
        // Operators read it with sqlite3, as the README's schema says.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3") {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            process.arguments = [directory + "/state.db", "SELECT plugin, CAST(key AS TEXT), CAST(value AS TEXT) FROM state ORDER BY key"]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            process.waitUntilExit()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(text == "status|items/1|{\"name\":\"a\"}\nstatus|next_id|2\n", "\(text)")
        }
    }

    @Test func aStateLogOfTheEarlierStoreIsImported() throws {
        let directory = TestPaths.temporaryDirectory("state-import")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let log = directory + "/state.log"
        // A log as the earlier store wrote it, ending in a torn record (a crash mid-append).
        try StateLog.write(
            [
                .put("status", "item/1", Self.bytes("one")), .put("status", "item/2", Self.bytes("two")), .put("other", "k", Self.bytes("v")),
                .delete("status", "item/2"), .put("status", "next", Self.bytes("7")), .put("status", "nul\0key", Self.bytes("z")),
                .put("status", "nul", Self.bytes("y")),
            ], to: log)
        let torn = StateLog.encode(.put("status", "item/3", Self.bytes("three"))).dropLast(2)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(torn))
        try handle.close()
        do {
            let store = try StateStore(directory: directory)
            #expect((store.storage as? SQLiteStateStorage)?.imported == 5)
            #expect(Self.text(store, "status", "nul\0key") == "z" && Self.text(store, "status", "nul") == "y", "a key with NUL stays whole")
            #expect(Self.text(store, "status", "item/1") == "one" && Self.text(store, "status", "item/2") == nil)
            #expect(Self.text(store, "status", "item/3") == nil && Self.text(store, "other", "k") == "v" && Self.text(store, "status", "next") == "7")
            _ = try store.apply(.put("status", Self.bytes("after the import")), plugin: "status")
        }
        #expect(!FileManager.default.fileExists(atPath: log) && FileManager.default.fileExists(atPath: log + ".imported"), "kept beside as a backup")
    }

    /// A log put back beside a store that holds newer data (a downgrade, then an upgrade) is
    /// refused, not imported over it; a log the store has imported is only renamed.
    @Test func aStaleLogIsRefusedAndAnImportedOneOnlyRenamed() throws {
        let directory = TestPaths.temporaryDirectory("state-stale")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let log = directory + "/state.log"
        try StateLog.write([.put("status", "item/1", Self.bytes("old"))], to: log)
        // The import committed, then the server stopped before renaming the log.
        do {
            let store = try StateStore(directory: directory)
            _ = try store.apply(.put("item/1", Self.bytes("new")), plugin: "status")
        }
        try FileManager.default.moveItem(atPath: log + ".imported", toPath: log)
        let again = try StateStore(directory: directory)
        #expect((again.storage as? SQLiteStateStorage)?.imported == nil, "nothing imported again")
        #expect(Self.text(again, "status", "item/1") == "new" && !FileManager.default.fileExists(atPath: log))
        // Another log beside the data: refused.
        try StateLog.write([.put("status", "item/1", Self.bytes("stale"))], to: log)
        #expect { try StateStore(directory: directory) } throws: { "\($0)".contains("already holds data") }
        #expect(Self.text(again, "status", "item/1") == "new")
    }

    /// A server of the version before SQLite holds the directory exclusively; this one refuses
    /// to start beside it (importing its log while it writes would lose those writes). Two of
    /// this version sharing one: `WrongAnswerTests.twoServersOnOneStateDirectoryShareIt`.
    @Test func aServerOfAnEarlierVersionKeepsItsDirectory() throws {
        let state = TestPaths.temporaryDirectory("state-earlier")
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
        // The earlier version's claim, held by this process (a child holding it, `flock -x … sleep`,
        // would outlive a kill of the flock command and keep the lock for its whole sleep).
        let fd = open(state + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        #expect(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0)
        defer { close(fd) }
        #expect {
            try ServerProcess(pluginDirectories: [], environment: ["SWITCHBOARD_STATE_DIRECTORY": state])
        } throws: { error in
            "\(error)".contains("in use by a switchboard of an earlier version")
        }
    }

    @Test func aFileThatIsNotADatabaseIsRefusedWithAMessage() throws {
        let directory = TestPaths.temporaryDirectory("state-junk")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: directory + "/state.db"))
        #expect { try StateStore(directory: directory) } throws: { "\($0)".contains("cannot open the state database \(directory)/state.db") }
    }

    @Test func theServerWillNotStartOnAStateLogItCannotRead() throws {
        let state = TestPaths.temporaryDirectory("state-server")
        try FileManager.default.createDirectory(atPath: state + "/state", withIntermediateDirectories: true)
        try Data("junk".utf8).write(to: URL(fileURLWithPath: state + "/state/state.log"))
        #expect {
            try ServerProcess(pluginDirectories: [], environment: ["SWITCHBOARD_STATE_DIRECTORY": state])
        } throws: { error in
            "\(error)".contains("cannot open the state store") && "\(error)".contains("is not a Switchboard state log")
        }
    }

    @Test func anUnknownBackendIsRefused() throws {
        #expect {
            try ServerProcess(pluginDirectories: [], environment: ["SWITCHBOARD_STATE_BACKEND": "postgres"])
        } throws: { error in
            "\(error)".contains("state.backend is \"postgres\"")
        }
    }

    /// `kill -9` in the middle of 200 concurrent creations: every one answered 201 is there after
    /// a restart (each answered only once its commit is on disk).
    @Test func noAnsweredCreationIsLostToKill9() async throws {
        let state = TestPaths.temporaryDirectory("state-kill")
        let plugins = Fixtures.pluginDirectory("state-kill", files: [TestPaths.plugin("Status")])
        let server = try ServerProcess(pluginDirectories: [plugins], environment: ["SWITCHBOARD_STATE_DIRECTORY": state])
        let port = server.port
        let json = [("Content-Type", "application/json")]
        let created = AnsweredCount()
        // 200 creations and, among them, the kill: once 40 were answered, before all were.
        // The killer first, so it holds a slot from the start.
        let outcomes = await Blocking.concurrently(201) { i -> Int? in
            if i == 0 {
                let deadline = Date().addingTimeInterval(30)
                while created.value.load(ordering: .relaxed) < 40 && Date() < deadline { usleep(1000) }
                kill(server.process.processIdentifier, SIGKILL)
                return nil
            }
            guard let response = try? RawHTTP.request(
                port: port, method: "POST", path: "/items", headers: json, body: Array(#"{"name":"Pen \#(i)","price":1}"#.utf8), timeout: 10),
                response.status == 201
            else { return nil }
            created.value.add(1, ordering: .relaxed)
            return (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])?["id"] as? Int
        }
        let answered = outcomes.compactMap { $0 }
        server.process.waitUntilExit()
        let restarted = try ServerProcess(pluginDirectories: [plugins], environment: ["SWITCHBOARD_STATE_DIRECTORY": state])
        defer { restarted.stop() }
        for id in answered {
            #expect(try restarted.get("/items/\(id)").status == 200, "item \(id) was answered 201 before the kill")
        }
        #expect(!answered.isEmpty, "some creations were answered before the kill")
    }
}

/// How many creations were answered so far, shared by the tasks that make them.
final class AnsweredCount: Sendable {
    let value = Atomic<Int>(0)
}
