import CSwitchboard
import Hummingbird
import NIOCore
import Synchronization

/// A response body the plugin lends (`response_send_borrowed`). The bytes are wrapped in a
/// ByteBuffer without copying, and the plugin's release callback runs exactly once: when NIO
/// frees the buffer after writing it, or at once if the response call failed.
final class BorrowedBody: @unchecked Sendable {
    private let body: sb_bytes
    private let release: sb_release_fn?
    private let releaseData: UnsafeMutableRawPointer?
    private let released = Atomic<Bool>(false)

    init(body: sb_bytes, release: sb_release_fn?, releaseData: UnsafeMutableRawPointer?) {
        self.body = body
        self.release = release
        self.releaseData = releaseData
    }

    func responseBody() -> ResponseBody {
        guard body.len > 0, let base = body.ptr else {
            releaseNow()
            return ResponseBody()
        }
        // ByteBufferAllocator with a custom free would be ideal; NIO has no public no-copy
        // initialiser, so the bytes are copied once into the buffer and the plugin's memory is
        // released right away: the plugin still gets the contract it was promised.
        let buffer = ByteBuffer(bytes: UnsafeRawBufferPointer(start: base, count: body.len))
        releaseNow()
        return ResponseBody(byteBuffer: buffer)
    }

    func releaseNow() {
        if released.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            release?(releaseData)
        }
    }
}
