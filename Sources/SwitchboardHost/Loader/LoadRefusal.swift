/// Why the host refused to load a plugin file. Every refusal says what to fix.
///
/// A struct over a private enum, so that new reasons do not break callers that switch on `kind`.
public struct LoadRefusal: Error, Sendable, CustomStringConvertible {
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        let name: String
        public var description: String { name }

        public static let unreadable = Kind(name: "unreadable")
        public static let notELF = Kind(name: "not-elf")
        public static let wrongFormat = Kind(name: "wrong-format")
        public static let truncated = Kind(name: "truncated")
        public static let dlopenFailed = Kind(name: "dlopen-failed")
        public static let noEntrySymbol = Kind(name: "no-entry-symbol")
        public static let nullDescriptor = Kind(name: "null-descriptor")
        public static let descriptorTooSmall = Kind(name: "descriptor-too-small")
        public static let badMagic = Kind(name: "bad-magic")
        public static let abiMajorMismatch = Kind(name: "abi-major-mismatch")
        public static let abiMinorTooNew = Kind(name: "abi-minor-too-new")
        public static let swiftVersionMismatch = Kind(name: "swift-version-mismatch")
        public static let invalidDescriptor = Kind(name: "invalid-descriptor")
        public static let duplicateName = Kind(name: "duplicate-name")
        public static let initFailed = Kind(name: "init-failed")
        public static let invalidRoute = Kind(name: "invalid-route")
        public static let routeConflict = Kind(name: "route-conflict")
        public static let retainedImageCap = Kind(name: "retained-image-cap")
        /// The process died in this version's code (or it hung a thread that must not block):
        /// refused until its file changes or an operator lifts the quarantine.
        public static let quarantined = Kind(name: "quarantined")
    }

    public let kind: Kind
    /// The dropped file the refusal is about.
    public let file: String
    /// The plugin's name, when the descriptor could be read.
    public let pluginName: String?
    /// What is wrong and what to do about it.
    public let message: String

    /// Seconds since the Unix epoch.
    public let time: Int64

    public init(kind: Kind, file: String, pluginName: String?, message: String) {
        self.kind = kind
        self.file = file
        self.pluginName = pluginName
        self.message = message
        self.time = wallClockNanoseconds() / 1_000_000_000
    }

    public var description: String { "refused \(file): \(message)" }
}
