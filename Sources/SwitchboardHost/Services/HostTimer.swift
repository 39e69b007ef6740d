import struct SwitchboardCore.Locked
import CSwitchboard
import CSwitchboardHostSupport
import NIOCore
import NIOPosix

/// A plugin timer (`sb_timer`), driven by an event loop.
///
/// Invariant: after `cancel()` returns the callback is not running and will not start. A cancel
/// from the callback's own thread only marks the timer; a cancel from elsewhere waits for a
/// running callback to return (it holds `callbackLock` while the callback runs).
final class HostTimer: @unchecked Sendable {  // mutable state is Locked; the callback and user pointer are immutable C values any thread may call
    private struct State {
        var cancelled = false
        var runningOn: pthread_t? = nil
        var task: RepeatedTask? = nil
        var oneShot: Scheduled<Void>? = nil
    }

    private let state = Locked(State())
    private let callbackLock = Locked(0)  // (a value with storage: TSan misreads accesses to an empty one)
    private let callback: sb_timer_fn
    private let user: UnsafeMutableRawPointer?
    weak var plugin: PluginInstance?
    private let label: UnsafePointer<CChar>

    init(plugin: PluginInstance, callback: sb_timer_fn, user: UnsafeMutableRawPointer?) {
        self.plugin = plugin
        self.label = plugin.timerLabel
        self.callback = callback
        self.user = user
    }

    var handle: OpaquePointer { OpaquePointer(Unmanaged.passUnretained(self).toOpaque()) }

    static func from(_ handle: OpaquePointer?) -> HostTimer? {
        guard let handle else { return nil }
        return Unmanaged<HostTimer>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }

    /// Arms the timer, unless it was cancelled already: its handle is published before this runs,
    /// so another thread may have cancelled it.
    func start(on loop: any EventLoop, delay: TimeAmount, interval: TimeAmount?) {
        state.withLock { s in
            guard !s.cancelled else { return }
            if let interval {
                s.task = loop.scheduleRepeatedTask(initialDelay: delay, delay: interval) { [self] _ in fire() }
            } else {
                s.oneShot = loop.scheduleTask(in: delay) { [self] in fire() }
            }
        }
    }

    private func fire() {
        // A lease for the callback's duration: if the callback returns the generation's last
        // other lease (say, by finishing a stream), the image stays mapped until it has returned.
        guard let plugin, plugin.enter() else { return }
        defer { plugin.leave() }
        callbackLock.withLock { _ in
            let go = state.withLock { s -> Bool in
                guard !s.cancelled else { return false }
                s.runningOn = pthread_self()
                return true
            }
            guard go else { return }
            withPluginCode(plugin.codeTag) { withNonBlockingContext(label) { callback(user, handle) } }
            state.withLock { $0.runningOn = nil }
        }
    }

    func cancel() {
        let fromOwnCallback = state.withLock { s -> Bool in
            s.cancelled = true
            s.task?.cancel()
            s.oneShot?.cancel()
            s.task = nil
            s.oneShot = nil
            return s.runningOn.map { pthread_equal($0, pthread_self()) != 0 } ?? false
        }
        if !fromOwnCallback {
            callbackLock.withLock { _ in }
        }
    }
}
#if canImport(Glibc)
import Glibc
#endif
