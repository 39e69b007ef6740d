import Foundation
import Testing

/// The media plugin (issue #16): the chapter's dynamic PNG drawn by FreeType and written by
/// libpng, decoded here by an independent decoder (Pillow); bounds as 422s; validators, 304 and
/// the cache; the binary download beside the streaming plugin's /download/{filename}; a missing
/// font refused with a message that says what to do.
@Suite struct MediaTests {
    static func server(plugins: [String] = ["Media"], environment: [String: String] = [:]) throws -> ServerProcess {
        try ServerProcess(
            pluginDirectories: [Fixtures.pluginDirectory("media", files: plugins.map(TestPaths.plugin))], environment: environment)
    }

    /// Pillow's verdict on a PNG: runs `checks` (Python, with `im` the decoded image, `px` its
    /// pixels) and expects "ok".
    static func pillow(_ png: [UInt8], _ checks: String) async throws {
        guard let python = ExternalTool.parsersPython.require(for: "decoding the PNG with Pillow") else { return }
        let path = TestPaths.temporaryDirectory("media") + "/image.png"
        try Data(png).write(to: URL(fileURLWithPath: path))
        let program = """
            import sys
            from PIL import Image
            im = Image.open(sys.argv[1]); im.load(); px = im.load()
            W, H = im.size
            def bright(x, y): return sum(px[x, y]) > 600
            BG = (73, 109, 137); WHITE = (255, 255, 255)
            \(checks)
            print('ok')
            """
        let (status, output) = try await ScaffoldTests.run(python, ["-c", program, path], in: TestPaths.repositoryRoot)
        #expect(status == 0 && output.contains("ok"), "\(output)")
    }

    static let frame = """
        assert im.format == 'PNG' and im.mode == 'RGB', (im.format, im.mode)
        for (x, y) in [(0, 0), (1, 1), (W - 1, H - 1), (W - 2, H - 2), (W // 2, 0), (W // 2, 1), (0, H // 2), (W - 1, H // 2), (W // 2, H - 1)]:
            assert px[x, y] == WHITE, ('border', x, y, px[x, y])
        for (x, y) in [(2, 2), (W - 3, 2), (2, H - 3), (W - 3, H - 3)]:
            assert px[x, y] == BG, ('background', x, y, px[x, y])
        """

    @Test func theDefaultImageIsDrawnAsTheChapterDescribes() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let response = try server.get("/image/dynamic")
        #expect(response.status == 200 && response.header("content-type") == "image/png")
        #expect(response.header("cache-control") == "public, max-age=3600")
        #expect(response.header("server-timing")?.hasPrefix("render;dur=") == true)
        try await Self.pillow(response.body, Self.frame + "\n" + """
            assert (W, H) == (400, 200), im.size
            centre = sum(bright(x, y) for x in range(140, 260) for y in range(80, 120))
            assert centre > 100, centre
            assert not any(bright(x, y) for x in range(10, 120) for y in range(10, 60)), 'text far from the centre'
            # Centred as anchor "mm": the text's white pixels balance left and right of the middle.
            cols = [x for x in range(2, W - 2) for y in range(2, H - 2) if bright(x, y)]
            assert abs((min(cols) + max(cols)) / 2 - W / 2) < 6, (min(cols), max(cols))
            rows = [y for x in range(2, W - 2) for y in range(2, H - 2) if bright(x, y)]
            assert 70 < min(rows) < 100 and 100 < max(rows) < 125, (min(rows), max(rows))
            """)
    }

    @Test func anyTextAndSizeDrawsNeverFails() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let unicode = "Ünïcødé ✓ Ωμέγα Кириллица 日本 😀 \u{202E}rtl\u{0301}"
        let long = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 5).prefix(200)
        let cases: [(String, Int, Int)] = [(unicode, 400, 200), (String(long), 400, 200), ("x", 1, 1), ("tiny", 3, 3), ("", 400, 200), ("wide", 4096, 8)]
        for (text, width, height) in cases {
            let query = "/image/dynamic?width=\(width)&height=\(height)&text=" + (text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
            let response = try server.get(query)
            #expect(response.status == 200, "\(text.prefix(20)) \(width)x\(height): \(response.status) \(response.text.prefix(200))")
            try await Self.pillow(response.body, "assert (W, H) == (\(width), \(height)), im.size")
        }
        let wide = try server.get("/image/dynamic?text=" + (String(long).addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
        try await Self.pillow(wide.body, Self.frame + "\n" + """
            cols = [x for x in range(2, W - 2) for y in range(2, H - 2) if bright(x, y)]
            assert min(cols) < 40 and max(cols) > W - 40, ('a long text is set smaller to fit the width', min(cols), max(cols))
            """)
        let big = try server.get("/image/dynamic?width=4096&height=4096")
        #expect(big.status == 200)
        try await Self.pillow(big.body, Self.frame + "\nassert (W, H) == (4096, 4096)")
    }

    @Test func boundsAreDeclaredAndAnsweredAsFastAPIDoes() throws {
        let server = try Self.server()
        defer { server.stop() }
        for (query, name) in [("width=0", "width"), ("width=-1", "width"), ("width=4097", "width"), ("height=0", "height"), ("height=99999", "height"),
                              ("width=abc", "width"), ("text=" + String(repeating: "a", count: 201), "text")] {
            let response = try server.get("/image/dynamic?" + query)
            #expect(response.status == 422, "\(query): \(response.status)")
            let body = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
            let loc = ((body?["detail"] as? [[String: Any]])?.first?["loc"] as? [String]) ?? []
            #expect(loc == ["query", name], "\(query): \(response.text)")
        }
    }

    @Test func identicalRequestsAreCachedAndRevalidated() throws {
        let server = try Self.server()
        defer { server.stop() }
        let first = try server.get("/image/dynamic?text=cache")
        let tag = try #require(first.header("etag"))
        let second = try server.get("/image/dynamic?text=cache")
        #expect(second.body == first.body && second.header("etag") == tag)
        #expect(second.header("server-timing") == nil, "served from the cache: nothing drawn")
        let revalidated = try server.get("/image/dynamic?text=cache", headers: [("If-None-Match", tag)])
        #expect(revalidated.status == 304 && revalidated.body.isEmpty && revalidated.header("etag") == tag)
        #expect(try server.get("/image/dynamic?text=other").header("etag") != tag)
        let uncached = try Self.server(environment: ["SWITCHBOARD_PLUGINS_CONFIG_MEDIA_CACHE_BYTES": "0"])
        defer { uncached.stop() }
        _ = try uncached.get("/image/dynamic?text=cache")
        let again = try uncached.get("/image/dynamic?text=cache")
        #expect(again.header("server-timing") != nil && again.header("etag") == tag, "the tag names the image, not the cache")
    }

    @Test func theBinaryDownloadWinsOverTheStreamingPluginsFileRoute() throws {
        let server = try Self.server(
            plugins: ["Media", "Streaming"], environment: ["SWITCHBOARD_PLUGINS_CONFIG_STREAMING_FILES_DIRECTORY": try StreamingTests.fixtures()])
        defer { server.stop() }
        let response = try server.get("/download/binary")
        #expect(response.status == 200 && response.body == (0..<1024).map { UInt8($0 % 256) })
        #expect(response.header("content-type") == "application/octet-stream")
        #expect(response.header("content-disposition") == "attachment; filename=data.bin")
        #expect(response.header("content-length") == "1024")
        let file = try server.get("/download/hello.txt")
        #expect(file.status == 200 && file.text == "Hello, World!\n", "the streaming plugin's route still answers beside it")
    }

    @Test func aMissingFontIsRefusedWithWhatToDo() throws {
        let server = try Self.server(environment: ["SWITCHBOARD_PLUGINS_CONFIG_MEDIA_FONT": "/nonexistent/font.ttf"])
        defer { server.stop() }
        #expect(waitUntil(timeout: 10) { server.log.contains("font not found") }, "\(server.log.suffix(2000))")
        #expect(server.log.contains("/nonexistent/font.ttf") && server.log.contains("fonts-dejavu-core"))
        #expect(try server.get("/image/dynamic").status == 404)
    }
}
