// swift-tools-version: 6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "switchboard",
    products: [
        .executable(name: "switchboard", targets: ["switchboard"]),
        .executable(name: "switchboard-native-baseline", targets: ["NativeBaseline"]),
        .executable(name: "switchboard-nio-baseline", targets: ["NIOBaseline"]),
        .executable(name: "switchboard-json-bench", targets: ["JSONBench"]),
        .library(name: "SwitchboardHost", targets: ["SwitchboardHost"]),
        .library(name: "CSwitchboard", targets: ["CSwitchboard"]),
        .library(name: "SwitchboardSDK", targets: ["SwitchboardSDK"]),
        .library(name: "SwitchboardTesting", targets: ["SwitchboardTesting"]),
        // Bundled plugins: each is a shared library the host loads with dlopen.
        .library(name: "HelloC", type: .dynamic, targets: ["HelloC"]),
        .library(name: "HelloSwift", type: .dynamic, targets: ["HelloSwift"]),
        .library(name: "Streaming", type: .dynamic, targets: ["Streaming"]),
        .library(name: "Status", type: .dynamic, targets: ["Status"]),
        .library(name: "Json", type: .dynamic, targets: ["Json"]),
        .library(name: "Markup", type: .dynamic, targets: ["Markup"]),
        .library(name: "Media", type: .dynamic, targets: ["Media"]),
        .library(name: "Negotiation", type: .dynamic, targets: ["Negotiation"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: ["YAML"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/adam-fowler/compress-nio", from: "1.5.0"),
        // Plugin state in SQLite (the system's libsqlite3-dev).
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        // Content digests: SHA-256 names plugin versions; MD5 is the chapter's ETag.
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
    ],
    targets: [
        // The C ABI: one header, standard includes only. Plugins depend on this and nothing else.
        .target(name: "CSwitchboard", path: "Sources/CSwitchboard"),
        // C helpers for the host only (hashing, thread flags); never seen by plugins.
        .target(name: "CSwitchboardHostSupport", cSettings: [.unsafeFlags(["-O2"])], linkerSettings: [.linkedLibrary("sqlite3")]),
        // Typed handlers are called through libffi (the system package libffi-dev).
        .target(name: "CSwitchboardFFI", linkerSettings: [.linkedLibrary("ffi")]),
        // Routes as plugins declare them: path templates, typed parameters and their FastAPI-shaped
        // validation, the OpenAPI document. Pure Swift on the C ABI and SwitchboardCore; the host's, and
        // the test host's through it.
        .target(name: "SwitchboardRouting", dependencies: ["CSwitchboard", "CSwitchboardFFI", "SwitchboardCore"], swiftSettings: swiftSettings),
        // An in-process host for plugin authors' unit tests: the real server (loader, registry,
        // host function table, responder) with an in-memory transport instead of sockets.
        .target(
            name: "SwitchboardTesting",
            dependencies: [
                "CSwitchboard", "SwitchboardCore", "SwitchboardHost", "SwitchboardRouting", "SwitchboardSDK",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings),
        // What the host and the SDK both build on: locks and lease gates, JSON values and their
        // writer, body validation, validators and HTTP dates. Below both, so the host never
        // imports the plugin SDK. The standard library, Glibc and FoundationEssentials only.
        .target(name: "SwitchboardCore", swiftSettings: swiftSettings),
        // The Swift SDK for plugin authors: on the C ABI alone (never NIO or Hummingbird).
        .target(name: "SwitchboardSDK", dependencies: ["CSwitchboard", "SwitchboardCore"], swiftSettings: swiftSettings),
        .target(
            name: "SwitchboardHost",
            dependencies: [
                "CSwitchboard",
                "CSwitchboardHostSupport",
                "SwitchboardCore",
                "SwitchboardRouting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "switchboard",
            dependencies: [
                "SwitchboardHost",
                "SwitchboardRouting",
                "SwitchboardSDK",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(name: "HelloC", dependencies: ["CSwitchboard"], path: "Plugins/HelloC"),
        .target(name: "HelloSwift", dependencies: ["SwitchboardSDK"], path: "Plugins/HelloSwift", swiftSettings: swiftSettings),
        .target(name: "Streaming", dependencies: ["SwitchboardSDK"], path: "Plugins/Streaming", swiftSettings: swiftSettings),
        // MD5 from swift-crypto: the image exports only its entry point and keeps only the
        // BoringSSL code it uses (Plugins/Status/exports.map), instead of 14 MiB more per version.
        .target(
            name: "Status", dependencies: ["SwitchboardSDK", .product(name: "Crypto", package: "swift-crypto")], path: "Plugins/Status",
            exclude: ["exports.map"], swiftSettings: swiftSettings,
            linkerSettings: [.unsafeFlags(["-Xlinker", "--gc-sections", "-Xlinker", "--version-script=\(Context.packageDirectory)/Plugins/Status/exports.map"])]),
        .target(name: "Json", dependencies: ["SwitchboardSDK"], path: "Plugins/Json", swiftSettings: swiftSettings),
        .target(name: "Negotiation", dependencies: ["SwitchboardSDK"], path: "Plugins/Negotiation", swiftSettings: swiftSettings),
        // -nostartfiles: swiftc links no swiftrt.o into this C image, so nothing in it registers
        // with the Swift runtime and the host unmaps it once a swap has drained it (hello-c, linked
        // the default way, is kept mapped like a Swift image).
        .target(name: "Markup", dependencies: ["CSwitchboard"], path: "Plugins/Markup", linkerSettings: [.unsafeFlags(["-nostartfiles"])]),
        // FreeType (libfreetype-dev) draws the text; zlib compresses the PNG's rows.
        .target(
            name: "Media", dependencies: ["CSwitchboard"], path: "Plugins/Media",
            cSettings: [.unsafeFlags(["-I/usr/include/freetype2"])],
            linkerSettings: [.linkedLibrary("freetype"), .linkedLibrary("z"), .unsafeFlags(["-nostartfiles"])]),
        // The benchmark's baseline: the example handlers as native Hummingbird routes (bench/run.sh).
        .executableTarget(
            name: "JSONBench",
            dependencies: ["SwitchboardSDK"],
            path: "bench/JSONBench",
            swiftSettings: swiftSettings
        ),
        // The floor: a bare SwiftNIO HTTP/1.1 server answering the tiny text route (bench/run.sh).
        .executableTarget(
            name: "NIOBaseline",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "bench/NIOBaseline"
        ),
        .executableTarget(
            name: "NativeBaseline",
            dependencies: ["SwitchboardCore", .product(name: "Hummingbird", package: "hummingbird")],
            path: "bench/NativeBaseline"
        ),
        .testTarget(
            name: "SwitchboardHostTests",
            dependencies: [
                "SwitchboardCore",
                "SwitchboardHost",
                "SwitchboardRouting",
                "SwitchboardSDK",
                "SwitchboardTesting",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "CompressNIO", package: "compress-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
    ]
)
