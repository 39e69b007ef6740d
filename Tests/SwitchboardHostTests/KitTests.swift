import Foundation
import Testing

/// switchboard_kit.h, the C plugins' helpers: its own checks (Tests/Fixtures/kit_test.c), built
/// strictly and with AddressSanitizer and UndefinedBehaviorSanitizer, then run.
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
        let (status, output) = try await ScaffoldTests.run(out, [], in: TestPaths.repositoryRoot)
        #expect(status == 0 && output.contains("ok: switchboard_kit.h"), "\(output)")
    }
}
