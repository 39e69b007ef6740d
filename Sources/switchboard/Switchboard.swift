import ArgumentParser
import SwitchboardHost

@main
struct Switchboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "A plugin-hosted HTTP server: handlers are shared libraries loaded at run time.",
        version: SwitchboardServer.version,
        subcommands: [Serve.self, Check.self, New.self],
        defaultSubcommand: Serve.self
    )
}
