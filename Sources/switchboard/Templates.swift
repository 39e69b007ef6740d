/// The files of a new plugin project (`switchboard new`).
enum Templates {
    /// "my-plugin" → "MyPlugin": the Swift module and library name.
    static func module(_ name: String) -> String {
        let words = name.split(whereSeparator: { $0 == "-" || $0 == "_" })
        let joined = words.map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
        return joined.first?.isNumber == true ? "Plugin" + joined : joined
    }

    /// Where the project's commands find the host: the `switchboard` binary that made it, and the
    /// plugin directory its README's run command watches.
    struct Host {
        var executable: String
        var plugins: String
        /// The Switchboard checkout a Swift project depends on by path.
        var checkout: String = ""

        /// How SwiftPM names a package found by path: its directory's name without `.git`,
        /// lower-cased.
        var checkoutIdentity: String {
            var name = (checkout.split(separator: "/").last.map(String.init) ?? "switchboard").lowercased()
            if name.hasSuffix(".git") { name.removeLast(4) }
            return name
        }

        /// The checkout's path as a Swift raw string literal (a quote or backslash in it stays literal).
        var checkoutLiteral: String {
            var hashes = "#"
            while checkout.contains("\"" + hashes) { hashes += "#" }
            return hashes + "\"" + checkout + "\"" + hashes
        }
    }

    static func swift(name: String, host: Host) -> [(String, String)] {
        let module = module(name)
        return [
            ("Package.swift", """
                // swift-tools-version: 6.2
                // The \(name) Switchboard plugin. `swift build -c release` makes .build/release/lib\(module).so.
                // It builds against the Switchboard checkout that made it: the plugin against its ABI header and
                // SDK, the tests against the host itself (SwitchboardTesting runs the real server in process).
                // Build with the host's Swift toolchain; if the checkout moves, change the path below.
                import PackageDescription

                let package = Package(
                    name: "\(name)",
                    products: [
                        .library(name: "\(module)", type: .dynamic, targets: ["\(module)"]),
                    ],
                    dependencies: [
                        .package(path: \(host.checkoutLiteral)),
                    ],
                    targets: [
                        .target(name: "\(module)", dependencies: [.product(name: "SwitchboardSDK", package: "\(host.checkoutIdentity)")]),
                        .testTarget(
                            name: "\(module)Tests",
                            dependencies: ["\(module)", .product(name: "SwitchboardTesting", package: "\(host.checkoutIdentity)")]),
                    ]
                )

                """),
            ("Sources/\(module)/\(module).swift", """
                // \(name): a Switchboard plugin on the Swift SDK.
                //
                //   GET /\(name)                       a greeting (configurable: plugins.config.\(name).greeting)
                //   GET /\(name)/items/{item_id}?q=    typed parameters, validated by the host (422 as FastAPI's)
                import SwitchboardSDK

                struct Item: Encodable {
                    let item_id: Int
                    let q: String?
                }

                let itemID = Param<Int>.path("item_id").ge(1).description("The item's id")
                let q = OptionalParam<String>.query("q").maxLength(50)

                public let plugin = Plugin(name: "\(name)", version: "0.1.0", description: "The \(name) plugin") { app in
                    let greeting = app.config("greeting") ?? "Hello from \(name)!"

                    app.get("/\(name)", summary: "A greeting") { _ in
                        .text(greeting + "\\n")
                    }

                    app.get("/\(name)/items/{item_id}", params: [itemID, q], summary: "Read an item") { req in
                        try .json(Item(item_id: try req[itemID], q: req[q]))
                    }
                }

                @_cdecl("switchboard_plugin_v1") public func entry() -> UnsafeRawPointer { plugin.entry }

                """),
            ("Tests/\(module)Tests/\(module)Tests.swift", """
                import SwitchboardTesting
                import Testing
                @testable import \(module)

                @Suite struct \(module)Tests {
                    @Test func greets() async throws {
                        let host = try TestHost(plugin, config: ["greeting": "Hi"])
                        let response = try await host.get("/\(name)")
                        #expect(response.status == 200)
                        #expect(response.text == "Hi\\n")
                    }

                    @Test func validatesItemIDs() async throws {
                        let host = try TestHost(plugin)
                        #expect(try await host.get("/\(name)/items/7?q=x").text == #"{"item_id":7,"q":"x"}"#)
                        let invalid = try await host.get("/\(name)/items/0")
                        #expect(invalid.status == 422)
                        #expect(invalid.text.contains(#""loc":["path","item_id"]"#))
                    }
                }

                """),
            (".gitignore", ".build/\nPackage.resolved\n"),
            ("README.md", """
                # \(name)

                A Switchboard plugin written in Swift on the SDK.

                    swift build -c release                       # → .build/release/lib\(module).so
                    swift test                                   # unit tests on the real host, in process (SwitchboardTesting)
                    \(host.executable) check .build/release/lib\(module).so
                    cp .build/release/lib\(module).so \(host.plugins)/   # live within milliseconds

                (`switchboard` is the binary that made this project; the directory is the one its
                README's run command serves and watches.)

                Build it with the same Swift toolchain as the host: a Swift plugin runs on the host's Swift
                runtime, and the host refuses one built by another toolchain, naming both versions.

                """),
        ]
    }

    static func c(name: String, host: Host) -> [(String, String)] {
        [
            ("Makefile", """
                # `make` builds lib\(name).so; `make check` asks switchboard whether it would load it;
                # `make install` drops it into the plugin directory of a running server (live at once).
                # SWITCHBOARD and PLUGINS name the host that made this project; override either:
                #   make install PLUGINS=/srv/switchboard/plugins
                CC ?= cc
                CFLAGS ?= -O2 -g -Wall -Wextra -std=c11
                SWITCHBOARD ?= \(host.executable)
                PLUGINS ?= \(host.plugins)
                lib\(name).so: \(name).c switchboard.h switchboard_kit.h
                \t$(CC) $(CFLAGS) -shared -fPIC -o $@ \(name).c
                check: lib\(name).so
                \t$(SWITCHBOARD) check ./lib\(name).so
                install: check
                \tcp lib\(name).so $(PLUGINS)/lib\(name).so.partial && mv $(PLUGINS)/lib\(name).so.partial $(PLUGINS)/lib\(name).so
                clean:
                \trm -f lib\(name).so
                .PHONY: check install clean

                """),
            ("\(name).c", """
                /*
                 * \(name): a Switchboard plugin in C (switchboard.h is the whole ABI; switchboard_kit.h has
                 * header-only helpers for JSON strings, HTML/XML that escapes what it is given, ETags and
                 * 304s, error bodies, event streams and route registration).
                 *
                 *   GET /\(name)                        a greeting
                 *   GET /\(name)/items/{item_id}?limit= typed parameters: the host validates them (422 in
                 *                                       FastAPI's shape) and calls a native C signature
                 */
                #include "switchboard.h"
                #include "switchboard_kit.h"

                #include <stdio.h>
                #include <string.h>

                static const sb_host_api *host;

                static sb_str str(const char *s) { sb_str out = {s, strlen(s)}; return out; }

                /* The whole response in one host call: its fields, status and body (ABI 1.8). */
                static sb_status hello(void *data, sb_request *req) {
                    static const char body[] = "Hello from \(name)!\\n";
                    sb_field fields[] = {
                        {.struct_size = sizeof(sb_field), .name = str("content-type"), .value = str("text/plain; charset=utf-8")},
                    };
                    sb_bytes bytes = {(const uint8_t *)body, sizeof body - 1};
                    (void)data;
                    return host->response_send_fields(req, 200, fields, sizeof fields / sizeof fields[0], bytes);
                }

                /* Called with one native argument per declared parameter, in order. */
                static sb_status item(void *data, sb_request *req, int64_t item_id, int64_t limit) {
                    sbk_buf body = {0};
                    sb_status status;
                    (void)data;
                    sbk_buf_printf(&body, "{\\"item_id\\":%lld,\\"limit\\":%lld}", (long long)item_id, (long long)limit);
                    status = sbk_respond(host, req, 200, "application/json", &body);
                    sbk_buf_free(&body);
                    return status;
                }

                static sb_status on_init(const sb_host_api *api, sb_plugin *plugin, void **out_state) {
                    host = api;
                    *out_state = NULL;

                    sb_route_spec greet = {.struct_size = sizeof(sb_route_spec)};
                    greet.method = str("GET");
                    greet.path = str("/\(name)");
                    greet.handler = hello;
                    greet.summary = str("A greeting");
                    if (api->route_add(plugin, &greet) != SB_OK) return SB_ERR_INVALID_ARGUMENT;

                    sb_param_spec params[2] = {{.struct_size = sizeof(sb_param_spec)}, {.struct_size = sizeof(sb_param_spec)}};
                    params[0].location = SB_PARAM_PATH, params[0].type = SB_TYPE_INT, params[0].name = str("item_id");
                    params[0].flags = SB_PARAM_REQUIRED | SB_PARAM_HAS_GE, params[0].ge = 1;
                    params[1].location = SB_PARAM_QUERY, params[1].type = SB_TYPE_INT, params[1].name = str("limit");
                    params[1].flags = SB_PARAM_HAS_DEFAULT | SB_PARAM_HAS_GE | SB_PARAM_HAS_LE, params[1].ge = 1, params[1].le = 100;
                    params[1].default_value = str("10");

                    sb_route_spec items = {.struct_size = sizeof(sb_route_spec)};
                    items.method = str("GET");
                    items.path = str("/\(name)/items/{item_id}");
                    items.typed_handler = (sb_typed_handler_fn)item;
                    items.summary = str("Read an item");
                    items.params = params;
                    items.param_count = 2;
                    return api->route_add(plugin, &items) == SB_OK ? SB_OK : SB_ERR_INVALID_ARGUMENT;
                }

                static const sb_plugin_descriptor descriptor = {
                    sizeof(sb_plugin_descriptor), SB_PLUGIN_MAGIC, SB_ABI_MAJOR, SB_ABI_MINOR, 0,
                    "\(name)", "0.1.0", "The \(name) plugin", on_init, NULL,
                };

                const sb_plugin_descriptor *switchboard_plugin_v1(void) { return &descriptor; }

                """),
            (".gitignore", "*.so\n"),
            ("README.md", """
                # \(name)

                A Switchboard plugin in C. `switchboard.h` is a copy of the host's ABI header, and
                `switchboard_kit.h` of its header-only helpers (a growable buffer, JSON strings, HTML and XML
                escaping with a markup printf and an XML writer, HTTP dates, ETag/304 responses, FastAPI-shaped
                error bodies, event-stream framing, `sbk_route`).

                    make                                  # → lib\(name).so
                    make check                            # would the host load it? (switchboard check)
                    make install                          # into \(host.plugins): live within milliseconds

                """),
        ]
    }
}
