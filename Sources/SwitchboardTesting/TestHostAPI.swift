import CSwitchboard
import Dispatch
import SwitchboardRouting
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The test host's `sb_host_api`. The same contract as the real host's table, served from memory:
/// timers and topic deliveries run on the test host's queue, state-store completions on a global
/// queue (never the caller's thread).
enum TestHostAPI {
    nonisolated(unsafe) static let table: UnsafePointer<sb_host_api> = {
        let table = UnsafeMutablePointer<sb_host_api>.allocate(capacity: 1)
        table.initialize(to: make())
        return UnsafePointer(table)
    }()

    private static func make() -> sb_host_api {
        var api = sb_host_api()
        api.struct_size = UInt32(MemoryLayout<sb_host_api>.size)
        api.abi_major = UInt16(SB_ABI_MAJOR)
        api.abi_minor = UInt16(SB_ABI_MINOR)

        api.log = { plugin, level, message in
            guard let host = TestHost.from(plugin) else { return SB_ERR_INVALID_ARGUMENT }
            host.log(Int(level.rawValue), message.string)
            return SB_OK
        }
        api.plugin_refuse = { plugin, reason in TestHost.from(plugin)?.refuse(reason.string) ?? SB_ERR_INVALID_ARGUMENT }
        api.config_get = { plugin, key, out in
            guard let host = TestHost.from(plugin), let out else { return SB_ERR_INVALID_ARGUMENT }
            guard let value = host.config[key.string] else { return SB_ERR_NOT_FOUND }
            // Borrowed until on_deinit: interned for the life of the process (tests are short).
            let copy = strdup(value)!
            out.pointee = sb_str(ptr: UnsafePointer(copy), len: strlen(copy))
            return SB_OK
        }
        api.route_add = { plugin, spec in
            guard let host = TestHost.from(plugin), let spec else { return SB_ERR_INVALID_ARGUMENT }
            return host.addRoute(spec)
        }

        api.request_method = { req, out in TestHostAPI.lend(req, out) { $0.method } }
        api.request_path = { req, out in TestHostAPI.lend(req, out) { $0.path } }
        api.request_query = { req, out in TestHostAPI.lend(req, out) { $0.query } }
        api.request_path_param = { req, name, out in
            TestHostAPI.lend(req, out) { ex in
                ex.route.template.parameterNames.firstIndex(of: name.string).flatMap { ex.rawParameters[$0].percentDecoded() }
            }
        }
        api.request_query_param = { req, name, index, out in TestHostAPI.lend(req, out) { $0.queryParameter(name.string, index: index) } }
        api.request_header = { req, name, index, out in
            TestHostAPI.lend(req, out) { ex in
                let values = ex.headers.filter { $0.0.lowercased() == name.string.lowercased() }.map(\.1)
                return index < values.count ? values[index] : nil
            }
        }
        api.request_header_count = { req, out in
            guard let ex = TestExchange.from(req), let out else { return SB_ERR_INVALID_ARGUMENT }
            out.pointee = ex.headers.count
            return SB_OK
        }
        api.request_header_at = { req, index, outName, outValue in
            guard let ex = TestExchange.from(req), let outName, let outValue else { return SB_ERR_INVALID_ARGUMENT }
            guard index < ex.headers.count else { return SB_ERR_NOT_FOUND }
            outName.pointee = ex.lend(ex.headers[index].0.lowercased())
            outValue.pointee = ex.lend(ex.headers[index].1)
            return SB_OK
        }
        api.request_body = { req, out in
            guard let ex = TestExchange.from(req), let out else { return SB_ERR_INVALID_ARGUMENT }
            out.pointee = ex.lend(bytes: ex.body)
            return SB_OK
        }
        api.request_body_read = { req, onChunk, user in
            guard let ex = TestExchange.from(req), let onChunk else { return SB_ERR_INVALID_ARGUMENT }
            let call = Unchecked((onChunk, user, ex.lend(bytes: ex.body)))
            ex.host.queue.async { call.value.0(call.value.1, ex.handle, SB_OK, call.value.2, UInt32(SB_CHUNK_LAST)) }
            return SB_OK
        }

        api.response_header_add = { req, name, value in
            TestExchange.from(req)?.addHeader(name.string, value.string) ?? SB_ERR_INVALID_ARGUMENT
        }
        api.response_send = { req, status, body in
            TestExchange.from(req)?.respond(status, body: TestHostAPI.bytes(body), stream: false) ?? SB_ERR_INVALID_ARGUMENT
        }
        api.response_send_borrowed = { req, status, body, release, data in
            let result = TestExchange.from(req)?.respond(status, body: TestHostAPI.bytes(body), stream: false) ?? SB_ERR_INVALID_ARGUMENT
            release?(data)
            return result
        }
        api.response_stream_begin = { req, status, out in
            guard let ex = TestExchange.from(req), let out else { return SB_ERR_INVALID_ARGUMENT }
            let result = ex.respond(status, body: [], stream: true)
            if result == SB_OK { out.pointee = ex.handle }
            return result
        }
        api.response_file = { req, spec in
            // The whole file, 200 (ranges and conditional requests are the real host's; test
            // those over the wire).
            guard let ex = TestExchange.from(req), let spec else { return SB_ERR_INVALID_ARGUMENT }
            let file = RouteDeclaration.readSized(spec)
            guard let handle = fopen(file.path.string, "rb") else { return SB_ERR_NOT_FOUND }
            defer { fclose(handle) }
            var contents: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            while true {
                let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, handle) }
                if n <= 0 { break }
                contents += chunk[0..<n]
            }
            guard ferror(handle) == 0 else { return SB_ERR_NOT_FOUND }  // a directory reads as an error
            let type = file.content_type.string
            _ = ex.addHeader("content-type", type.isEmpty ? "application/octet-stream" : type)
            return ex.respond(200, body: contents, stream: false)
        }

        api.stream_write = { stream, data, _ in TestExchange.from(stream)?.write(TestHostAPI.bytes(data)) ?? SB_ERR_INVALID_ARGUMENT }
        api.stream_on_writable = { stream, cb, user in
            guard let ex = TestExchange.from(stream), let cb else { return SB_ERR_INVALID_ARGUMENT }
            // Nothing ever queues in the test host: it is writable at once.
            let call = Unchecked((cb, user, stream))
            ex.host.queue.async { call.value.0(call.value.1, call.value.2) }
            return SB_OK
        }
        api.stream_on_close = { stream, cb, user in
            guard let ex = TestExchange.from(stream), let cb else { return SB_ERR_INVALID_ARGUMENT }
            return ex.onClose(cb, user)
        }
        api.stream_finish = { stream in TestExchange.from(stream)?.finish() ?? SB_ERR_INVALID_ARGUMENT }

        api.timer_start = { plugin, delay, interval, cb, user, out in
            guard let host = TestHost.from(plugin), let cb, let out else { return SB_ERR_INVALID_ARGUMENT }
            let timer = TestTimer(host: host, interval: interval, callback: cb, user: user)
            out.pointee = timer.retainedHandle()
            timer.schedule(afterNanoseconds: delay)
            return SB_OK
        }
        api.timer_cancel = { timer in
            guard let timer = TestTimer.from(timer) else { return SB_ERR_INVALID_ARGUMENT }
            timer.cancel()
            return SB_OK
        }

        api.topic_publish = { plugin, topic, message, out in
            guard let host = TestHost.from(plugin) else { return SB_ERR_INVALID_ARGUMENT }
            let subscribers = host.subscribers(topic.string)
            let copy = TestHostAPI.bytes(message)
            for sub in subscribers { sub.deliver(copy) }
            out?.pointee = subscribers.count
            return SB_OK
        }
        api.topic_subscribe = { plugin, topic, _, cb, user, out in
            guard let host = TestHost.from(plugin), let cb, let out else { return SB_ERR_INVALID_ARGUMENT }
            let sub = TestSubscription(host: host, topic: topic.string, callback: cb, user: user)
            // Published before the first message can reach it, as the real host does (rule 8).
            out.pointee = OpaquePointer(Unmanaged.passRetained(sub).toOpaque())
            host.addSubscriber(sub)
            return SB_OK
        }
        api.subscription_cancel = { handle in
            guard let handle else { return SB_ERR_INVALID_ARGUMENT }
            let sub = Unmanaged<TestSubscription>.fromOpaque(UnsafeRawPointer(handle)).takeRetainedValue()
            sub.host.removeSubscriber(sub)
            sub.cancelled.store(true, ordering: .relaxed)
            // As the real host: a delivery running on another thread finishes first.
            if !sub.host.isOnQueue { sub.host.queue.sync {} }
            return SB_OK
        }

        api.state_get = { plugin, key, done, user in
            let key = TestHostAPI.key(key)
            return TestHostAPI.store(plugin, done, user) { state in
                guard let value = state[key] else { return (SB_ERR_NOT_FOUND, .init()) }
                return (SB_OK, .init(value: value))
            }
        }
        api.state_put = { plugin, key, value, done, user in
            let (key, value) = (TestHostAPI.key(key), TestHostAPI.bytes(value))
            return TestHostAPI.store(plugin, done, user) { state in
                state[key] = value
                return (SB_OK, .init())
            }
        }
        api.state_compare_and_put = { plugin, key, hasExpected, expected, value, done, user in
            let (key, expected, value) = (TestHostAPI.key(key), hasExpected != 0 ? TestHostAPI.bytes(expected) : nil, TestHostAPI.bytes(value))
            return TestHostAPI.store(plugin, done, user) { state in
                guard state[key] == expected else { return (SB_ERR_CONFLICT, .init()) }
                state[key] = value
                return (SB_OK, .init())
            }
        }
        api.state_delete = { plugin, key, done, user in
            let key = TestHostAPI.key(key)
            return TestHostAPI.store(plugin, done, user) { state in
                state[key] == nil ? (SB_ERR_NOT_FOUND, .init()) : (state.removeValue(forKey: key), (SB_OK, .init())).1
            }
        }
        api.state_compare_and_delete = { plugin, key, expected, done, user in
            let (key, expected) = (TestHostAPI.key(key), TestHostAPI.bytes(expected))
            return TestHostAPI.store(plugin, done, user) { state in
                guard let current = state[key] else { return (SB_ERR_NOT_FOUND, .init()) }
                guard current == expected else { return (SB_ERR_CONFLICT, .init()) }
                state.removeValue(forKey: key)
                return (SB_OK, .init())
            }
        }
        api.state_increment = { plugin, key, delta, done, user in
            let key = TestHostAPI.key(key)
            return TestHostAPI.store(plugin, done, user) { state in
                let current = state[key].flatMap { Int64(String(decoding: $0, as: UTF8.self)) } ?? 0
                let next = current &+ delta
                state[key] = Array(String(next).utf8)
                return (SB_OK, .init(number: next))
            }
        }
        api.state_list = { plugin, prefix, after, limit, done, user in
            TestHostAPI.list(plugin, prefix.string, after.string, 0, Int(limit), done, user)
        }
        api.state_list_page = { plugin, prefix, after, skip, limit, done, user in
            TestHostAPI.list(plugin, prefix.string, after.string, Int(clamping: skip), Int(limit), done, user)
        }
        api.state_transaction = { plugin, ops, count, done, user in
            guard let ops, (1...1024).contains(count), Int(ops.pointee.struct_size) >= MemoryLayout<sb_state_op>.size else { return SB_ERR_INVALID_ARGUMENT }
            let stride = Int(ops.pointee.struct_size)
            var steps: [(kind: UInt32, key: [UInt8], value: [UInt8])] = []
            for i in 0..<count {
                let op = UnsafeRawPointer(ops).advanced(by: i * stride).assumingMemoryBound(to: sb_state_op.self).pointee
                guard (1...4).contains(op.kind) else { return SB_ERR_INVALID_ARGUMENT }
                steps.append((op.kind, TestHostAPI.key(op.key), TestHostAPI.bytes(op.value)))
            }
            return TestHostAPI.store(plugin, done, user) { [steps] state in
                // In order, on a copy: what fails leaves the state as it was.
                var next = state
                for (index, step) in steps.enumerated() {
                    switch Int32(step.kind) {
                    case SB_STATE_OP_PUT: next[step.key] = step.value
                    case SB_STATE_OP_DELETE: next[step.key] = nil
                    case SB_STATE_OP_EXPECT where next[step.key] != step.value, SB_STATE_OP_EXPECT_ABSENT where next[step.key] != nil:
                        return (SB_ERR_CONFLICT, .init(number: Int64(index)))
                    default: break
                    }
                }
                state = next
                return (SB_OK, .init())
            }
        }

        api.request_param = { req, name, out in
            guard let ex = TestExchange.from(req), let out, out.pointee.struct_size >= 4 else { return SB_ERR_INVALID_ARGUMENT }
            guard let value = ex.parameterValue(name.string) else { return SB_ERR_NOT_FOUND }
            value.write(to: out, text: ex.lend(value.text))
            return SB_OK
        }
        api.request_negotiate = { req, offered, count, out in
            guard let ex = TestExchange.from(req), let offered, let out else { return SB_ERR_INVALID_ARGUMENT }
            return ex.negotiate(
                offeredCount: count,
                offered: { i in
                    guard let bytes = offered[i].ptr else { return UnsafeBufferPointer(start: nil, count: 0) }
                    return UnsafeBufferPointer(start: UnsafeRawPointer(bytes).assumingMemoryBound(to: UInt8.self), count: offered[i].len)
                }, into: out)
        }
        return api
    }

    /// A state key as the real host keeps it: its bytes (Swift's `String` equality would make
    /// canonically equivalent keys one).
    static func key(_ s: sb_str) -> [UInt8] { Array(s.string.utf8) }

    static func bytes(_ b: sb_bytes) -> [UInt8] {
        guard let ptr = b.ptr, b.len > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: ptr, count: b.len))
    }

    static func lend(_ req: OpaquePointer?, _ out: UnsafeMutablePointer<sb_str>?, _ value: (TestExchange) -> String?) -> sb_status {
        guard let ex = TestExchange.from(req), let out else { return SB_ERR_INVALID_ARGUMENT }
        guard let text = value(ex) else { return SB_ERR_NOT_FOUND }
        out.pointee = ex.lend(text)
        return SB_OK
    }

    static func list(
        _ plugin: OpaquePointer?, _ prefix: String, _ after: String, _ skip: Int, _ limit: Int, _ done: sb_state_done_fn?,
        _ user: UnsafeMutableRawPointer?
    ) -> sb_status {
        let (prefix, after) = (Array(prefix.utf8), Array(after.utf8))
        return store(plugin, done, user) { state in
            let matching = state.keys.filter { $0.starts(with: prefix) }
            let keys = matching.filter { after.isEmpty || after.lexicographicallyPrecedes($0) }
                .sorted { $0.lexicographicallyPrecedes($1) }.dropFirst(skip).prefix(limit == 0 ? Int.max : limit)
            return (SB_OK, .init(number: Int64(matching.count), entries: keys.map { (String(decoding: $0, as: UTF8.self), state[$0]!) }))
        }
    }

    struct StoreResult {
        var value: [UInt8] = []
        var number: Int64 = 0
        var entries: [(String, [UInt8])] = []
    }

    /// Runs a state operation on a global queue and completes through `done`, with borrowed results.
    static func store(
        _ plugin: OpaquePointer?, _ done: sb_state_done_fn?, _ user: UnsafeMutableRawPointer?,
        _ operation: @escaping @Sendable (inout [[UInt8]: [UInt8]]) -> (sb_status, StoreResult)
    ) -> sb_status {
        guard let host = TestHost.from(plugin), let done else { return SB_ERR_INVALID_ARGUMENT }
        let userBits = UInt(bitPattern: user)
        DispatchQueue.global().async {
            let (status, outcome) = host.withState(operation)
            // Borrowed for the completion call only, as the real host lends them.
            var allocations: [UnsafeMutableRawPointer] = []
            defer { for block in allocations { free(block) } }
            func copy(_ bytes: [UInt8]) -> sb_bytes {
                let block = malloc(max(bytes.count, 1))!
                bytes.withUnsafeBytes { if let base = $0.baseAddress { block.copyMemory(from: base, byteCount: bytes.count) } }
                allocations.append(block)
                return sb_bytes(ptr: UnsafePointer(block.assumingMemoryBound(to: UInt8.self)), len: bytes.count)
            }
            let entries = outcome.entries.map { key, value in
                let k = copy(Array(key.utf8))
                return sb_state_entry(key: sb_str(ptr: UnsafeRawPointer(k.ptr)?.assumingMemoryBound(to: CChar.self), len: k.len), value: copy(value))
            }
            let value = copy(outcome.value)
            entries.withUnsafeBufferPointer { list in
                var result = sb_state_result(
                    struct_size: UInt32(MemoryLayout<sb_state_result>.size), reserved: 0, value: value, number: outcome.number,
                    entries: list.baseAddress, entry_count: list.count)
                done(UnsafeMutableRawPointer(bitPattern: userBits), status, &result)
            }
        }
        return SB_OK
    }
}

/// C values (callbacks, user pointers, borrowed buffers) moved to the host's queue: the ABI lets
/// them cross threads (switchboard.h rule 6).
struct Unchecked<T>: @unchecked Sendable {  // a plugin's `user` pointer, which the ABI lets the host pass to any thread
    let value: T
    init(_ value: T) { self.value = value }
}

/// A timer on the test host's queue.
final class TestTimer: @unchecked Sendable {  // mutable state is Locked; the callback and user pointer are immutable C values
    let host: TestHost
    let interval: UInt64
    let callback: sb_timer_fn
    let user: UnsafeMutableRawPointer?
    let cancelled = Atomic<Bool>(false)

    init(host: TestHost, interval: UInt64, callback: sb_timer_fn, user: UnsafeMutableRawPointer?) {
        self.host = host
        self.interval = interval
        self.callback = callback
        self.user = user
    }

    static func from(_ handle: OpaquePointer?) -> TestTimer? {
        handle.map { Unmanaged<TestTimer>.fromOpaque(UnsafeRawPointer($0)).takeUnretainedValue() }
    }

    func retainedHandle() -> OpaquePointer { OpaquePointer(Unmanaged.passRetained(self).toOpaque()) }

    func schedule(afterNanoseconds delay: UInt64) {
        host.queue.asyncAfter(deadline: .now() + .nanoseconds(Int(min(delay, UInt64(Int.max))))) { [self] in
            guard !cancelled.load(ordering: .acquiring) else { return }
            callback(user, OpaquePointer(Unmanaged.passUnretained(self).toOpaque()))
            if interval > 0 && !cancelled.load(ordering: .acquiring) { schedule(afterNanoseconds: interval) }
        }
    }

    /// Stops the timer; from another thread, waits for a running callback to return.
    func cancel() {
        guard !cancelled.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if !host.isOnQueue { host.queue.sync {} }
        // The handle was retained at start; the last scheduled block may still hold `self`.
        Unmanaged.passUnretained(self).release()
    }
}

/// A subscriber in the test host: deliveries run on the host's queue, in order.
final class TestSubscription: @unchecked Sendable {  // mutable state is Locked; the callback and user pointer are immutable C values
    let host: TestHost
    let topic: String
    let callback: sb_message_fn
    let user: UnsafeMutableRawPointer?
    let cancelled = Atomic<Bool>(false)

    init(host: TestHost, topic: String, callback: sb_message_fn, user: UnsafeMutableRawPointer?) {
        self.host = host
        self.topic = topic
        self.callback = callback
        self.user = user
    }

    func deliver(_ message: [UInt8]) {
        host.queue.async { [self] in
            guard !cancelled.load(ordering: .relaxed) else { return }
            message.withUnsafeBufferPointer {
                callback(user, OpaquePointer(Unmanaged.passUnretained(self).toOpaque()), SB_OK, sb_bytes(ptr: $0.baseAddress, len: $0.count))
            }
        }
    }
}
