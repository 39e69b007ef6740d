import CSwitchboard
import Hummingbird
import NIOCore

/// Delivers a streamed request body (`request_body_read`) chunk by chunk to the plugin.
enum BodyReader {
    static func start(_ exchange: Exchange, onChunk: sb_body_chunk_fn, user: UnsafeMutableRawPointer?) -> sb_status {
        guard exchange.route.streamsBody else { return SB_ERR_STATE }
        guard exchange.claimBodyStream() else { return SB_ERR_STATE }
        let limit = exchange.route.maxBodyBytes
        let user = UnsafeSendable(user)
        let callback = UnsafeSendable(onChunk)
        Task {
            let onChunk = callback.value
            var total = 0
            do {
                for try await chunk in exchange.request.body {
                    total += chunk.readableBytes
                    if total > limit {
                        deliver(onChunk, user.value, exchange, SB_ERR_TOO_LARGE, nil, 0)
                        return
                    }
                    chunk.withUnsafeReadableBytes { deliver(onChunk, user.value, exchange, SB_OK, $0, 0) }
                }
                deliver(onChunk, user.value, exchange, SB_OK, nil, SB_CHUNK_LAST)
            } catch {
                deliver(onChunk, user.value, exchange, SB_ERR_CLOSED, nil, 0)
            }
        }
        return SB_OK
    }

    private static func deliver(
        _ fn: sb_body_chunk_fn, _ user: UnsafeMutableRawPointer?, _ exchange: Exchange, _ status: sb_status,
        _ bytes: UnsafeRawBufferPointer?, _ flags: UInt32
    ) {
        let chunk = sb_bytes(ptr: bytes?.baseAddress?.assumingMemoryBound(to: UInt8.self), len: bytes?.count ?? 0)
        withPluginCode(exchange.route.plugin.codeTag) {
            withNonBlockingContext(exchange.route.activityLabel) { fn(user, exchange.handle, status, chunk, flags) }
        }
    }
}

/// A value the host passes between threads on the plugin's behalf (a plugin's `user` pointer).
struct UnsafeSendable<T>: @unchecked Sendable {  // a plugin's `user` pointer, which the ABI lets the host pass to any thread
    let value: T
    init(_ value: T) { self.value = value }
}
