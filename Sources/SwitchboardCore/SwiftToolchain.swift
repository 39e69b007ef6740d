/// The Swift toolchain that compiled this code, as `major*10000 + minor*100 + patch`.
///
/// A Swift plugin runs on the host's Swift runtime, so both must come from the same toolchain.
/// Swift offers no compile-time version string, only `#if compiler(>=…)`; this ladder resolves
/// it to the patch level for every release this code knows, and to the newest known floor for
/// later ones. The one copy of this ladder: a plugin built on the SDK reports its compiler with it
/// (`sb_plugin_descriptor.swift_version`), and the host compares that with its own.
public enum SwiftToolchain {
    /// This code's compiler, e.g. 60301 for Swift 6.3.1: 60400 for 6.4 and any later release, 60000
    /// for one before 6.1.
    public static let compilerVersion: UInt32 = {
        #if compiler(>=6.4)
        return 60400
        #elseif compiler(>=6.3.3)
        return 60303
        #elseif compiler(>=6.3.2)
        return 60302
        #elseif compiler(>=6.3.1)
        return 60301
        #elseif compiler(>=6.3)
        return 60300
        #elseif compiler(>=6.2.3)
        return 60203
        #elseif compiler(>=6.2.2)
        return 60202
        #elseif compiler(>=6.2.1)
        return 60201
        #elseif compiler(>=6.2)
        return 60200
        #elseif compiler(>=6.1)
        return 60100
        #else
        return 60000
        #endif
    }()

    /// "6.3.1"
    public static func format(_ version: UInt32) -> String {
        "\(version / 10000).\(version / 100 % 100).\(version % 100)"
    }
}
