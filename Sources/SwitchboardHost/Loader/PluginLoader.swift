import CSwitchboard
import CSwitchboardHostSupport
import Crypto
import Logging
import SwitchboardRouting
import SwitchboardCore
#if canImport(Glibc)
import Glibc
#endif

/// Turns a dropped plugin file into an initialised `PluginInstance`, or a `LoadRefusal`.
///
/// Stages, each with its own refusal: read the file → check the ELF headers → hash it → copy it to
/// a private path keyed by the hash (the dropped file is never mapped: overwriting a mapped file
/// crashes the process) → `dlopen` the copy → find the entry symbol → check the descriptor (size,
/// magic, ABI major and minor, Swift toolchain, name) → run on_init → check the routes it added.
/// Conflicts with other plugins are the registry's job.
public struct PluginLoader: Sendable {
    /// Where private copies of plugin images are kept.
    public let imageDirectory: String
    /// The host's Swift compiler version (major*10000 + minor*100 + patch).
    public let hostSwiftVersion: UInt32
    /// Versions refused because the process died in their code.
    public let quarantine: Quarantine
    /// Tells a worker's supervisor which version is about to run (`loading`) and where each image
    /// lies (`image`), so a crash or a hang while loading, or on a thread the plugin started, is
    /// attributed to its version.
    let report: (@Sendable (WorkerMessage) -> Void)?
    /// Where the loader logs (the retained-image warning); each instance logs through a copy of it.
    public let logger: Logger

    /// `quarantine` defaults to an empty list kept in memory only; `report` is nil outside a worker.
    /// Touches nothing on disk: the image directory is made at the first load.
    public init(
        imageDirectory: String, hostSwiftVersion: UInt32 = SwiftToolchain.compilerVersion,
        quarantine: Quarantine = Quarantine(path: nil), report: (@Sendable (WorkerMessage) -> Void)? = nil, logger: Logger
    ) {
        self.imageDirectory = imageDirectory
        self.hostSwiftVersion = hostSwiftVersion
        self.quarantine = quarantine
        self.report = report
        self.logger = logger
    }

    /// Removes private copies left by processes that died before removing them (a crash in a
    /// constructor or on_init): `<sha>-<pid>-<name>` whose pid no longer runs, and their
    /// temporary files. Call at start.
    public func removeStaleCopies() {
        guard let dir = opendir(imageDirectory) else { return }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            let parts = name.split(separator: "-", maxSplits: 2)
            guard parts.count == 3, parts[0].count == 16, let pid = Int32(parts[1]), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink("\(imageDirectory)/\(name)") }
        }
    }

    /// Where the private copy of `sha256` loaded from `file` lives until `discardCopy`.
    func privateCopyPath(sha256: String, file: String) -> String {
        let base = file.split(separator: "/").last.map(String.init) ?? "plugin.so"
        return "\(imageDirectory)/\(sha256.prefix(16))-\(getpid())-\(base)"
    }

    /// Removes the private copy of a loaded instance (the registry calls it once it has kept
    /// what it wants of it). The mapping outlives the name.
    func discardCopy(of instance: PluginInstance) {
        unlink(privateCopyPath(sha256: instance.sha256, file: instance.file))
    }

    /// Loads `file` (from `contents` when the caller has read it already). `nameOwner(name)`
    /// returns the file that already serves a plugin of that name, if it is another file.
    func load(
        file: String, contents: PluginFileContents? = nil, generation: (String) -> Int, config: @escaping @Sendable (_ plugin: String, _ key: String) -> String?,
        nameOwner: (String) -> String?, retained: RetainedImages, services: HostServices
    ) throws(LoadRefusal) -> PluginInstance {
        func refuse(_ kind: LoadRefusal.Kind, _ message: String, name: String? = nil) -> LoadRefusal {
            LoadRefusal(kind: kind, file: file, pluginName: name, message: message)
        }

        let read: PluginFileContents
        do {
            read = try contents ?? PluginFileContents(bytes: Self.readFile(file))
        } catch {
            throw refuse(.unreadable, "cannot read the file: \(error)")
        }
        let bytes = read.bytes
        let elf: ELFImage
        do {
            elf = try ELFImage(bytes: bytes)
        } catch {
            switch error {
            case .notELF:
                throw refuse(.notELF, "not an ELF shared object (it does not start with \\x7FELF); build the plugin as a .so")
            case .wrongFormat(let why):
                throw refuse(.wrongFormat, "not loadable here: \(why)")
            case .truncated(let needed, let actual):
                throw refuse(.truncated, "truncated: its ELF headers need \(needed) bytes but the file has \(actual); it may still be being written — copy it again, whole")
            }
        }
        let sha256 = read.sha256
        if let entry = quarantine.entry(sha256) {
            throw refuse(
                .quarantined,
                "quarantined: this version (sha256 \(sha256.prefix(16))…) \(entry.reason == "hang" ? "held a thread that must not block" : "crashed the server") (\(entry.detail)); it loads again when the file changes, or lift it with DELETE /_switchboard/quarantine/\(sha256)",
                name: entry.plugin == "-" ? nil : entry.plugin)
        }
        let privatePath: String
        do {
            privatePath = try privateCopy(of: bytes, sha256: sha256, file: file)
        } catch {
            throw refuse(.unreadable, "cannot make a private copy in \(imageDirectory): \(error)")
        }
        // The copy is removed when this load fails, or by the registry once the version went live
        // (it keeps a link as the file's last good version): the image directory never grows.
        var keepCopy = false
        defer { if !keepCopy { unlink(privatePath) } }
        if elf.registersWithSwiftRuntime && !retained.admits(sha256) {
            throw refuse(.retainedImageCap, "\(retained.count) Swift images are already mapped and can never be unmapped (plugins.max_retained_images is \(retained.limit)): restart the host to release them, or raise the limit")
        }
        // From dlopen (its constructors) to on_init, this version's code may run: a crash in it
        // quarantines it.
        let loadTag = pluginCodeTag(sha256: sha256, plugin: nil, file: file)
        report?(.loading(WorkerMessage.CodeTag(sha256: sha256, plugin: "-", file: file)))
        defer { report?(.loaded) }
        let opened = withPluginCode(loadTag) { () -> Result<PluginImage, DynamicLinkError> in
            do throws(DynamicLinkError) {
                return .success(try PluginImage(privatePath: privatePath, sha256: sha256, neverUnload: elf.registersWithSwiftRuntime))
            } catch {
                return .failure(error)
            }
        }
        let image: PluginImage
        switch opened {
        case .success(let opened): image = opened
        case .failure(let error): throw refuse(.dlopenFailed, "dlopen failed: \(error.message)")
        }
        if let report, let range = image.addressRange {
            report(.image(start: range.start, end: range.end, tag: WorkerMessage.CodeTag(sha256: sha256, plugin: "-", file: file)))
        }
        if image.neverUnload { retained.record(sha256, logger: logger) }
        var keepImage = false
        defer { if !keepImage { image.close() } }

        guard let entry = image.symbol(SB_ENTRY_SYMBOL) else {
            throw refuse(.noEntrySymbol, "no exported symbol `\(SB_ENTRY_SYMBOL)`: export it from C with `const sb_plugin_descriptor *\(SB_ENTRY_SYMBOL)(void)`, or from Swift with `@_cdecl(\"\(SB_ENTRY_SYMBOL)\")`")
        }
        let entryFunction = unsafeBitCast(entry, to: sb_entry_fn.self)
        guard let descriptorPointer = withPluginCode(loadTag, { entryFunction() }) else {
            throw refuse(.nullDescriptor, "`\(SB_ENTRY_SYMBOL)` returned NULL; it must return a pointer to a static sb_plugin_descriptor")
        }
        keepImage = true  // from here instantiate owns it
        let instance = try instantiate(
            descriptorPointer, image: image, file: file, containsSwiftCode: elf.containsSwiftCode, initialize: nil,
            generation: generation, config: config, nameOwner: nameOwner, services: services)
        keepCopy = true
        return instance
    }

    /// A plugin linked into this process instead of loaded from a file (the in-process test
    /// host): what `switchboard_plugin_v1` returns, and what initialises it.
    public struct LinkedPlugin {
        /// The plugin's `sb_plugin_descriptor`. Borrowed: it must stay valid while any generation
        /// made from it is loaded.
        public var descriptor: UnsafeRawPointer
        /// Called in place of the descriptor's `on_init`, with the same arguments and contract;
        /// nil calls `on_init`. (The SDK's descriptor finds its plugin through a process-wide
        /// value; several plugins in one test binary each pass their own initialiser.)
        public var initialize: ((UnsafePointer<sb_host_api>, OpaquePointer, UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> sb_status)?
        /// Shown where a loaded plugin's file would be (the admin API, refusals, logs).
        public var origin: String

        /// `origin` defaults to `linked:` and the descriptor's address.
        public init(
            descriptor: UnsafeRawPointer, origin: String? = nil,
            initialize: ((UnsafePointer<sb_host_api>, OpaquePointer, UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> sb_status)? = nil
        ) {
            self.descriptor = descriptor
            self.initialize = initialize
            self.origin = origin ?? "linked:0x" + String(UInt(bitPattern: descriptor), radix: 16)
        }
    }

    /// Initialises a plugin linked into this process, with the same descriptor and route checks
    /// as a file's; there is no file, ELF image or private copy. Its version is named by the
    /// SHA-256 of its origin.
    func load(
        linked plugin: LinkedPlugin, generation: (String) -> Int, config: @escaping @Sendable (_ plugin: String, _ key: String) -> String?,
        nameOwner: (String) -> String?, services: HostServices
    ) throws(LoadRefusal) -> PluginInstance {
        defer { report?(.loaded) }  // instantiate reports .loading
        let image = PluginImage(linkedWithSHA256: SHA256.hex(Array(plugin.origin.utf8)))
        let descriptor = plugin.descriptor.assumingMemoryBound(to: sb_plugin_descriptor.self)
        return try instantiate(
            descriptor, image: image, file: plugin.origin, containsSwiftCode: false, initialize: plugin.initialize,
            generation: generation, config: config, nameOwner: nameOwner, services: services)
    }

    /// The stages both kinds of load share: check the descriptor (size, magic, ABI, Swift
    /// toolchain, name), run `on_init` (or `initialize`), check the routes it added. A refusal
    /// after `on_init` has run retires the instance. Takes `image` over: a refusal closes it
    /// (before the instance exists, here; after, through the instance's retirement).
    private func instantiate(
        _ descriptorPointer: UnsafePointer<sb_plugin_descriptor>, image: PluginImage, file: String, containsSwiftCode: Bool,
        initialize: ((UnsafePointer<sb_host_api>, OpaquePointer, UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> sb_status)?,
        generation: (String) -> Int, config: @escaping @Sendable (_ plugin: String, _ key: String) -> String?,
        nameOwner: (String) -> String?, services: HostServices
    ) throws(LoadRefusal) -> PluginInstance {
        func refuse(_ kind: LoadRefusal.Kind, _ message: String, name: String? = nil) -> LoadRefusal {
            LoadRefusal(kind: kind, file: file, pluginName: name, message: message)
        }
        let sha256 = image.sha256
        var ownedByInstance = false
        defer { if !ownedByInstance { image.close() } }
        let declaredSize = UnsafeRawPointer(descriptorPointer).load(as: UInt32.self)
        let minimum = MemoryLayout<sb_plugin_descriptor>.offset(of: \sb_plugin_descriptor.on_deinit)! + MemoryLayout<sb_on_deinit_fn?>.size
        guard declaredSize >= minimum else {
            throw refuse(.descriptorTooSmall, "its descriptor declares struct_size \(declaredSize) bytes, smaller than the \(minimum) of ABI \(SB_ABI_MAJOR).0: set struct_size = sizeof(sb_plugin_descriptor) and rebuild against this host's switchboard.h")
        }
        let descriptor = RouteDeclaration.readSized(descriptorPointer)
        guard descriptor.magic == SB_PLUGIN_MAGIC else {
            throw refuse(.badMagic, "its descriptor's magic is 0x\(String(descriptor.magic, radix: 16)), not SB_PLUGIN_MAGIC (0x\(String(SB_PLUGIN_MAGIC, radix: 16))): `\(SB_ENTRY_SYMBOL)` must return an sb_plugin_descriptor")
        }
        let name = stringFromC(descriptor.name) ?? ""
        let label = name.isEmpty ? nil : name
        guard descriptor.abi_major == SB_ABI_MAJOR else {
            throw refuse(.abiMajorMismatch, "built for plugin ABI \(descriptor.abi_major).\(descriptor.abi_minor); this host speaks ABI \(SB_ABI_MAJOR).\(SB_ABI_MINOR): rebuild the plugin against this host's switchboard.h", name: label)
        }
        guard descriptor.abi_minor <= SB_ABI_MINOR else {
            throw refuse(.abiMinorTooNew, "built for plugin ABI \(descriptor.abi_major).\(descriptor.abi_minor), newer than this host's \(SB_ABI_MAJOR).\(SB_ABI_MINOR): upgrade the host or rebuild the plugin against its switchboard.h", name: label)
        }
        if containsSwiftCode || descriptor.swift_version != 0 {
            guard descriptor.swift_version == hostSwiftVersion else {
                let theirs = descriptor.swift_version == 0 ? "an unreported Swift version (swift_version is 0, but the image contains Swift code)" : "Swift \(SwiftToolchain.format(descriptor.swift_version))"
                throw refuse(.swiftVersionMismatch, "built with \(theirs); this host runs Swift \(SwiftToolchain.format(hostSwiftVersion)): a Swift plugin shares the host's Swift runtime, so rebuild it with the host's toolchain", name: label)
            }
        }
        guard Self.isValidName(name) else {
            throw refuse(.invalidDescriptor, "plugin name \"\(name)\" must match [a-z0-9][a-z0-9_-]{0,63}", name: label)
        }
        guard descriptor.on_init != nil else {
            throw refuse(.invalidDescriptor, "its descriptor has no on_init hook", name: name)
        }
        if let owner = nameOwner(name) {
            throw refuse(.duplicateName, "a plugin named \"\(name)\" is already loaded from \(owner); give one of them another name", name: name)
        }

        let instance = PluginInstance(
            descriptor: descriptor, name: name, file: file, image: image, generation: generation(name),
            config: { key in config(name, key) }, services: services, logger: logger)
        ownedByInstance = true
        if let report {  // now with its name
            let named = WorkerMessage.CodeTag(sha256: sha256, plugin: name, file: file)
            report(.loading(named))
            if let range = image.addressRange { report(.image(start: range.start, end: range.end, tag: named)) }
        }
        var state: UnsafeMutableRawPointer? = nil
        let status = withPluginCode(instance.codeTag) {
            initialize?(HostAPI.table, instance.handle, &state) ?? descriptor.on_init(HostAPI.table, instance.handle, &state)
        }
        let (reason, routeErrors) = instance.mutable.withLock { m in
            m.state = state
            return (m.refuseReason, m.routeErrors)
        }
        guard status == SB_OK else {
            instance.retire()
            var why = reason.map { ": \($0)" } ?? " without giving a reason (call plugin_refuse before returning an error)"
            // The host's own reasons, when a route it refused is what made on_init give up.
            if !routeErrors.isEmpty { why += "; the host refused its routes: " + routeErrors.joined(separator: "; ") }
            throw refuse(.initFailed, "on_init returned status \(status)\(why)", name: name)
        }
        guard routeErrors.isEmpty else {
            instance.retire()
            throw refuse(.invalidRoute, routeErrors.joined(separator: "; "), name: name)
        }
        return instance
    }

    static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        func ok(_ c: UInt8, first: Bool) -> Bool {
            (0x61...0x7A).contains(c) || (0x30...0x39).contains(c) || (!first && (c == 0x5F || c == 0x2D))
        }
        return ok(bytes[0], first: true) && bytes.dropFirst().allSatisfy { ok($0, first: false) }
    }

    static func readFile(_ path: String) throws(SystemError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SystemError(errno: errno) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError(errno: errno) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw SystemError(errno: EISDIR) }
        // The whole file is read to hash it: cap it, so a stray huge file cannot exhaust memory.
        guard st.st_size <= 512 << 20 else { throw SystemError(errno: EFBIG) }
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            done += n
        }
        return Array(bytes[..<done])
    }

    /// Writes the bytes to `<imageDirectory>/<first 16 hex digits of the sha256>-<pid>-<basename>`,
    /// via a temporary file and rename so a half-written copy is never visible. The pid keeps two
    /// servers sharing a state directory off each other's copies (each unlinks its own); within one process the name is still the content's, so the same content maps
    /// the same image.
    private func privateCopy(of bytes: [UInt8], sha256: String, file: String) throws(SystemError) -> String {
        try makeDirectories(imageDirectory)
        let target = privateCopyPath(sha256: sha256, file: file)
        let temporary = "\(target).\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o500)
        guard fd >= 0 else { throw SystemError(errno: errno) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let code = errno
                close(fd)
                unlink(temporary)
                throw SystemError(errno: code)
            }
            written += n
        }
        close(fd)
        guard rename(temporary, target) == 0 else {
            let code = errno
            unlink(temporary)
            throw SystemError(errno: code)
        }
        return target
    }
}

/// The images mapped for good (Swift images are never unmapped, see `PluginImage`), by content
/// hash, and their cap. Loading the same content again maps nothing new and counts once.
public final class RetainedImages: Sendable {
    /// Most distinct Swift images that may be mapped (`plugins.max_retained_images`); a new one past
    /// it is refused with `LoadRefusal.Kind.retainedImageCap`.
    public let limit: Int
    private let hashes = Locked<Set<String>>([])

    /// An empty set, capped at `limit` images.
    public init(limit: Int) { self.limit = limit }

    /// Distinct Swift images mapped so far.
    public var count: Int { hashes.withLock { $0.count } }

    func admits(_ sha256: String) -> Bool {
        hashes.withLock { $0.contains(sha256) || $0.count < limit }
    }

    func record(_ sha256: String, logger: Logger) {
        let (inserted, count) = hashes.withLock { ($0.insert(sha256).inserted, $0.count) }
        if inserted && count * 5 >= limit * 4 {
            logger.warning("\(count) of at most \(limit) Swift plugin images are mapped and can never be unmapped; at the limit, new Swift plugin versions are refused until a restart (plugins.max_retained_images)")
        }
    }
}

/// A failed system call's `errno`, with its text.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    /// The `errno` value the call left (`ENOENT`, `EACCES`, …).
    public let errno: Int32
    /// Wraps `errno`; read it right after the failing call, before anything else can change it.
    public init(errno: Int32) { self.errno = errno }
    /// `strerror(3)`'s text for `errno`.
    public var description: String { String(cString: strerror(errno)) }
}

/// `mkdir -p`.
func makeDirectories(_ path: String) throws(SystemError) {
    var current = path.hasPrefix("/") ? "" : "."
    for part in path.split(separator: "/") {
        current += "/" + part
        if mkdir(current, 0o755) != 0 && errno != EEXIST { throw SystemError(errno: errno) }
    }
}

/// A plugin file's bytes and their SHA-256, read and hashed once.
public struct PluginFileContents: Sendable {
    /// The whole file.
    public let bytes: [UInt8]
    /// The SHA-256 of `bytes`, 64 lower-case hex digits: the version's name in the quarantine and
    /// the private copies.
    public let sha256: String

    /// Hashes `bytes` at once.
    public init(bytes: [UInt8]) {
        self.bytes = bytes
        self.sha256 = SHA256.hex(bytes)
    }
}

extension SHA256 {
    /// The SHA-256 digest of `bytes` (FIPS 180-4, by swift-crypto) as 64 lowercase hex digits: how
    /// the host names a version of a plugin file.
    static func hex(_ bytes: [UInt8]) -> String {
        hash(data: bytes).lowercaseHex
    }
}
