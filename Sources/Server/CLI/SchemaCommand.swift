import Access
import ArgumentParser
import Foundation
import Store
import SwitchboardCore
import Yams

struct SchemaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema", abstract: "Schema snapshots, like `directus schema`.",
        subcommands: [Snapshot.self, Apply.self])

    struct Snapshot: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the schema as YAML (to stdout, or to PATH).")

        @Argument(help: "File to write; stdout when omitted.") var path: String?
        @Flag(name: .shortAndLong, help: "Overwrite PATH without asking.") var yes = false

        func run() async throws {
            let services = try await CommandEnvironment.services(label: "switchboard.schema")
            let snapshot = SchemaSnapshot.make(services.store)
            let yaml = try YAMLConversion.dump(.object(snapshot))
            if let path {
                try yaml.write(toFile: path, atomically: true, encoding: .utf8)
                CommandEnvironment.print("Snapshot written to \(path)")
            } else {
                FileHandle.standardOutput.write(Data(yaml.utf8))
            }
            await services.store.database.close()
        }
    }

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add the collections, fields, relations, policies and permissions of a snapshot that are missing.")

        @Argument(help: "Snapshot file (YAML or JSON).") var path: String
        @Flag(name: .shortAndLong, help: "Apply without asking (accepted for compatibility; never asks).") var yes = false

        func run() async throws {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                FileHandle.standardError.write(Data("switchboard: cannot read \(path): \(error.localizedDescription)\n".utf8))
                throw ExitCode(66)
            }
            let document: JSONValue
            do { document = try YAMLConversion.load(text) } catch {
                FileHandle.standardError.write(Data("switchboard: \(path) is not valid YAML: \(error)\n".utf8))
                throw ExitCode(65)
            }
            guard case .object(let snapshot) = document else {
                FileHandle.standardError.write(Data("switchboard: \(path) must hold a mapping\n".utf8))
                throw ExitCode(65)
            }
            let services = try await CommandEnvironment.services(label: "switchboard.schema")
            _ = try await services.bootstrap()
            do {
                let summary = try await SchemaSnapshot.apply(snapshot, to: services.store)
                CommandEnvironment.print(summary.description)
            } catch let error as SwitchboardError {
                FileHandle.standardError.write(Data("switchboard: schema apply failed: \(error.message)\n".utf8))
                throw ExitCode(1)
            }
            await services.store.database.close()
        }
    }
}

/// JSON ↔ YAML through Yams' node tree (keeps key order).
enum YAMLConversion {
    static func load(_ text: String) throws -> JSONValue {
        guard let node = try Yams.compose(yaml: text) else { return .null }
        return json(node)
    }

    static func json(_ node: Node) -> JSONValue {
        switch node {
        case .scalar(let scalar):
            if scalar.style == .singleQuoted || scalar.style == .doubleQuoted { return .string(scalar.string) }
            if let b = Bool.construct(from: scalar) { return .bool(b) }
            if let i = Int.construct(from: scalar) { return .int(Int64(i)) }
            if let d = Double.construct(from: scalar) { return .double(d) }
            if scalar.string == "null" || scalar.string == "~" || scalar.string.isEmpty { return .null }
            return .string(scalar.string)
        case .mapping(let mapping):
            return .object(JSONObject(mapping.map { (k, v) in (k.string ?? "", json(v)) }))
        case .sequence(let sequence):
            return .array(sequence.map(json))
        case .alias:
            return .null
        }
    }

    static func dump(_ value: JSONValue) throws -> String {
        try Yams.serialize(node: node(value), sortKeys: false)
    }

    static func node(_ value: JSONValue) -> Node {
        switch value {
        case .null: return Node("null", Tag(.null))
        case .bool(let b): return Node(b ? "true" : "false", Tag(.bool))
        case .int(let i): return Node(String(i), Tag(.int))
        case .double(let d): return Node(JSONWriter.formatDouble(d), Tag(.float))
        case .string(let s): return Node(s, Tag(.str), s.isEmpty || Self.needsQuotes(s) ? .doubleQuoted : .plain)
        case .array(let a): return Node(a.map(node))
        case .object(let o): return Node(o.map { (Node($0.key), node($0.value)) })
        }
    }

    /// Strings YAML would read back as another type.
    private static func needsQuotes(_ s: String) -> Bool {
        let lowered = s.lowercased()
        if ["true", "false", "null", "yes", "no", "on", "off", "~"].contains(lowered) { return true }
        if Double(s) != nil { return true }
        return s.first.map { "!&*-?:,[]{}#|>@`'\"%$ ".contains($0) } ?? false || s.contains(": ") || s.contains(" #")
    }
}
