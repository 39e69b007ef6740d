import CSwitchboard
import CSwitchboardHostSupport
#if canImport(Glibc)
import Glibc
#endif

/// A mapped private copy of a plugin file.
///
/// Invariant: an image that needs the Swift runtime is opened with `RTLD_NODELETE` and never
/// closed — its type metadata stays registered with the process-wide Swift runtime, so unmapping
/// it would crash the process later. C images are closed once their instance has drained.
final class PluginImage: @unchecked Sendable {  // the dlopen handle is immutable; close() is called once, by the retiring thread
    let privatePath: String
    let sha256: String
    /// The image registers with the Swift runtime, so it is never unmapped.
    let neverUnload: Bool
    private let handle: UnsafeMutableRawPointer

    /// `dlopen` with `RTLD_NOW | RTLD_LOCAL` (and `RTLD_NODELETE` for images that are never unmapped).
    init(privatePath: String, sha256: String, neverUnload: Bool) throws(DynamicLinkError) {
        var flags = RTLD_NOW | RTLD_LOCAL
        if neverUnload { flags |= RTLD_NODELETE }
        guard let handle = dlopen(privatePath, flags) else {
            throw DynamicLinkError(message: dlerror().map { String(cString: $0) } ?? "unknown dlopen error")
        }
        self.handle = handle
        self.privatePath = privatePath
        self.sha256 = sha256
        self.neverUnload = neverUnload
    }

    /// The addresses its loaded segments occupy, [start, end); nil if the dynamic linker will not say.
    var addressRange: (start: UInt64, end: UInt64)? {
        var start: UInt = 0
        var end: UInt = 0
        guard sbh_image_range(handle, &start, &end) == 0 else { return nil }
        return (UInt64(start), UInt64(end))
    }

    func symbol(_ name: String) -> UnsafeMutableRawPointer? {
        dlsym(handle, name)
    }

    /// Unmaps a C image. A no-op for Swift images (see the type's invariant).
    func close() {
        if !neverUnload { dlclose(handle) }
    }
}

struct DynamicLinkError: Error {
    let message: String
}
