import struct SwitchboardCore.CodePointKey
import struct SwitchboardCore.Locked
import CSwitchboard
import DequeModule
import NIOCore
import NIOPosix

/// Publish/subscribe between plugin code (`topic_publish`, `topic_subscribe`), and from plugin
/// code to clients (`response_topic_stream`).
///
/// Topics are namespaced by plugin name, so they outlive a reload of the plugin and one plugin
/// cannot read another's. Each subscriber has a bounded queue drained on an event loop: a
/// subscriber whose queue is full is dropped (told once with SB_ERR_OVERFLOW) instead of
/// growing memory.
final class TopicHub: Sendable {
    /// By topic key (plugin name, NUL, topic), compared by code points: `"e\u{301}"` and
    /// `"\u{E9}"` are two topics, as they are two byte strings to a C plugin.
    private let subscribers = Locked<[CodePointKey: [ObjectIdentifier: Subscription]]>([:])

    init() {}

    /// Clients of host-fed topic streams (`response_topic_stream`), by topic key, then by event
    /// loop, event name and keepalive, each with how many clients it has (some may still be on their way in).
    private let streams = Locked<[CodePointKey: [StreamBucketKey: (bucket: TopicStreamBucket, clients: Int)]]>([:])

    private struct StreamBucketKey: Hashable {
        let loop: ObjectIdentifier
        let event: CodePointKey
        let keepaliveNanoseconds: UInt64

        init(_ client: TopicStreamClient) {
            self.loop = ObjectIdentifier(client.loop)
            self.event = CodePointKey(client.options.event)
            self.keepaliveNanoseconds = client.options.keepaliveNanoseconds
        }
    }

    /// Delivers `message` to every subscriber of `topic` and every client of its topic streams;
    /// returns how many took it. A topic stream's event is encoded once per event name, and one
    /// call per event loop writes it to that loop's clients.
    func publish(plugin: String, topic: String, message: UnsafeRawBufferPointer) -> Int {
        let key = CodePointKey(plugin + "\u{0}" + topic)
        let targets = subscribers.withLock { $0[key].map { Array($0.values) } } ?? []
        let buckets = streams.withLock { $0[key].map { Array($0.values) } } ?? []
        var delivered = 0
        if !targets.isEmpty {
            let buffer = ByteBuffer(bytes: message)
            for sub in targets where sub.enqueue(buffer) { delivered += 1 }
        }
        var frames: [CodePointKey: EventFrame] = [:]
        for (bucket, clients) in buckets {
            let event = CodePointKey(bucket.event)
            let frame = frames[event] ?? EventFrame.event(message, event: bucket.event)
            frames[event] = frame
            bucket.loop.execute { bucket.deliver(frame) }
            delivered += clients
        }
        return delivered
    }

    /// Counts `client` in its bucket (made for it if none): from now on a publish reaches that
    /// bucket, which takes the client in on its loop.
    func attach(_ client: TopicStreamClient) -> TopicStreamBucket {
        let key = StreamBucketKey(client)
        return streams.withLock { all in
            if let entry = all[client.options.key]?[key] {
                all[client.options.key]![key] = (entry.bucket, entry.clients + 1)
                return entry.bucket
            }
            let bucket = TopicStreamBucket(loop: client.loop, event: client.options.event, keepaliveNanoseconds: client.options.keepaliveNanoseconds)
            all[client.options.key, default: [:]][key] = (bucket, 1)
            return bucket
        }
    }

    /// Uncounts `client`; a bucket left with none is forgotten.
    func detach(_ client: TopicStreamClient, from bucket: TopicStreamBucket) {
        let key = StreamBucketKey(client)
        streams.withLock { all in
            guard let entry = all[client.options.key]?[key], entry.bucket === bucket else { return }
            if entry.clients > 1 {
                all[client.options.key]![key] = (bucket, entry.clients - 1)
            } else {
                all[client.options.key]![key] = nil
                if all[client.options.key]!.isEmpty { all[client.options.key] = nil }
            }
        }
    }

    /// Starts delivering `topic`'s messages to `sub`, unless it was cancelled already (its handle
    /// is published before this runs, so another thread may have cancelled it).
    func register(_ sub: Subscription) {
        subscribers.withLock { all in
            guard !sub.isCancelled else { return }
            all[sub.key, default: [:]][ObjectIdentifier(sub)] = sub
        }
    }

    /// Marks `sub` cancelled first, then removes it: a `register` racing this either sees the mark
    /// or is undone by the removal.
    func cancel(_ sub: Subscription) {
        sub.cancel()
        subscribers.withLock { all in
            all[sub.key]?.removeValue(forKey: ObjectIdentifier(sub))
            if all[sub.key]?.isEmpty == true { all[sub.key] = nil }
        }
    }
}

/// One subscriber (`sb_subscription`). The handle holds a retain until subscription_cancel.
final class Subscription: @unchecked Sendable {  // mutable state is Locked; the callback and user pointer are immutable C values any thread may call
    let key: CodePointKey
    weak var plugin: PluginInstance?
    /// The hub this subscription is registered with (its server's).
    let hub: TopicHub
    private let queueLimit: Int
    private let callback: sb_message_fn
    private let user: UnsafeMutableRawPointer?
    private let loop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next()

    private struct State {
        var queue = Deque<ByteBuffer>()
        var draining = false
        var overflowed = false
        var cancelled = false
        /// The handle's retain was given back (cancel runs once for the plugin or at deinit).
        var released = false
    }
    private let state = Locked(State())
    /// Held while a callback runs, so cancel can wait for it (as timers do).
    private let callbackLock = Locked(0)  // (a value with storage: TSan misreads accesses to an empty one)

    private let label: UnsafePointer<CChar>

    init(plugin: PluginInstance, topic: String, queueLimit: Int, callback: sb_message_fn, user: UnsafeMutableRawPointer?) {
        self.plugin = plugin
        self.hub = plugin.services.topics
        self.label = plugin.topicLabel
        self.key = CodePointKey(plugin.name + "\u{0}" + topic)
        self.queueLimit = queueLimit
        self.callback = callback
        self.user = user
    }

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    func retainedHandle() -> OpaquePointer { OpaquePointer(Unmanaged.passRetained(self).toOpaque()) }

    static func from(_ handle: OpaquePointer?) -> Subscription? {
        guard let handle else { return nil }
        return Unmanaged<Subscription>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
    }

    /// Queues a message; false when the subscriber is gone or has just overflowed.
    func enqueue(_ message: ByteBuffer) -> Bool {
        let (accepted, schedule) = state.withLock { s -> (Bool, Bool) in
            guard !s.cancelled, !s.overflowed else { return (false, false) }
            if s.queue.count >= queueLimit {
                s.overflowed = true
                s.queue.removeAll()
            } else {
                s.queue.append(message)
            }
            defer { s.draining = true }
            return (!s.overflowed, !s.draining)
        }
        if schedule { loop.execute { self.drain() } }
        return accepted
    }

    private func drain() {
        while true {
            enum Step { case message(ByteBuffer), overflow, stop }
            let step = state.withLock { s -> Step in
                if s.cancelled { s.draining = false; return .stop }
                if let next = s.queue.popFirst() { return .message(next) }
                if s.overflowed { s.draining = false; s.cancelled = true; return .overflow }
                s.draining = false
                return .stop
            }
            switch step {
            case .stop: return
            case .overflow:
                deliver(SB_ERR_OVERFLOW, nil)
                return
            case .message(let buffer):
                buffer.withUnsafeReadableBytes { deliver(SB_OK, $0) }
            }
        }
    }

    private func deliver(_ status: sb_status, _ bytes: UnsafeRawBufferPointer?) {
        // A lease for the callback's duration: the image stays mapped until it has returned.
        guard let plugin, plugin.enter() else { return }
        defer { plugin.leave() }
        callbackLock.withLock { _ in
            guard status == SB_ERR_OVERFLOW || !state.withLock({ $0.cancelled }) else { return }
            let message = sb_bytes(ptr: bytes?.baseAddress?.assumingMemoryBound(to: UInt8.self), len: bytes?.count ?? 0)
            withPluginCode(plugin.codeTag) {
                withNonBlockingContext(label) { callback(user, OpaquePointer(Unmanaged.passUnretained(self).toOpaque()), status, message) }
            }
        }
    }

    /// Stops deliveries and releases the handle's retain. Waits for a running callback unless
    /// called from one (the event loop runs this subscriber's callbacks one at a time).
    func cancel() {
        let first = state.withLock { s -> Bool in
            defer { s.cancelled = true; s.queue.removeAll(); s.released = true }
            return !s.released
        }
        if !loop.inEventLoop { callbackLock.withLock { _ in } }
        if first { Unmanaged.passUnretained(self).release() }
    }
}
