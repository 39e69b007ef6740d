import Testing
import SwitchboardCore
@testable import SwitchboardHost

/// The watcher's decisions without files or inotify (issue #20): `PluginFileLedger` and
/// `WatchTable` fed with made-up fingerprints and events.
@Suite struct PluginWatcherRulesTests {
    static func print(inode: UInt64 = 1, size: Int64 = 100, mtime: Int64 = 1_000) -> Fingerprint {
        Fingerprint(device: 1, inode: inode, size: size, mtime: mtime, ctime: mtime)
    }
    static let settle: Int64 = 50_000_000

    @Test func aNewFileIsReadAndLoaded() {
        var ledger = PluginFileLedger()
        let f = Self.print()
        #expect(ledger.look(at: "/p/a.so", fingerprint: f, retryRefused: false, polling: false, now: 10_000_000_000, settle: Self.settle) == .read)
        #expect(ledger.read("/p/a.so", fingerprint: f, sha256: "aa", retryRefused: false) == .load)
        #expect(ledger.loaded("/p/a.so", before: f, after: f, outcome: .serving(sha256: "aa")) == .loaded)
        #expect(ledger.look(at: "/p/a.so", fingerprint: f, retryRefused: false, polling: false, now: 0, settle: Self.settle) == .unchanged)
    }

    @Test func aTouchOrACopyOfTheSameBytesIsNotLoadedAgain() {
        var ledger = PluginFileLedger()
        let f = Self.print()
        _ = ledger.loaded("/p/a.so", before: f, after: f, outcome: .serving(sha256: "aa"))
        let touched = Self.print(mtime: 2_000)
        #expect(ledger.look(at: "/p/a.so", fingerprint: touched, retryRefused: false, polling: false, now: 0, settle: 0) == .read)
        #expect(ledger.read("/p/a.so", fingerprint: touched, sha256: "aa", retryRefused: false) == .sameContent)
        #expect(ledger.seen[CodePointKey("/p/a.so")]?.fingerprint == touched, "recorded under its new fingerprint")
        #expect(ledger.read("/p/a.so", fingerprint: touched, sha256: "bb", retryRefused: false) == .load, "new content loads")
    }

    @Test func pollingWaitsForAFreshlyWrittenFileToSettle() {
        let ledger = PluginFileLedger()
        let f = Self.print(mtime: 1_000_000_000)
        #expect(ledger.look(at: "/p/a.so", fingerprint: f, retryRefused: false, polling: true, now: 1_010_000_000, settle: Self.settle) == .unsettled)
        #expect(ledger.look(at: "/p/a.so", fingerprint: f, retryRefused: false, polling: true, now: 1_060_000_000, settle: Self.settle) == .read)
        #expect(ledger.look(at: "/p/a.so", fingerprint: f, retryRefused: false, polling: false, now: 1_010_000_000, settle: Self.settle) == .read, "inotify reports the close")
    }

    @Test func aRefusedFileIsRetriedOnlyByARescanOrAChange() {
        var ledger = PluginFileLedger()
        let f = Self.print()
        #expect(ledger.loaded("/p/bad.so", before: f, after: f, outcome: .refused(sha256: "bad")) == .refused)
        #expect(ledger.look(at: "/p/bad.so", fingerprint: f, retryRefused: false, polling: false, now: 0, settle: 0) == .unchanged)
        #expect(ledger.look(at: "/p/bad.so", fingerprint: f, retryRefused: true, polling: false, now: 0, settle: 0) == .read)
        #expect(ledger.read("/p/bad.so", fingerprint: f, sha256: "bad", retryRefused: true) == .load, "a rescan loads the same bytes again")
    }

    @Test func aFileChangedWhileLoadingIsLookedAtAgain() {
        var ledger = PluginFileLedger()
        let before = Self.print(size: 100), after = Self.print(size: 200)
        // What loaded serves and is recorded; the refusal of a half-written file is not.
        #expect(ledger.loaded("/p/a.so", before: before, after: after, outcome: .serving(sha256: "v1")) == .changedUnderUs)
        #expect(ledger.seen[CodePointKey("/p/a.so")] == .init(fingerprint: before, sha256: "v1", refused: false))
        #expect(ledger.loaded("/p/a.so", before: after, after: Self.print(size: 300), outcome: .refused(sha256: "half")) == .changedUnderUs)
        #expect(ledger.seen[CodePointKey("/p/a.so")]?.sha256 == "v1")
        #expect(ledger.look(at: "/p/a.so", fingerprint: Self.print(size: 300), retryRefused: false, polling: false, now: 0, settle: 0) == .read)
    }

    @Test func filesGoneFromTheirDirectoryAreUnloadCandidates() {
        var ledger = PluginFileLedger()
        for file in ["/p/a.so", "/p/b.so", "/q/c.so"] {
            _ = ledger.loaded(file, before: Self.print(), after: Self.print(), outcome: .serving(sha256: file))
        }
        #expect(ledger.missing(in: "/p", listed: ["/p/a.so"]) == ["/p/b.so"])
        ledger.forget("/p/b.so")
        #expect(ledger.missing(in: "/p", listed: ["/p/a.so"]).isEmpty)
    }

    // MARK: WatchTable

    static func event(_ watch: Int32, _ name: String = "") -> WatchTable.Event { .init(watch: watch, mask: 0, name: Array(name.utf8)) }

    @Test func eventsMakeTheirDirectoriesDirty() {
        var table = WatchTable()
        table.added(1, .directory("/p"), realPath: "/real/p")
        table.added(2, .parent(of: "/p", name: "p"))
        table.added(3, .linkTargets("/store"))
        let all = ["/p", "/q"]
        #expect(table.apply(Self.event(1, "a.so"), overflowed: false, lost: false, directories: all) == ["/p"])
        #expect(table.apply(Self.event(2, "other"), overflowed: false, lost: false, directories: all).isEmpty, "a sibling of the directory")
        #expect(table.apply(Self.event(2, "p"), overflowed: false, lost: false, directories: all) == ["/p"])
        #expect(table.moved("/p", realPath: "/real/p"), "the parent saw the entry change: look up its real path again")
        #expect(table.apply(Self.event(3, "x.so"), overflowed: false, lost: false, directories: all) == all)
        #expect(table.apply(Self.event(99), overflowed: false, lost: false, directories: all).isEmpty, "an unknown watch")
        #expect(table.apply(Self.event(99), overflowed: true, lost: false, directories: all) == all, "an overflow dirties everything")
        // Names are the kernel's bytes: "r\xFF" is not the directory whose name shows it as U+FFFD.
        table.added(4, .parent(of: "/s/r\u{FFFD}", name: "r\u{FFFD}"))
        #expect(table.apply(.init(watch: 4, mask: 0, name: [0x72, 0xFF]), overflowed: false, lost: false, directories: ["/s/r\u{FFFD}"]).isEmpty)
        #expect(table.apply(Self.event(4, "r\u{FFFD}"), overflowed: false, lost: false, directories: ["/s/r\u{FFFD}"]) == ["/s/r\u{FFFD}"])
    }

    @Test func aLostWatchIsForgottenSoItIsWatchedAgain() {
        var table = WatchTable()
        table.added(1, .directory("/p"), realPath: "/real/p")
        #expect(!table.needsWatch("/p", realPath: "/real/p"))
        #expect(table.needsWatch("/p", realPath: "/real/p2"), "swapped: watch what it is now")
        #expect(table.apply(Self.event(1), overflowed: false, lost: true, directories: ["/p"]) == ["/p"])
        #expect(table.needsWatch("/p", realPath: "/real/p"))
        #expect(table.targets[1] == nil)
    }

    @Test func parsingWhatTheKernelWrote() {
        var bytes: [UInt8] = []
        func record(_ watch: Int32, _ mask: UInt32, _ name: String, padded: Int) {
            withUnsafeBytes(of: watch) { bytes += $0 }
            withUnsafeBytes(of: mask) { bytes += $0 }
            withUnsafeBytes(of: UInt32(0)) { bytes += $0 }
            withUnsafeBytes(of: UInt32(padded)) { bytes += $0 }
            bytes += Array(name.utf8) + Array(repeating: 0, count: padded - name.utf8.count)
        }
        record(4, 0x8, "a.so", padded: 16)
        record(5, 0x200, "", padded: 0)
        record(6, 0x100, "cut.so", padded: 16)
        let whole = bytes.withUnsafeBytes { WatchTable.events(in: $0) }
        #expect(whole == [.init(watch: 4, mask: 0x8, name: Array("a.so".utf8)), .init(watch: 5, mask: 0x200, name: []), .init(watch: 6, mask: 0x100, name: Array("cut.so".utf8))])
        let truncated = bytes.dropLast(4).withUnsafeBytes { WatchTable.events(in: $0) }
        #expect(truncated.count == 2, "a record cut off at the end is dropped")
    }

    /// Paths by code points: two names that differ only in normalization are two files, and a
    /// file gone is found among them.
    @Test func namesThatDifferOnlyInNormalizationAreTwoFiles() {
        var ledger = PluginFileLedger()
        let composed = "/p/caf\u{E9}.so", decomposed = "/p/cafe\u{301}.so"
        #expect(ledger.loaded(composed, before: Self.print(inode: 1), after: Self.print(inode: 1), outcome: .serving(sha256: "c")) == .loaded)
        #expect(ledger.look(at: decomposed, fingerprint: Self.print(inode: 1), retryRefused: false, polling: false, now: 0, settle: 0) == .read)
        #expect(ledger.loaded(decomposed, before: Self.print(inode: 2), after: Self.print(inode: 2), outcome: .serving(sha256: "d")) == .loaded)
        #expect(ledger.seen.count == 2)
        // Compared as bytes: String's == calls the two spellings equal, and would pass either way.
        #expect(ledger.missing(in: "/p", listed: [composed]).map { Array($0.utf8) } == [Array(decomposed.utf8)])
        #expect(ledger.missing(in: "/p", listed: [decomposed]).map { Array($0.utf8) } == [Array(composed.utf8)])
    }

    /// A file whose name is not UTF-8 is refused once while it stays, again on a rescan, and its
    /// refusal ends when it is gone from its directory (and only from its own). Two names that
    /// differ only in their invalid bytes are two files.
    @Test func aMisnamedFileIsRefusedOnceWhileItStays() {
        var ledger = PluginFileLedger()
        let e9 = MisnamedFile(directory: "/p", name: Array("caf".utf8) + [0xE9] + Array(".so".utf8))
        let e8 = MisnamedFile(directory: "/p", name: Array("caf".utf8) + [0xE8] + Array(".so".utf8))
        #expect(ledger.misnamed([e9], in: "/p", retryRefused: false) == (refuse: [e9], gone: []))
        #expect(ledger.misnamed([e9], in: "/p", retryRefused: false) == (refuse: [], gone: []))
        #expect(ledger.misnamed([e9, e8], in: "/p", retryRefused: false) == (refuse: [e8], gone: []), "another invalid byte: another file")
        #expect(ledger.misnamed([e9, e8], in: "/p", retryRefused: true) == (refuse: [e9, e8], gone: []))
        #expect(ledger.misnamed([], in: "/q", retryRefused: false) == (refuse: [], gone: []), "another directory's scan")
        #expect(ledger.misnamed([e8], in: "/p", retryRefused: false) == (refuse: [], gone: [e9]))
        #expect(ledger.misnamed([], in: "/p", retryRefused: false) == (refuse: [], gone: [e8]))
        #expect(ledger.misnamed([e9], in: "/p", retryRefused: false) == (refuse: [e9], gone: []), "back again: refused again")
    }

    /// How a name that is not UTF-8 is shown: each byte outside a UTF-8 sequence as \xHH, the
    /// rest as text.
    @Test func aMisnamedFileIsShownWithItsBytes() {
        #expect(MisnamedFile(directory: "/p", name: Array("caf".utf8) + [0xE9] + Array(".so".utf8)).shown == "/p/caf\\xE9.so")
        #expect(MisnamedFile(directory: "/p", name: Array("é".utf8) + [0xFF, 0xC3] + Array("x.so".utf8)).shown == "/p/é\\xFF\\xC3x.so")
        #expect(MisnamedFile(directory: "/p", name: [0xE2, 0x82] + Array(".so".utf8)).shown == "/p/\\xE2\\x82.so", "a cut sequence: each byte")
        #expect(MisnamedFile(directory: "/p", name: [0xF0, 0x9F, 0x98, 0x80, 0xC0, 0x80] + Array(".so".utf8)).shown == "/p/😀\\xC0\\x80.so", "an overlong NUL")
    }
}
