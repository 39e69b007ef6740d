import CSwitchboard
import CSwitchboardHostSupport
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import SwitchboardCore
import SwitchboardRouting

/// The host's function table (`sb_host_api`), built once and shared by every plugin instance.
///
/// Each entry is a C-convention function that resolves its opaque handle back to the Swift object
/// (`PluginInstance`, `Exchange`, `StreamWriter`, `HostTimer`) and checks its arguments, so that a
/// plugin's mistake yields a status code rather than a crash. New entries are appended only.
enum HostAPI {
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

        // Plugin lifecycle
        api.log = { plugin, level, message in
            guard let plugin = PluginInstance.from(plugin) else { return SB_ERR_INVALID_ARGUMENT }
            plugin.logger.log(level: Logger.Level(level), "\(message.string)")
            return SB_OK
        }
        api.plugin_refuse = { plugin, reason in
            guard let plugin = PluginInstance.from(plugin) else { return SB_ERR_INVALID_ARGUMENT }
            return plugin.mutable.withLock { m in
                guard m.phase == .initializing else { return SB_ERR_STATE }
                m.refuseReason = reason.string
                return SB_OK
            }
        }
        api.config_get = { plugin, key, out in
            guard let plugin = PluginInstance.from(plugin), let out else { return SB_ERR_INVALID_ARGUMENT }
            guard let key = key.validatedString, let value = plugin.configValue(key) else { return SB_ERR_NOT_FOUND }
            out.pointee = value
            return SB_OK
        }

        // Routes
        api.route_add = { plugin, spec in
            guard let plugin = PluginInstance.from(plugin), let spec else { return SB_ERR_INVALID_ARGUMENT }
            return RouteSpecReader.add(spec, to: plugin, defaultMaxBody: plugin.services.defaultMaxBodyBytes)
        }

        // Request access
        api.request_method = { req, out in
            guard let ex = Exchange.from(req), let out else { return SB_ERR_INVALID_ARGUMENT }
            out.pointee = ex.lend(ex.request.method.rawValue)
            return SB_OK
        }
        api.request_path = { req, out in
            guard let ex = Exchange.from(req), let out else { return SB_ERR_INVALID_ARGUMENT }
            out.pointee = ex.lend(ex.path)
            return SB_OK
        }
        api.request_query = { req, out in
            guard let ex = Exchange.from(req), let out else { return SB_ERR_INVALID_ARGUMENT }
            out.pointee = ex.lend(ex.query)
            return SB_OK
        }
        api.request_path_param = { req, name, out in
            guard let ex = Exchange.from(req), let out else { return SB_ERR_INVALID_ARGUMENT }
            guard let value = ex.pathParameter(named: name.bytes) else { return SB_ERR_NOT_FOUND }
            out.pointee = ex.lend(value)
            return SB_OK
        }
        api.request_query_param = { req, name, index, out in
            guard let ex = Exchange.from(req), let out else { return SB_ERR_INVALID_ARGUMENT }
            guard let value = ex.queryParameter(named: name.bytes, index: index) else { return SB_ERR_NOT_FOUND }
            out.pointee = ex.lend(value)
            return SB_OK
        }
        api.request_header = { req, name, index, out in
            guard let ex = Exchange.from(req), let out else { return SB_ERR_INVALID_ARGUMENT }
            guard name.bytes.isHTTPToken else { return SB_ERR_INVALID_ARGUMENT }
            guard let value = ex.request.head.fieldValue(named: name.bytes, index: index) else { return SB_ERR_NOT_FOUND }
            out.pointee = ex.lend(value)
            return SB_OK
        }
        api.request_header_count = { req, out in
            guard let ex = Exchange.from(req), let out else { return SB_ERR_INVALID_ARGUMENT }
            out.pointee = ex.request.head.fieldLineCount
            return SB_OK
        }
        api.request_header_at = { req, index, outName, outValue in
            guard let ex = Exchange.from(req), let outName, let outValue else { return SB_ERR_INVALID_ARGUMENT }
            guard let line = ex.request.head.fieldLine(at: index) else { return SB_ERR_NOT_FOUND }
            outName.pointee = ex.lend(line.name)
            outValue.pointee = ex.lend(line.value)
            return SB_OK
        }
        api.request_body = { req, out in
            guard let ex = Exchange.from(req), let out else { return SB_ERR_INVALID_ARGUMENT }
            guard let body = ex.body else { return SB_ERR_STATE }
            out.pointee = body.withUnsafeReadableBytes { bytes in
                let lent = ex.lend(bytes: bytes)
                return sb_bytes(ptr: UnsafeRawPointer(lent.ptr)?.assumingMemoryBound(to: UInt8.self), len: lent.len)
            }
            return SB_OK
        }
        api.request_body_read = { req, onChunk, user in
            guard let ex = Exchange.from(req), let onChunk else { return SB_ERR_INVALID_ARGUMENT }
            return BodyReader.start(ex, onChunk: onChunk, user: user)
        }

        // Responses
        api.response_header_add = { req, name, value in
            guard let ex = Exchange.from(req) else { return SB_ERR_INVALID_ARGUMENT }
            return ex.addHeader(name: name, value: value)
        }
        api.response_send = { req, status, body in
            guard let ex = Exchange.from(req) else { return SB_ERR_INVALID_ARGUMENT }
            return ex.respond(status: status) { _ in body.copiedBody }
        }
        api.response_send_borrowed = { req, status, body, release, releaseData in
            guard let ex = Exchange.from(req) else {
                release?(releaseData)
                return SB_ERR_INVALID_ARGUMENT
            }
            let borrowed = BorrowedBody(body: body, release: release, releaseData: releaseData)
            let status = ex.respond(status: status) { _ in .bytes(borrowed.copied()) }
            // After the exchange's lock is released: `release` is plugin code, which may call the
            // host (not with `req`, but with anything else) and must not run under a host lock.
            borrowed.releaseNow()
            return status
        }
        api.response_stream_begin = { req, status, out in
            guard let ex = Exchange.from(req), let out else { return SB_ERR_INVALID_ARGUMENT }
            let stream = StreamWriter(exchange: ex)
            let result = ex.respond(status: status) { .writer(stream.makeBody(headers: &$0)) }
            guard result == SB_OK else { return result }
            ex.route.plugin.track(stream)
            // A HEAD response has no body: the stream starts closed, so the plugin stops at once.
            if ex.request.method == .head { stream.close() }
            out.pointee = stream.retainedHandle()
            return SB_OK
        }
        api.response_file = { req, spec in
            guard let ex = Exchange.from(req), let spec else { return SB_ERR_INVALID_ARGUMENT }
            return FileResponder.respond(ex, spec: spec.pointee)
        }

        // Streaming writer
        api.stream_write = { stream, data, flags in
            guard let stream = StreamWriter.from(stream) else { return SB_ERR_INVALID_ARGUMENT }
            return stream.write(data.buffer, flags: flags)
        }
        api.stream_on_writable = { stream, cb, user in
            guard let stream = StreamWriter.from(stream), let cb else { return SB_ERR_INVALID_ARGUMENT }
            return stream.register((cb, user), for: .writable)
        }
        api.stream_on_close = { stream, cb, user in
            guard let stream = StreamWriter.from(stream), let cb else { return SB_ERR_INVALID_ARGUMENT }
            return stream.register((cb, user), for: .close)
        }
        api.stream_finish = { stream in
            guard let stream = StreamWriter.from(stream) else { return SB_ERR_INVALID_ARGUMENT }
            return stream.finish()
        }

        // Timers
        api.timer_start = { plugin, delay, interval, cb, user, out in
            guard let plugin = PluginInstance.from(plugin), let cb, let out else { return SB_ERR_INVALID_ARGUMENT }
            let timer = HostTimer(plugin: plugin, callback: cb, user: user)
            let accepted = plugin.mutable.withLock { m -> Bool in
                guard m.phase != .retired else { return false }
                m.timers[ObjectIdentifier(timer)] = timer
                return true
            }
            guard accepted else { return SB_ERR_STATE }
            // Published before it is armed (switchboard.h rule 8): with no delay the first call may
            // run on another event loop before this function returns, and may cancel the timer
            // through the plugin's stored copy of the handle.
            out.pointee = timer.handle
            timer.start(
                on: MultiThreadedEventLoopGroup.singleton.next(),
                delay: .nanoseconds(Int64(clamping: delay)),
                interval: interval == 0 ? nil : .nanoseconds(Int64(clamping: interval))
            )
            return SB_OK
        }
        api.timer_cancel = { handle in
            guard let timer = HostTimer.from(handle) else { return SB_ERR_INVALID_ARGUMENT }
            timer.cancel()
            _ = timer.plugin?.mutable.withLock { $0.timers.removeValue(forKey: ObjectIdentifier(timer)) }
            return SB_OK
        }

        // Publish/subscribe
        api.topic_publish = { plugin, topic, message, delivered in
            guard let plugin = PluginInstance.from(plugin), let topic = topic.validatedString else { return SB_ERR_INVALID_ARGUMENT }
            let count = plugin.services.topics.publish(plugin: plugin.name, topic: topic, message: message.buffer)
            delivered?.pointee = count
            return SB_OK
        }
        api.topic_subscribe = { plugin, topic, limit, cb, user, out in
            guard let plugin = PluginInstance.from(plugin), let cb, let out, let topic = topic.validatedString else { return SB_ERR_INVALID_ARGUMENT }
            let sub = Subscription(
                plugin: plugin, topic: topic, queueLimit: Int(limit == 0 ? 1024 : limit), callback: cb, user: user)
            let accepted = plugin.mutable.withLock { m -> Bool in
                guard m.phase != .retired else { return false }
                m.subscriptions[ObjectIdentifier(sub)] = sub
                return true
            }
            guard accepted else { return SB_ERR_STATE }
            // Published before the first message can reach it (switchboard.h rule 8).
            out.pointee = sub.retainedHandle()
            plugin.services.topics.register(sub)
            return SB_OK
        }
        api.subscription_cancel = { handle in
            guard let sub = Subscription.from(handle) else { return SB_ERR_INVALID_ARGUMENT }
            _ = sub.plugin?.mutable.withLock { $0.subscriptions.removeValue(forKey: ObjectIdentifier(sub)) }
            sub.hub.cancel(sub)
            return SB_OK
        }

        // State store: arguments are copied here, before the call returns (rule 4). A key, prefix
        // or `after` that is not UTF-8 is refused: repaired, two keys would be one.
        api.state_get = { plugin, key, done, user in
            guard let key = key.validatedString else { return SB_ERR_INVALID_ARGUMENT }
            return StateCalls.run(plugin, done, user, .get(key))
        }
        api.state_put = { plugin, key, value, done, user in
            guard let key = key.validatedString else { return SB_ERR_INVALID_ARGUMENT }
            return StateCalls.run(plugin, done, user, .put(key, Array(value.buffer)))
        }
        api.state_compare_and_put = { plugin, key, hasExpected, expected, value, done, user in
            guard let key = key.validatedString else { return SB_ERR_INVALID_ARGUMENT }
            return StateCalls.run(plugin, done, user, .compareAndPut(key, expected: hasExpected != 0 ? Array(expected.buffer) : nil, Array(value.buffer)))
        }
        api.state_delete = { plugin, key, done, user in
            guard let key = key.validatedString else { return SB_ERR_INVALID_ARGUMENT }
            return StateCalls.run(plugin, done, user, .delete(key))
        }
        api.state_increment = { plugin, key, delta, done, user in
            guard let key = key.validatedString else { return SB_ERR_INVALID_ARGUMENT }
            return StateCalls.run(plugin, done, user, .increment(key, delta))
        }
        api.state_list = { plugin, prefix, after, limit, done, user in
            guard let prefix = prefix.validatedString, let after = after.validatedString else { return SB_ERR_INVALID_ARGUMENT }
            return StateCalls.run(plugin, done, user, .list(prefix: prefix, after: after, skip: 0, limit: Int(limit)))
        }
        api.state_compare_and_delete = { plugin, key, expected, done, user in
            guard let key = key.validatedString else { return SB_ERR_INVALID_ARGUMENT }
            return StateCalls.run(plugin, done, user, .compareAndDelete(key, expected: Array(expected.buffer)))
        }

        // ABI 1.1
        api.request_param = { req, name, out in
            guard let ex = Exchange.from(req), let out, out.pointee.struct_size >= 4 else { return SB_ERR_INVALID_ARGUMENT }
            guard let value = ex.parameterValue(named: name.bytes) else { return SB_ERR_NOT_FOUND }
            value.write(to: out, text: ex.lend(value.text))
            return SB_OK
        }

        // ABI 1.5
        api.request_negotiate = { req, offered, count, out in
            guard let ex = Exchange.from(req), let offered, let out else { return SB_ERR_INVALID_ARGUMENT }
            let outcome = ex.negotiate(offeredCount: count) { i in
                // A NULL pointer reads as empty, which no media type is.
                guard let bytes = offered[i].ptr else { return UnsafeBufferPointer(start: nil, count: 0) }
                return UnsafeBufferPointer(start: UnsafeRawPointer(bytes).assumingMemoryBound(to: UInt8.self), count: offered[i].len)
            }
            switch outcome {
            case .success(let index?):
                out.pointee = index
                return SB_OK
            case .success(nil):
                return SB_ERR_NOT_FOUND
            case .failure(.responded):
                return SB_ERR_STATE
            case .failure(.offer(let error)):
                ex.route.plugin.logger.error("request_negotiate refused the offered types: \(error)", metadata: ["route": "\(ex.route.signature)"])
                return SB_ERR_INVALID_ARGUMENT
            }
        }

        // ABI 1.6
        api.state_list_page = { plugin, prefix, after, skip, limit, done, user in
            guard let prefix = prefix.validatedString, let after = after.validatedString else { return SB_ERR_INVALID_ARGUMENT }
            return StateCalls.run(plugin, done, user, .list(prefix: prefix, after: after, skip: Int(clamping: skip), limit: Int(limit)))
        }
        api.state_transaction = { plugin, ops, count, done, user in
            guard let ops, (1...1024).contains(count) else { return SB_ERR_INVALID_ARGUMENT }
            var steps: [StateStep] = []
            steps.reserveCapacity(count)
            let read = forEachSizedStruct(ops, count: count, size: { $0.struct_size }) { op in
                guard let key = op.key.validatedString else { return false }
                switch op.kind {
                case UInt32(SB_STATE_OP_PUT): steps.append(.put(key, Array(op.value.buffer)))
                case UInt32(SB_STATE_OP_DELETE): steps.append(.delete(key))
                case UInt32(SB_STATE_OP_EXPECT): steps.append(.expect(key, Array(op.value.buffer)))
                case UInt32(SB_STATE_OP_EXPECT_ABSENT): steps.append(.expectAbsent(key))
                default: return false
                }
                return true
            }
            guard read else { return SB_ERR_INVALID_ARGUMENT }
            return StateCalls.run(plugin, done, user, .transaction(steps))
        }

        // ABI 1.7
        api.state_get_inline = { plugin, key, done, user in
            // Checked in place: an inline read answered from the cache never makes a string of it.
            guard key.bytes.isValidUTF8 else { return SB_ERR_INVALID_ARGUMENT }
            return StateCalls.readInline(plugin, key.bytes, done, user)
        }
        api.response_topic_stream = { req, status, spec in
            // A status whose response has content (RFC 9110 §15.3.5, §15.3.6): the stream is one.
            guard let ex = Exchange.from(req), let spec, spec.pointee.struct_size >= MemoryLayout<sb_topic_stream_spec>.size,
                (200...299).contains(status), status != 204, status != 205
            else {
                return SB_ERR_INVALID_ARGUMENT
            }
            // Text the event stream carries as it is: UTF-8 (WHATWG HTML §9.2.5) on one line.
            let lineBreak: (UInt8) -> Bool = { $0 == 0x0A || $0 == 0x0D || $0 == 0 }
            guard let topic = spec.pointee.topic.validatedString, !topic.isEmpty,
                let event = spec.pointee.event.validatedString, let comment = spec.pointee.comment.validatedString,
                !event.utf8.contains(where: lineBreak), !comment.utf8.contains(where: lineBreak)
            else {
                return SB_ERR_INVALID_ARGUMENT
            }
            let plugin = ex.route.plugin
            let client = TopicStreamClient(
                exchange: ex,
                options: .init(
                    key: CodePointKey(plugin.name + "\u{0}" + topic), event: event, comment: comment,
                    // At most a ping every 10 ms, whatever was asked.
                    keepaliveNanoseconds: spec.pointee.keepalive_ns == 0 ? 0 : max(spec.pointee.keepalive_ns, 10_000_000),
                    lagLimit: spec.pointee.lag_limit == 0 ? 256 : Int(spec.pointee.lag_limit)),
                hub: plugin.services.topics)
            return ex.respond(status: status) { headers in
                // The host frames the body (chunked, or to the close for HTTP/1.0): a length or a
                // coding the plugin added would contradict it.
                headers[.contentLength] = nil
                headers[.transferEncoding] = nil
                headers[.contentType] = "text/event-stream"
                if !headers.contains(.cacheControl) { headers[.cacheControl] = "no-cache" }
                if let accel = HTTPField.Name("x-accel-buffering"), !headers.contains(accel) { headers[accel] = "no" }
                // Open-ended: the connection serves no other request after this.
                if ex.channel != nil { headers[.connection] = "close" }
                return .writer(client.makeBody())
            }
        }

        // ABI 1.8
        api.response_send_fields = { req, status, fields, count, body in
            // `count` is a size_t read as Int: one past Int.max reads as negative, and is refused too.
            guard let ex = Exchange.from(req), (0...1024).contains(count), count == 0 || fields != nil else { return SB_ERR_INVALID_ARGUMENT }
            // Made before the exchange's lock, with room for what the host adds (Vary,
            // Content-Length), so they move into the response uncopied.
            var added = HTTPFields()
            if count > 0, let fields {
                added.reserveCapacity(count + 2)
                let read = forEachSizedStruct(fields, count: count, size: { $0.struct_size }) { field in
                    guard let made = HTTPField(pluginName: field.name.bytes, value: field.value.bytes) else { return false }
                    added.append(made)
                    return true
                }
                guard read else { return SB_ERR_INVALID_ARGUMENT }
            }
            return ex.respond(status: status) { headers in
                if headers.isEmpty { swap(&headers, &added) } else { headers.append(contentsOf: added) }
                return body.copiedBody
            }
        }

        // ABI 1.9
        api.state_get_now = { plugin, key, visit, user in
            // Checked in place, as state_get_inline's: a read at hand never makes a string of it.
            guard key.bytes.isValidUTF8 else { return SB_ERR_INVALID_ARGUMENT }
            return StateCalls.readNow(plugin, key.bytes, visit, user)
        }
        return api
    }
}

extension sb_bytes {
    /// A copy of the bytes as a whole response body (response_send, response_send_fields).
    fileprivate var copiedBody: HostResponse.Body { .bytes(len > 0 ? ByteBuffer(bytes: buffer) : ByteBuffer()) }
}

extension Logger.Level {
    init(_ level: sb_log_level) {
        switch level {
        case SB_LOG_TRACE: self = .trace
        case SB_LOG_DEBUG: self = .debug
        case SB_LOG_INFO: self = .info
        case SB_LOG_NOTICE: self = .notice
        case SB_LOG_WARNING: self = .warning
        case SB_LOG_ERROR: self = .error
        default: self = .critical
        }
    }
}
