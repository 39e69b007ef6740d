import struct SwitchboardCore.Locked

/// A plugin lifecycle event, as the admin API streams it.
public struct LifecycleEvent: Sendable, Codable, Equatable {
    /// What happened; the raw value is the SSE `event` field and the JSON `type`.
    public enum Kind: String, Sendable, Codable {
        /// A plugin name was loaded for the first time (or again after being unloaded).
        case loaded
        /// A new generation replaced the serving one.
        case swapped
        /// A file was refused; whatever served before still serves.
        case refused
        /// A generation left the route table; its requests and streams are finishing.
        case draining
        /// A draining generation's last request ended; its on_deinit ran.
        case drained
        /// A plugin's file was deleted: its routes are gone.
        case unloaded
        /// A plugin version was set aside: the process died in its code (`reason` crash) or it held
        /// a thread that must not block until the worker was replaced (`hang`).
        case quarantined
        /// An operator lifted a quarantine (`DELETE /_switchboard/quarantine/{sha256}`).
        case quarantineLifted = "quarantine-lifted"
        /// The file's version is quarantined; its last good version serves in its place.
        case lastGood = "last-good"
        /// This worker process started (`reason`: start, crash, hang, handover, memory).
        case workerStarted = "worker-started"
    }

    /// The event's number in this process: 1, then one more per event. The SSE `id`, which a client
    /// sends back as `Last-Event-ID`.
    public var id: Int
    /// What happened.
    public var type: Kind
    /// Seconds since the Unix epoch, with milliseconds.
    public var time: Double
    /// The plugin's name; nil when unknown (a file refused before its descriptor was read) or for a
    /// worker event.
    public var plugin: String?
    /// The generation concerned; nil for events about a file or a worker.
    public var generation: Int?
    /// The plugin file's path in its plugin directory.
    public var file: String?
    /// The plugin's own version string (its descriptor's `version`).
    public var version: String?
    /// A short machine-readable cause: a `LoadRefusal.Kind` name (`refused`, `last-good`), `crash`
    /// or `hang` (quarantine events), or the worker's start reason (`worker-started`).
    public var reason: String?
    /// Details for people.
    public var message: String?
}

/// The host's lifecycle event log: a bounded history (for `Last-Event-ID` replay) and live
/// subscribers. Publishing never blocks: a subscriber that falls more than `subscriberBuffer`
/// events behind loses the oldest ones.
public final class LifecycleEvents: Sendable {
    private struct State {
        var nextID = 1
        var history: [LifecycleEvent] = []
        var subscribers: [Int: AsyncStream<LifecycleEvent>.Continuation] = [:]
        var nextSubscriber = 0
    }

    private let state = Locked(State())
    /// How many of the newest events are kept for `history(after:)` and `Last-Event-ID` replay.
    public let historyLimit: Int
    let subscriberBuffer: Int

    /// `subscriberBuffer`: how many events a subscriber may fall behind before it loses the oldest.
    public init(historyLimit: Int = 512, subscriberBuffer: Int = 1024) {
        self.historyLimit = historyLimit
        self.subscriberBuffer = subscriberBuffer
    }

    /// Records an event with the next `id` and the current time, drops the oldest past `historyLimit`,
    /// and hands it to every subscriber without blocking. Thread-safe.
    @discardableResult
    public func publish(
        _ type: LifecycleEvent.Kind, plugin: String? = nil, generation: Int? = nil, file: String? = nil,
        version: String? = nil, reason: String? = nil, message: String? = nil
    ) -> LifecycleEvent {
        let time = Double(wallClockNanoseconds() / 1_000_000) / 1000
        return state.withLock { s in
            let event = LifecycleEvent(
                id: s.nextID, type: type, time: time, plugin: plugin, generation: generation, file: file,
                version: version, reason: reason, message: message)
            s.nextID += 1
            s.history.append(event)
            if s.history.count > historyLimit { s.history.removeFirst(s.history.count - historyLimit) }
            for continuation in s.subscribers.values { continuation.yield(event) }
            return event
        }
    }

    /// Events after `lastID` still in the history, oldest first.
    public func history(after lastID: Int = 0) -> [LifecycleEvent] {
        state.withLock { s in s.history.filter { $0.id > lastID } }
    }

    /// Live events, starting with those after `lastID` that are still in the history. The
    /// subscription ends when the stream's consumer goes away.
    public func subscribe(after lastID: Int?) -> AsyncStream<LifecycleEvent> {
        let (stream, continuation) = AsyncStream<LifecycleEvent>.makeStream(bufferingPolicy: .bufferingNewest(subscriberBuffer))
        let key = state.withLock { s -> Int in
            if let lastID {
                for event in s.history where event.id > lastID { continuation.yield(event) }
            }
            let key = s.nextSubscriber
            s.nextSubscriber += 1
            s.subscribers[key] = continuation
            return key
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: key) }
        }
        return stream
    }
}
