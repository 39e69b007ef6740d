import CSwitchboard
import CSwitchboardHostSupport
#if canImport(Glibc)
import Glibc
#endif

/// The code of one plugin version: a mapped private copy of a plugin file, or a plugin linked
/// into the host's own process (an in-process test host).
///
/// Invariant: an image that needs the Swift runtime is opened with `RTLD_NODELETE` and never
/// closed — its type metadata stays registered with the process-wide Swift runtime, so unmapping
/// it would crash the process later. C images are closed once their instance has drained. A
/// linked image is part of the process and is never closed either.
final class PluginImage: @unchecked Sendable {  // the mapping is immutable; close() is called once, by the retiring thread
    /// Where the code lives.
    enum Mapping {
        /// `dlopen`ed from `privatePath`.
        case opened(UnsafeMutableRawPointer)
        /// Linked into the process; there is no file and no handle.
        case linked
    }

    /// The private copy that was opened; empty for a linked image.
    let privatePath: String
    let sha256: String
    /// The image registers with the Swift runtime (or is part of the process), so it is never unmapped.
    let neverUnload: Bool
    let mapping: Mapping

    /// `dlopen` with `RTLD_NOW | RTLD_LOCAL` (and `RTLD_NODELETE` for images that are never unmapped).
    init(privatePath: String, sha256: String, neverUnload: Bool) throws(DynamicLinkError) {
        var flags = RTLD_NOW | RTLD_LOCAL
        if neverUnload { flags |= RTLD_NODELETE }
        guard let handle = dlopen(privatePath, flags) else {
            throw DynamicLinkError(message: dlerror().map { String(cString: $0) } ?? "unknown dlopen error")
        }
        self.mapping = .opened(handle)
        self.privatePath = privatePath
        self.sha256 = sha256
        self.neverUnload = neverUnload
    }

    /// A plugin linked into this process. `sha256` names the version (64 lower-case hex digits).
    init(linkedWithSHA256 sha256: String) {
        self.mapping = .linked
        self.privatePath = ""
        self.sha256 = sha256
        self.neverUnload = true
    }

    /// The addresses its loaded segments occupy, [start, end); nil for a linked image, or if the
    /// dynamic linker will not say.
    var addressRange: (start: UInt64, end: UInt64)? {
        guard case .opened(let handle) = mapping else { return nil }
        var start: UInt = 0
        var end: UInt = 0
        guard sbh_image_range(handle, &start, &end) == 0 else { return nil }
        return (UInt64(start), UInt64(end))
    }

    /// The address of an exported symbol; nil when it is missing (always, for a linked image).
    func symbol(_ name: String) -> UnsafeMutableRawPointer? {
        guard case .opened(let handle) = mapping else { return nil }
        return dlsym(handle, name)
    }

    /// Unmaps a C image. A no-op for Swift and linked images (see the type's invariant).
    func close() {
        if !neverUnload, case .opened(let handle) = mapping { dlclose(handle) }
    }
}

struct DynamicLinkError: Error {
    let message: String
}
