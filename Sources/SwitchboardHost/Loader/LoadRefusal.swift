/// Why the host refused to load a plugin file. Every refusal says what to fix.
///
/// `kind` is a struct over a private name, not an enum, so that new reasons do not break callers
/// that compare it with the constants.
public struct LoadRefusal: Error, Sendable, CustomStringConvertible {
    /// The check that refused a file. `description` is a stable kebab-case name (`dlopen-failed`), used
    /// as the `reason` in logs, lifecycle events, metrics and admin responses.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The kind's stable name, such as `not-elf`.
        public var description: String { name }

        /// The file, or its private copy in the image directory, could not be read or written (an errno,
        /// a directory, a file over 512 MiB).
        public static let unreadable = Kind(name: "unreadable")
        /// The file does not start with the ELF magic `\x7FELF`.
        public static let notELF = Kind(name: "not-elf")
        /// An ELF file this host cannot load: 32-bit, big-endian, not a shared object (`ET_DYN`), built
        /// for another machine, or with impossible header sizes.
        public static let wrongFormat = Kind(name: "wrong-format")
        /// The file is shorter than its ELF headers say it is (often a copy still in progress).
        public static let truncated = Kind(name: "truncated")
        /// `dlopen(3)` of the private copy failed (a missing library, an unresolved symbol); the message
        /// carries `dlerror()`.
        public static let dlopenFailed = Kind(name: "dlopen-failed")
        /// The image exports no `SB_ENTRY_SYMBOL` (`dlsym(3)` found nothing).
        public static let noEntrySymbol = Kind(name: "no-entry-symbol")
        /// The entry function returned NULL instead of its `sb_plugin_descriptor`.
        public static let nullDescriptor = Kind(name: "null-descriptor")
        /// The descriptor's `struct_size` is smaller than the ABI 1.0 layout.
        public static let descriptorTooSmall = Kind(name: "descriptor-too-small")
        /// The descriptor's `magic` is not `SB_PLUGIN_MAGIC`.
        public static let badMagic = Kind(name: "bad-magic")
        /// The descriptor's `abi_major` differs from the host's `SB_ABI_MAJOR`.
        public static let abiMajorMismatch = Kind(name: "abi-major-mismatch")
        /// The descriptor's `abi_minor` is newer than the host's `SB_ABI_MINOR`.
        public static let abiMinorTooNew = Kind(name: "abi-minor-too-new")
        /// The image contains Swift code or reports a Swift version, and its `swift_version` is not
        /// the host compiler's (0 included).
        public static let swiftVersionMismatch = Kind(name: "swift-version-mismatch")
        /// The plugin name does not match `[a-z0-9][a-z0-9_-]{0,63}`, or `on_init` is NULL.
        public static let invalidDescriptor = Kind(name: "invalid-descriptor")
        /// Another file already serves a plugin of the same name.
        public static let duplicateName = Kind(name: "duplicate-name")
        /// `on_init` returned a status other than `SB_OK`; the message carries the reason the plugin
        /// gave `plugin_refuse`.
        public static let initFailed = Kind(name: "init-failed")
        /// `on_init` succeeded but the host refused a route it added (invalid spec, a path the host
        /// answers itself, or a method and path shape declared twice).
        public static let invalidRoute = Kind(name: "invalid-route")
        /// A route has the same method and path shape as a route of another loaded plugin.
        public static let routeConflict = Kind(name: "route-conflict")
        /// A new Swift image would pass `plugins.max_retained_images`: Swift images are never unmapped.
        public static let retainedImageCap = Kind(name: "retained-image-cap")
        /// The process died in this version's code (or it hung a thread that must not block):
        /// refused until its file changes or an operator lifts the quarantine.
        public static let quarantined = Kind(name: "quarantined")
        /// The file's name is not UTF-8 (a Latin-1 `café.so`, say). Logs, lifecycle events, metrics
        /// and the admin API name files as UTF-8 text, so the host does not load it; the refusal's
        /// `file` shows each byte that is not part of UTF-8 as `\xHH` (`caf\xE9.so`). Renaming the
        /// file loads it.
        public static let fileNameNotUTF8 = Kind(name: "file-name-not-utf8")
    }

    /// Which check refused the file.
    public let kind: Kind
    /// The dropped file the refusal is about.
    public let file: String
    /// The plugin's name, when the descriptor could be read.
    public let pluginName: String?
    /// What is wrong and what to do about it.
    public let message: String

    /// Seconds since the Unix epoch.
    public let time: Int64

    /// Stamps `time` with the current wall-clock time.
    public init(kind: Kind, file: String, pluginName: String?, message: String) {
        self.kind = kind
        self.file = file
        self.pluginName = pluginName
        self.message = message
        self.time = wallClockNanoseconds() / 1_000_000_000
    }

    /// `refused <file>: <message>`, for logs.
    public var description: String { "refused \(file): \(message)" }
}
