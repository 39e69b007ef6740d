/// What the loader needs to know about a shared object before it lets `dlopen` near it.
///
/// `dlopen` of a truncated or foreign file can crash or give an unhelpful message, so the loader
/// checks the ELF headers first: the magic, the class and machine, and that every table and
/// loadable segment the headers describe lies inside the file. It also reads the dynamic section
/// and section headers to learn whether the image registers with the Swift runtime: such an image
/// must never be unloaded.
struct ELFImage {
    /// Why a file is not a loadable shared object for this host.
    enum Problem: Error, Equatable {
        case notELF
        case wrongFormat(String)
        case truncated(needed: Int, actual: Int)
    }

    /// DT_NEEDED: the libraries the image links.
    let needed: [String]
    /// Sections holding Swift metadata (`swift5_*`) that are not empty: the image has Swift code.
    let swiftMetadataSections: [String]
    /// Whether the image has `swift5_*` sections at all, empty ones included: swiftrt.o, which
    /// swiftc links into every image it links (even one made only of C, unless `-nostartfiles`),
    /// defines them and registers them with the runtime from a constructor.
    let hasSwiftRuntimeSections: Bool
    /// Whether the file has section headers to read (optional in an ELF shared object).
    let hasSectionHeaders: Bool

    /// The image registers with the process-wide Swift runtime when it is mapped, so it must
    /// never be unmapped (the runtime keeps pointers into it). Needing libswiftCore alone does not
    /// register anything: a C image linked by swiftc with `-nostartfiles` (the markup plugin) is
    /// unmapped like any C image.
    var registersWithSwiftRuntime: Bool {
        // Without section headers (stripped with --strip-section-headers, say) the sections
        // cannot be seen: needing the Swift runtime is then taken as registering with it.
        hasSwiftRuntimeSections || (!hasSectionHeaders && needed.contains { $0.hasPrefix("libswiftCore") })
    }

    /// The image contains compiled Swift code, so it must come from the host's Swift toolchain.
    var containsSwiftCode: Bool { !swiftMetadataSections.isEmpty }

    init(bytes: [UInt8]) throws(Problem) {
        guard bytes.count >= 4, bytes[0] == 0x7F, bytes[1] == 0x45, bytes[2] == 0x4C, bytes[3] == 0x46 else {
            throw .notELF
        }
        guard bytes.count >= 64 else { throw .truncated(needed: 64, actual: bytes.count) }
        guard bytes[4] == 2 else { throw .wrongFormat("it is a 32-bit ELF file; this host loads 64-bit objects") }
        guard bytes[5] == 1 else { throw .wrongFormat("it is a big-endian ELF file") }
        let reader = Reader(bytes: bytes)
        let type = reader.u16(16)
        guard type == 3 else {
            throw .wrongFormat("it is an ELF \(type == 2 ? "executable" : "file of type \(type)"), not a shared object (build it with -shared)")
        }
        #if arch(x86_64)
        let hostMachine: UInt16 = 62
        #elseif arch(arm64)
        let hostMachine: UInt16 = 183
        #else
        let hostMachine = reader.u16(18)
        #endif
        guard reader.u16(18) == hostMachine else {
            throw .wrongFormat("it is built for ELF machine \(reader.u16(18)); this host is machine \(hostMachine)")
        }
        // Every offset and size comes from the file: all arithmetic saturates, and every read is
        // checked against the file's length first, so a hostile file can only be refused.
        let phoff = Int(clamping: reader.u64(32)), shoff = Int(clamping: reader.u64(40))
        let phentsize = Int(reader.u16(54)), phnum = Int(reader.u16(56))
        let shentsize = Int(reader.u16(58)), shnum = Int(reader.u16(60))
        guard phnum == 0 || phentsize >= 56, shnum == 0 || shentsize >= 64 else {
            throw .wrongFormat("its ELF header gives impossible table entry sizes")
        }
        var end = max(phoff.addingSaturated(phentsize * phnum), shnum > 0 ? shoff.addingSaturated(shentsize * shnum) : 0)
        guard end <= bytes.count else { throw .truncated(needed: end, actual: bytes.count) }

        var loads: [(vaddr: UInt64, offset: UInt64, filesz: UInt64)] = []
        var dynamic: (offset: Int, size: Int)? = nil
        for i in 0..<phnum {
            let at = phoff + i * phentsize
            let ptype = reader.u32(at)
            let offset = reader.u64(at + 8), vaddr = reader.u64(at + 16), filesz = reader.u64(at + 32)
            if ptype == 1 || ptype == 2 {
                end = max(end, Int(clamping: offset).addingSaturated(Int(clamping: filesz)))
            }
            if ptype == 1 { loads.append((vaddr, offset, filesz)) }
            if ptype == 2 { dynamic = (Int(clamping: offset), Int(clamping: filesz)) }
        }
        guard end <= bytes.count else { throw .truncated(needed: end, actual: bytes.count) }

        // DT_NEEDED entries name offsets into DT_STRTAB, which is given as a virtual address.
        var needed: [String] = []
        if let dynamic {
            var strtab: UInt64? = nil
            var neededOffsets: [UInt64] = []
            var at = dynamic.offset
            while at + 16 <= dynamic.offset + dynamic.size {
                let tag = reader.u64(at), value = reader.u64(at + 8)
                if tag == 0 { break }
                if tag == 1 { neededOffsets.append(value) }
                if tag == 5 { strtab = value }
                at += 16
            }
            if let strtab, let load = loads.first(where: { strtab >= $0.vaddr && strtab - $0.vaddr < $0.filesz }) {
                let (sum, overflow) = (strtab - load.vaddr).addingReportingOverflow(load.offset)
                let base = overflow ? Int.max : Int(clamping: sum)
                for offset in neededOffsets {
                    if let name = reader.cString(at: base.addingSaturated(Int(clamping: offset))) { needed.append(name) }
                }
            }
        }
        self.needed = needed

        var swiftSections: [String] = []
        var anySwiftSection = false
        let shstrndx = Int(reader.u16(62))
        if shnum > 0, shstrndx < shnum {
            let names = Int(clamping: reader.u64(shoff + shstrndx * shentsize + 24))
            for i in 0..<shnum {
                let at = shoff + i * shentsize
                guard let name = reader.cString(at: names.addingSaturated(Int(reader.u32(at)))), name.hasPrefix("swift5_") else { continue }
                anySwiftSection = true
                if reader.u64(at + 32) > 0 { swiftSections.append(name) }
            }
        }
        self.swiftMetadataSections = swiftSections
        self.hasSwiftRuntimeSections = anySwiftSection
        self.hasSectionHeaders = shnum > 0 && shstrndx < shnum
    }

    private struct Reader {
        let bytes: [UInt8]
        func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) } }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }

        /// The NUL-terminated string at `at`; nil when `at` is outside the file.
        func cString(at: Int) -> String? {
            guard at >= 0, at < bytes.count else { return nil }
            let stop = bytes[at...].firstIndex(of: 0) ?? bytes.count
            return String(decoding: bytes[at..<stop], as: UTF8.self)
        }
    }
}

extension Int {
    /// `self + other`, stopping at Int.max instead of trapping.
    func addingSaturated(_ other: Int) -> Int {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}
