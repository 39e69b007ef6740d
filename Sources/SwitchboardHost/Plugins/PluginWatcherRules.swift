/// The watcher's decisions, as values: what an inotify event means for the plugin directories
/// (`WatchTable`), and what a file's fingerprint, hash and load outcome mean for what to load,
/// record or unload (`PluginFileLedger`). No system calls: `PluginWatcher` stats, reads, watches
/// and loads, and asks these what each observation means. `PluginWatcherRulesTests` drive them
/// without files.
///
/// Paths are keyed and compared by their code points (`CodePointKey`, `hasSameCodePoints`): Linux
/// names files by bytes, so `café.so` spelled with U+00E9 and with e + U+0301 are two files, which
/// `String`'s canonical equivalence would make one (the second replacing the first's plugin).

import SwitchboardCore

/// What identifies a version of a file without reading it (`stat(2)` of the path, following
/// symlinks): a change in any field means the file may have changed.
struct Fingerprint: Equatable, Sendable {
    var device: UInt64, inode: UInt64
    /// Bytes.
    var size: Int64
    /// Nanoseconds since the Unix epoch.
    var mtime: Int64, ctime: Int64
}

/// What the watcher knows of every plugin file it has looked at, and what each new look means.
struct PluginFileLedger {
    struct Seen: Equatable {
        var fingerprint: Fingerprint
        /// Lowercase hex SHA-256 of the content last looked at ("" when it could not be read).
        var sha256: String
        /// That content was refused: a rescan (`retryRefused`) tries it again.
        var refused: Bool
    }

    private(set) var seen: [CodePointKey: Seen] = [:]
    /// The files whose names are not UTF-8 that were refused, by their bytes: each is refused once
    /// while it stays.
    private(set) var misnamed: Set<MisnamedFile> = []

    enum FirstLook: Equatable {
        /// Same fingerprint as last time: nothing to do.
        case unchanged
        /// Written within the debounce window, and nothing reports when writing ends (polling):
        /// look again after the window.
        case unsettled
        /// Read it and hash it.
        case read
    }

    /// `file` has `fingerprint` now. `polling`: the watcher polls (no inotify close event tells
    /// when a write ends). `now` and `settle`: wall-clock nanoseconds and the debounce window.
    func look(at file: String, fingerprint: Fingerprint, retryRefused: Bool, polling: Bool, now: Int64, settle: Int64) -> FirstLook {
        if let previous = seen[CodePointKey(file)], previous.fingerprint == fingerprint, !(retryRefused && previous.refused) { return .unchanged }
        if polling, !retryRefused, now - fingerprint.mtime < settle { return .unsettled }
        return .read
    }

    enum AfterRead: Equatable {
        /// The content is what was last looked at (a `touch`, a copy of the same bytes): recorded
        /// under its new fingerprint, not loaded again.
        case sameContent
        case load
    }

    /// `file` (at `fingerprint`) was read: `sha256` of its content, nil when it could not be read
    /// (the loader reads it again and refuses it with the reason).
    mutating func read(_ file: String, fingerprint: Fingerprint, sha256: String?, retryRefused: Bool) -> AfterRead {
        let key = CodePointKey(file)
        guard let previous = seen[key], let sha256, previous.sha256 == sha256, !(retryRefused && previous.refused) else { return .load }
        seen[key]?.fingerprint = fingerprint
        return .sameContent
    }

    enum LoadOutcome: Equatable {
        /// A version with this SHA-256 serves the file now.
        case serving(sha256: String)
        /// The content read (this SHA-256, "" when unreadable) was refused.
        case refused(sha256: String)
    }

    enum AfterLoad: Equatable {
        case loaded
        /// Refused: record and report the refusal.
        case refused
        /// The file changed while it was read or loaded: say nothing, look again once it settles.
        case changedUnderUs
    }

    /// `file` was loaded (`outcome`), having fingerprint `before` when read and `after` once loaded
    /// (nil: gone). What serves is recorded, so the next look compares the file against that.
    mutating func loaded(_ file: String, before: Fingerprint, after: Fingerprint?, outcome: LoadOutcome) -> AfterLoad {
        switch outcome {
        case .serving(let sha256):
            seen[CodePointKey(file)] = Seen(fingerprint: before, sha256: sha256, refused: false)
            return after == before ? .loaded : .changedUnderUs
        case .refused(let sha256):
            guard after == before else { return .changedUnderUs }
            seen[CodePointKey(file)] = Seen(fingerprint: before, sha256: sha256, refused: true)
            return .refused
        }
    }

    /// Files last seen directly in `directory` that are not among `listed` now: candidates to unload
    /// (the shell checks each is really gone, not just a dangling-then-fixed symlink).
    func missing(in directory: String, listed: [String]) -> [String] {
        let listed = Set(listed.map(CodePointKey.init))
        return seen.keys.filter { PluginWatcher.parent(of: $0.string).hasSameCodePoints(as: directory) && !listed.contains($0) }.sorted().map(\.string)
    }

    mutating func forget(_ file: String) { seen[CodePointKey(file)] = nil }

    /// `listed`: the files in `directory` whose names are not UTF-8, now
    /// (`PluginRegistry.pluginFiles`). `refuse`: those to refuse, the ones not refused since they
    /// appeared (all of them when `retryRefused`). `gone`: those refused before that are listed no
    /// more (renamed or removed), whose refusals end.
    mutating func misnamed(_ listed: [MisnamedFile], in directory: String, retryRefused: Bool) -> (refuse: [MisnamedFile], gone: [MisnamedFile]) {
        let now = Set(listed)
        let directory = CodePointKey(directory)
        let gone = misnamed.filter { $0.directory == directory && !now.contains($0) }
        misnamed.subtract(gone)
        let refuse = listed.filter { retryRefused || !misnamed.contains($0) }
        misnamed.formUnion(now)
        return (refuse, gone.sorted { $0.name.lexicographicallyPrecedes($1.name) })
    }
}

/// The inotify watches and what each event means: which plugin directories to look at again.
struct WatchTable {
    enum Target: Equatable {
        /// A plugin directory itself.
        case directory(String)
        /// The parent of a plugin directory: only events on the entry `name` matter (the
        /// directory swapped as a symlink, removed or recreated).
        case parent(of: String, name: String)
        /// A directory that symlinked plugin files point into.
        case linkTargets(String)
    }

    /// One event as the kernel reports it (`struct inotify_event`), its mask already classified.
    struct Event: Equatable {
        var watch: Int32
        var mask: UInt32
        /// The entry's name as the kernel gave it: bytes, which need not be UTF-8.
        var name: [UInt8]
    }

    private(set) var targets: [Int32: Target] = [:]
    /// The paths watched (`parent:<dir>` for a directory's parent), so none is watched twice.
    private(set) var watchedPaths: Set<CodePointKey> = []
    /// Each plugin directory's real path when it was watched: a different one now means it moved.
    private(set) var resolved: [CodePointKey: String] = [:]

    mutating func added(_ watch: Int32, _ target: Target, realPath: String? = nil) {
        targets[watch] = target
        switch target {
        case .directory(let directory):
            watchedPaths.insert(CodePointKey(directory))
            resolved[CodePointKey(directory)] = realPath
        case .parent(of: let directory, _): watchedPaths.insert(CodePointKey("parent:" + directory))
        case .linkTargets(let directory): watchedPaths.insert(CodePointKey(directory))
        }
    }

    func isWatched(parentOf directory: String) -> Bool { watchedPaths.contains(CodePointKey("parent:" + directory)) }

    /// Whether `directory` needs a (new) watch: never watched, or its real path is not the one watched.
    func needsWatch(_ directory: String, realPath: String?) -> Bool {
        !watchedPaths.contains(CodePointKey(directory)) || moved(directory, realPath: realPath)
    }

    func isWatched(linkTargets directory: String) -> Bool { watchedPaths.contains(CodePointKey(directory)) }

    /// Whether `directory` resolves elsewhere than when it was watched.
    func moved(_ directory: String, realPath: String?) -> Bool {
        switch (resolved[CodePointKey(directory)], realPath) {
        case (nil, nil): false
        case (let watched?, let now?): !watched.hasSameCodePoints(as: now)
        default: true
        }
    }

    /// The plugin directories (of `all`) an event makes dirty. `overflowed`: the kernel dropped
    /// events (every directory is dirty). `lost`: the watch is gone (its directory was deleted or
    /// moved); it is forgotten, so the next look watches again.
    mutating func apply(_ event: Event, overflowed: Bool, lost: Bool, directories all: [String]) -> [String] {
        if overflowed { return all }
        guard let target = targets[event.watch] else { return [] }
        if lost {
            targets[event.watch] = nil
            switch target {
            case .directory(let directory):
                watchedPaths.remove(CodePointKey(directory))
                resolved[CodePointKey(directory)] = nil
            case .linkTargets(let directory): watchedPaths.remove(CodePointKey(directory))
            case .parent: break
            }
        }
        switch target {
        case .directory(let directory):
            return [directory]
        case .parent(of: let directory, name: let base):
            guard base.utf8.elementsEqual(event.name) else { return [] }
            resolved[CodePointKey(directory)] = nil
            return [directory]
        case .linkTargets:
            return all
        }
    }

    /// Splits what `read(2)` returned from an inotify descriptor into events. A truncated record at
    /// the end is dropped (the kernel never splits one; a short buffer would).
    static func events(in bytes: UnsafeRawBufferPointer) -> [Event] {
        var events: [Event] = []
        var offset = 0
        while offset + 16 <= bytes.count {
            let watch = bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self)
            let mask = bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
            let length = Int(bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
            guard offset + 16 + length <= bytes.count else { break }
            let name = bytes[(offset + 16)..<(offset + 16 + length)].prefix { $0 != 0 }
            events.append(Event(watch: watch, mask: mask, name: Array(name)))
            offset += 16 + length
        }
        return events
    }
}
