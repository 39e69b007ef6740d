import CSwitchboardHostSupport

/// Runs `body` marked as a context in which a plugin must not block (see SB_WRITE_WAIT).
@inline(__always)
func withNonBlockingContext<R>(_ label: UnsafePointer<CChar>? = nil, _ body: () throws -> R) rethrows -> R {
    sbh_enter_nonblocking_as(label)
    defer { sbh_leave_nonblocking() }
    return try body()
}

/// Runs `body` with the calling thread marked as running the plugin code `tag` names
/// (`PluginInstance.codeTag`): if the process dies of a fatal signal inside it, the supervisor
/// learns which plugin version to quarantine. Nests: the previous mark is restored after.
@inline(__always)
func withPluginCode<R>(_ tag: UnsafePointer<CChar>, _ body: () throws -> R) rethrows -> R {
    let previous = sbh_code_enter(tag)
    defer { sbh_code_leave(previous) }
    return try body()
}

/// The tag `withPluginCode` records for a plugin image (`WorkerMessage.CodeTag.line`), interned
/// for the life of the process (bounded by the versions ever loaded). `plugin` is "-" while the
/// descriptor is not read yet.
func pluginCodeTag(sha256: String, plugin: String?, file: String) -> UnsafePointer<CChar> {
    ActivityLabel.intern(WorkerMessage.CodeTag(sha256: sha256, plugin: plugin ?? "-", file: file).line)
}
