import CSwitchboard
import Hummingbird
import NIOCore
import Synchronization

/// A response body the plugin lends (`response_send_borrowed`). The bytes are copied into a
/// ByteBuffer when the response is recorded; the caller then runs the plugin's release callback
/// (`releaseNow`), exactly once, outside every host lock, whether the response call succeeded or
/// failed.
final class BorrowedBody: @unchecked Sendable {  // the plugin's body and release function are immutable C values; `released` is atomic
    private let body: sb_bytes
    private let release: sb_release_fn?
    private let releaseData: UnsafeMutableRawPointer?
    private let released = Atomic<Bool>(false)

    init(body: sb_bytes, release: sb_release_fn?, releaseData: UnsafeMutableRawPointer?) {
        self.body = body
        self.release = release
        self.releaseData = releaseData
    }

    /// The body, copied. Does not release: see `releaseNow`.
    func copied() -> ByteBuffer {
        guard body.len > 0, let base = body.ptr else { return ByteBuffer() }
        // ByteBufferAllocator with a custom free would be ideal; NIO has no public no-copy
        // initialiser, so the bytes are copied once into the buffer and the plugin's memory is
        // released right after: the plugin still gets the contract it was promised.
        return ByteBuffer(bytes: UnsafeRawBufferPointer(start: base, count: body.len))
    }

    func releaseNow() {
        if released.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            release?(releaseData)
        }
    }
}
