import struct SwitchboardCore.Locked
import CoreMetrics
import Metrics
public import Prometheus

/// The host's metrics, through swift-metrics, into a Prometheus registry of its own (so two hosts
/// in one process, as in tests, never share counters). `GET /metrics` renders `prometheus`.
///
/// Series are labelled by plugin and route (`GET /items/{item_id}`), never by generation, so a
/// swap continues the same series and their number is bounded by the routes ever served.
public final class HostMetrics: Sendable {
    /// The registry every series of this host is recorded in; `render()` emits it.
    public let prometheus: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory

    /// Per-route instruments, made once per route and shared by every generation that serves it.
    final class RouteInstruments: Sendable {
        let requests: CoreMetrics.Counter
        let errors: CoreMetrics.Counter
        let latency: Metrics.Timer

        init(plugin: String, route: String, factory: PrometheusMetricsFactory) {
            let dimensions = [("plugin", plugin), ("route", route)]
            requests = CoreMetrics.Counter(label: "switchboard_requests_total", dimensions: dimensions, factory: factory)
            errors = CoreMetrics.Counter(label: "switchboard_request_errors_total", dimensions: dimensions, factory: factory)
            latency = Metrics.Timer(label: "switchboard_request_duration_seconds", dimensions: dimensions, factory: factory)
        }
    }

    private let routes = Locked<[String: RouteInstruments]>([:])
    let unmatched: CoreMetrics.Counter
    let retainedImages: CoreMetrics.Gauge
    let drainingGenerations: CoreMetrics.Gauge
    let loadedPlugins: CoreMetrics.Gauge
    let connections: ConnectionMetrics
    /// Stalls of an event loop or the request pool found by the watchdog.
    let stalls: CoreMetrics.Counter
    /// How plugins' `state_get_inline` and `state_get_now` reads were answered.
    let inlineReads: InlineReadMetrics

    /// A registry of its own, so no two hosts share a series; handler-latency histogram buckets run
    /// from 50 µs to 10 s.
    public init() {
        prometheus = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: prometheus)
        // Handler latency: from 50 µs (a cached answer) to 10 s (a slow blocking handler).
        factory.defaultDurationHistogramBuckets = [
            .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
            .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(10),
        ]
        self.factory = factory
        unmatched = CoreMetrics.Counter(label: "switchboard_unmatched_requests_total", factory: factory)
        retainedImages = CoreMetrics.Gauge(label: "switchboard_retained_images", factory: factory)
        drainingGenerations = CoreMetrics.Gauge(label: "switchboard_draining_generations", factory: factory)
        loadedPlugins = CoreMetrics.Gauge(label: "switchboard_loaded_plugins", factory: factory)
        connections = ConnectionMetrics(factory: factory)
        stalls = CoreMetrics.Counter(label: "switchboard_event_loop_stalls_total", factory: factory)
        inlineReads = InlineReadMetrics(factory: factory)
    }

    func instruments(plugin: String, route: String) -> RouteInstruments {
        routes.withLock { table in
            let key = plugin + "\u{0}" + route
            if let existing = table[key] { return existing }
            let made = RouteInstruments(plugin: plugin, route: route, factory: factory)
            table[key] = made
            return made
        }
    }

    func loaded(plugin: String) {
        CoreMetrics.Counter(label: "switchboard_plugin_loads_total", dimensions: [("plugin", plugin)], factory: factory).increment()
    }

    func swapped(plugin: String) {
        CoreMetrics.Counter(label: "switchboard_plugin_swaps_total", dimensions: [("plugin", plugin)], factory: factory).increment()
    }

    func refused(reason: String) {
        CoreMetrics.Counter(label: "switchboard_plugin_refusals_total", dimensions: [("reason", reason)], factory: factory).increment()
    }

    func unloaded(plugin: String) {
        CoreMetrics.Counter(label: "switchboard_plugin_unloads_total", dimensions: [("plugin", plugin)], factory: factory).increment()
    }

    /// The supervisor's counts as this worker started: they only change when a worker starts.
    func worker(_ info: WorkerInfo) {
        CoreMetrics.Counter(label: "switchboard_worker_crashes_total", factory: factory).increment(by: info.crashes)
        CoreMetrics.Counter(label: "switchboard_worker_restarts_total", factory: factory).increment(by: info.restarts)
        CoreMetrics.Counter(label: "switchboard_worker_handovers_total", factory: factory).increment(by: info.handovers)
        CoreMetrics.Counter(label: "switchboard_quarantines_total", factory: factory).increment(by: info.quarantines)
        CoreMetrics.Gauge(label: "switchboard_worker_generation", factory: factory).record(info.generation)
    }

    /// Every series in the Prometheus text exposition format (0.0.4), UTF-8, as `GET /metrics`
    /// serves it.
    public func render() -> [UInt8] { prometheus.emitToBuffer() }
}

/// Connection-level series: how many are open, refused at the limit, closed by each timeout, and
/// answered by the connection itself (malformed requests). Made once per server.
final class ConnectionMetrics: Sendable {
    let open: CoreMetrics.Gauge
    let refused: CoreMetrics.Counter
    private let timeouts: [ConnectionStateMachine.Timeout: CoreMetrics.Counter]
    private let rejections: [UInt: CoreMetrics.Counter]

    init(factory: PrometheusMetricsFactory) {
        open = CoreMetrics.Gauge(label: "switchboard_open_connections", factory: factory)
        refused = CoreMetrics.Counter(label: "switchboard_connections_refused_total", factory: factory)
        var timeouts: [ConnectionStateMachine.Timeout: CoreMetrics.Counter] = [:]
        for timeout in ConnectionStateMachine.Timeout.allCases {
            timeouts[timeout] = CoreMetrics.Counter(
                label: "switchboard_connection_timeouts_total", dimensions: [("timeout", timeout.rawValue)], factory: factory)
        }
        self.timeouts = timeouts
        var rejections: [UInt: CoreMetrics.Counter] = [:]
        for status in [400, 408, 417, 431, 501, 503] as [UInt] {
            rejections[status] = CoreMetrics.Counter(
                label: "switchboard_connection_rejections_total", dimensions: [("status", String(status))], factory: factory)
        }
        self.rejections = rejections
    }

    func timedOut(_ timeout: ConnectionStateMachine.Timeout) { timeouts[timeout]?.increment() }
    func rejected(_ status: UInt) { rejections[status]?.increment() }
}

/// `switchboard_state_inline_reads_total{outcome}`: how each `state_get_inline` and
/// `state_get_now` was answered, by `StateCalls.InlineOutcome` (a `state_get_now` not answered is
/// counted as queued: its plugin reads with `state_get` next). A read-mostly route wants all of
/// them `inline`; a share queued says what sent them to the store thread. Made once per server.
final class InlineReadMetrics: Sendable {
    // One counter per outcome, picked by a switch: `record` runs on every inline read, where a
    // dictionary's hashing and probing cost more than the increment itself.
    private let inline: CoreMetrics.Counter
    private let behindCalls: CoreMetrics.Counter
    private let notAtHand: CoreMetrics.Counter
    private let turnWait: CoreMetrics.Counter

    init(factory: PrometheusMetricsFactory) {
        func counter(_ outcome: StateCalls.InlineOutcome) -> CoreMetrics.Counter {
            CoreMetrics.Counter(label: "switchboard_state_inline_reads_total", dimensions: [("outcome", outcome.rawValue)], factory: factory)
        }
        inline = counter(.inline)
        behindCalls = counter(.behindCalls)
        notAtHand = counter(.notAtHand)
        turnWait = counter(.turnWait)
    }

    func record(_ outcome: StateCalls.InlineOutcome) {
        switch outcome {
        case .inline: inline.increment()
        case .behindCalls: behindCalls.increment()
        case .notAtHand: notAtHand.increment()
        case .turnWait: turnWait.increment()
        }
    }
}
