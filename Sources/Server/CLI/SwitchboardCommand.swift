import Access
import ArgumentParser
import Foundation
import Logging
import NIOCore
import Store
import SwitchboardCore

@main
struct SwitchboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "A realtime data server speaking the Directus REST and Realtime protocols.",
        version: Services.version,
        subcommands: [ServeCommand.self, BootstrapCommand.self, SchemaCommand.self, UsersCommand.self, EnvExampleCommand.self],
        defaultSubcommand: ServeCommand.self)
}

/// Configuration from the environment and `./.env`; a bad value ends the
/// process with a message naming the variable.
enum CommandEnvironment {
    static func config() throws -> SwitchboardConfig {
        do {
            let env = try SwitchboardConfig.mergedEnvironment(
                processEnvironment: ProcessInfo.processInfo.environment, dotEnvPath: ".env")
            return try SwitchboardConfig.load(environment: env)
        } catch {
            FileHandle.standardError.write(Data("switchboard: \(error)\n".utf8))
            throw ExitCode(78)
        }
    }

    /// Config, logging and services, as every command needs them.
    static func services(label: String) async throws -> Services {
        let config = try config()
        // Before anything starts the event loops: the count is NIO's to take once.
        if config.eventLoops > 0 { NIOSingletons.groupLoopCountSuggestion = config.eventLoops }
        let logStream = LogSetup.bootstrap(config)
        let logger = Logger(label: label)
        do {
            return try await Services.make(config: config, logger: logger, logStream: logStream)
        } catch {
            FileHandle.standardError.write(Data("switchboard: cannot start: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }

    static func print(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}

struct BootstrapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bootstrap", abstract: "Create the tables, the public policy and the first admin (idempotent).")

    func run() async throws {
        let services = try await CommandEnvironment.services(label: "switchboard.bootstrap")
        let report = try await services.bootstrap()
        if let email = report.adminEmail {
            CommandEnvironment.print("Created admin user: \(email)")
            if let password = report.generatedPassword {
                CommandEnvironment.print("Generated admin password: \(password)")
                CommandEnvironment.print("(shown once; set ADMIN_PASSWORD to choose your own)")
            }
        } else {
            CommandEnvironment.print("Database already bootstrapped; tables are up to date.")
        }
        await services.store.database.close()
    }
}

struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users", abstract: "Manage users.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a user; prints its id.")

        @Option(help: "Email address (used to log in).") var email: String
        @Option(help: "Password.") var password: String
        @Option(help: "Role id or role name.") var role: String?

        func run() async throws {
            let services = try await CommandEnvironment.services(label: "switchboard.users")
            _ = try await services.bootstrap()
            var user: JSONObject = ["email": .string(email), "password": .string(password), "status": "active"]
            if let role {
                let rows = try await services.store.database.read { db in
                    try await db.query("SELECT id FROM directus_roles WHERE id = ? OR name = ?", [.text(role), .text(role)])
                }
                guard let id = rows.first?["id"].text else {
                    FileHandle.standardError.write(Data("switchboard: no role with id or name \"\(role)\"\n".utf8))
                    throw ExitCode(1)
                }
                user["role"] = .string(id)
            }
            do {
                let keys = try await services.store.createItems("directus_users", [user], context: .system)
                CommandEnvironment.print(keys.first?.textValue ?? "")
            } catch let error as SwitchboardError {
                FileHandle.standardError.write(Data("switchboard: \(error.message)\n".utf8))
                throw ExitCode(1)
            }
            await services.store.database.close()
        }
    }
}

/// Prints every configuration variable with its default (the source of `.env.example`
/// and, with `--markdown`, of the README's table).
struct EnvExampleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "env-example", abstract: "Print every configuration variable with its default, as a .env file.")

    @Flag(help: "Print the README's Markdown table instead.") var markdown = false

    func run() {
        let text = markdown ? SwitchboardConfig.markdownTable() : SwitchboardConfig.envExample()
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
