import Foundation
import Testing

/// switchboard_kit.h, the C plugins' helpers: its own checks (Tests/Fixtures/kit_test.c), built
/// strictly and with AddressSanitizer and UndefinedBehaviorSanitizer, then run; the XML document
/// it writes from hostile strings is parsed by xmllint.
@Suite struct KitTests {
    @Test(arguments: [["-O1"], ["-O0", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]])
    func theHelpersPassTheirOwnChecks(flags: [String]) async throws {
        let out = TestPaths.temporaryDirectory("kit") + "/kit_test"
        let (built, log) = try await ScaffoldTests.run(
            "/usr/bin/env",
            ["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"] + flags
                + ["-I", TestPaths.repositoryRoot + "/Sources/CSwitchboard/include", "-o", out, TestPaths.repositoryRoot + "/Tests/Fixtures/kit_test.c"],
            in: TestPaths.repositoryRoot)
        #expect(built == 0, "cc failed:\n\(log)")
        guard built == 0 else { return }
        let document = out + ".xml"
        let (status, output) = try await ScaffoldTests.run(out, [document], in: TestPaths.repositoryRoot)
        #expect(status == 0 && output.contains("ok: switchboard_kit.h"), "\(output)")
        // Every markup writer fed every hostile string: a real XML parser must accept the result.
        guard status == 0, let xmllint = ExternalTool.xmllint.require(for: "the kit's hostile XML document") else { return }
        let (parsed, errors) = try await ScaffoldTests.run(xmllint, ["--noout", document], in: TestPaths.repositoryRoot)
        #expect(parsed == 0, "xmllint: \(errors)")
    }
}
