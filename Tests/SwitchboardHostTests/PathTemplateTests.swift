import Testing
@testable import SwitchboardHost
import SwitchboardRouting
import SwitchboardSDK

@Suite struct PathTemplateTests {
    @Test func parsesLiteralsAndParameters() throws {
        let template = try PathTemplate("/items/{item_id}/tags/{tag}")
        #expect(template.segments == [.literal("items"), .parameter("item_id"), .literal("tags"), .parameter("tag")])
        #expect(template.parameterNames == ["item_id", "tag"])
        #expect(try PathTemplate("/").segments.isEmpty)
    }

    @Test func equivalentTemplatesShareAShape() throws {
        #expect(try PathTemplate("/items/{id}").shape == PathTemplate("/items/{item_id}").shape)
        #expect(try PathTemplate("/items/{id}").shape != PathTemplate("/items/special").shape)
    }

    @Test(arguments: [
        ("items", "must start with"),
        ("/items/", "empty segment"),
        ("//items", "empty segment"),
        ("/items/{id", "must be \"{name}\""),
        ("/items/x{id}", "mixes text and a parameter"),
        ("/items/{1d}", "must match"),
        ("/a/{id}/b/{id}", "appears twice"),
        ("/items?x=1", "without query"),
        ("/caf%C3%A9", "percent-encoded"),
        ("/a b", "space or control"),
    ])
    func refusesInvalidTemplates(text: String, reason: String) {
        #expect {
            try PathTemplate(text)
        } throws: { error in
            "\(error)".contains(reason) && "\(error)".contains(text)
        }
    }

    @Test func decodesPercentEscapes() {
        #expect("caf%C3%A9%20x"[...].percentDecoded() == "café x")
        #expect("a+b"[...].percentDecoded(plusIsSpace: true) == "a b")
        #expect("%zz"[...].percentDecoded() == nil)
        #expect("%FF"[...].percentDecoded() == nil)
    }
}
