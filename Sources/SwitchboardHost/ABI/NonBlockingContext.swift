import CSwitchboardHostSupport

/// Runs `body` marked as a context in which a plugin must not block (see SB_WRITE_WAIT).
@inline(__always)
func withNonBlockingContext<R>(_ label: UnsafePointer<CChar>? = nil, _ body: () throws -> R) rethrows -> R {
    sbh_enter_nonblocking_as(label)
    defer { sbh_leave_nonblocking() }
    return try body()
}
