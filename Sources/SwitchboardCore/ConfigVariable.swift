/// One configuration variable, declared once: its name, section, meaning and
/// how it is read into `SwitchboardConfig`. Its default lives only in the
/// field's initial value; `documentedDefault` renders it from there, so
/// loading, `.env.example`, `switchboard env-example` and the README table
/// all come from this one declaration (`SwitchboardConfig.variables`).
public struct ConfigVariable: Sendable {
    public enum Section: String, Sendable, CaseIterable {
        case server = "Server"
        case security = "Security"
        case database = "Database"
        case admin = "First admin"
        case logging = "Logging"
        case cors = "CORS"
        case queries = "Requests and queries"
        case realtime = "Realtime"
        case metrics = "Metrics"
        case outbox = "Outbox (Switchboard)"
        case cluster = "Cluster: messenger and Redis"
        case testing = "Testing"
    }

    public let name: String
    /// Older names read the same way (Directus 10's, where Directus 11 renamed a setting).
    public let aliases: [String]
    public let section: Section
    /// What it means, one or two sentences (valid values and units included).
    public let summary: String
    let read: @Sendable (inout SwitchboardConfig, EnvironmentReader) throws(ConfigError) -> Void
    let render: @Sendable (SwitchboardConfig) -> String

    init(
        _ name: String, _ section: Section, _ summary: String,
        read: @escaping @Sendable (inout SwitchboardConfig, EnvironmentReader) throws(ConfigError) -> Void,
        render: @escaping @Sendable (SwitchboardConfig) -> String
    ) {
        self.name = name
        self.aliases = []
        self.section = section
        self.summary = summary
        self.read = read
        self.render = render
    }

    private init(_ variable: ConfigVariable, aliases: [String]) {
        self.name = variable.name
        self.aliases = aliases
        self.section = variable.section
        self.summary = variable.summary
        self.read = variable.read
        self.render = variable.render
    }

    /// The same variable, also read under `names` when its own name is unset.
    func alias(_ names: String...) -> ConfigVariable { ConfigVariable(self, aliases: aliases + names) }

    /// The default as documentation shows it; empty means "unset".
    public var documentedDefault: String { render(SwitchboardConfig.defaults) }

    /// Reads this variable into `config`. An alias stands in for an unset name; the name and an
    /// alias set to different values contradict each other.
    func load(into config: inout SwitchboardConfig, from env: EnvironmentReader) throws(ConfigError) {
        var effective = env
        var source = name
        for alias in aliases {
            guard let value = env.string(alias) else { continue }
            if let current = effective.string(source) {
                guard current == value else {
                    throw ConfigError(
                        conflict: source, alias,
                        message: "\(source)=\(current) and \(alias)=\(value) name the same setting; set one of them")
                }
                continue
            }
            var environment = env.environment
            environment[name] = env.environment[alias]
            effective = EnvironmentReader(environment)
            source = alias
        }
        do {
            try read(&config, effective)
        } catch {
            // A bad value read through an alias is reported under the name the operator wrote.
            guard source != name, error.variable == name else { throw error }
            throw ConfigError(variable: source, message: error.message)
        }
    }

    // MARK: Builders

    typealias Field<Value> = any WritableKeyPath<SwitchboardConfig, Value> & Sendable

    static func string(
        _ name: String, _ field: Field<String>, _ section: Section, _ summary: String,
        validate: (@Sendable (String) -> String?)? = nil
    ) -> ConfigVariable {
        ConfigVariable(
            name, section, summary,
            read: { c, env throws(ConfigError) in
                guard let value = env.string(name) else { return }
                if let problem = validate?(value) { throw ConfigError(variable: name, message: problem) }
                c[keyPath: field] = value
            }, render: { $0[keyPath: field] })
    }

    /// `raw`: kept exactly as given (passwords, where spaces may matter).
    static func optional(
        _ name: String, _ field: Field<String?>, _ section: Section, _ summary: String, raw: Bool = false
    ) -> ConfigVariable {
        ConfigVariable(
            name, section, summary,
            read: { c, env in c[keyPath: field] = raw ? env.rawString(name) : env.string(name) },
            render: { $0[keyPath: field] ?? "" })
    }

    static func int(
        _ name: String, _ field: Field<Int>, _ section: Section, _ summary: String, in range: ClosedRange<Int>
    ) -> ConfigVariable {
        ConfigVariable(
            name, section, summary,
            read: { c, env throws(ConfigError) in c[keyPath: field] = try env.int(name, default: c[keyPath: field], in: range) },
            render: { String($0[keyPath: field]) })
    }

    /// A positive number or "no limit" (`Infinity`, `-1`).
    static func limit(_ name: String, _ field: Field<Int?>, _ section: Section, _ summary: String) -> ConfigVariable {
        ConfigVariable(
            name, section, summary,
            read: { c, env throws(ConfigError) in c[keyPath: field] = try env.limit(name, default: c[keyPath: field]) },
            render: { $0[keyPath: field].map(String.init) ?? "Infinity" })
    }

    static func port(_ name: String, _ field: Field<Int>, _ section: Section, _ summary: String) -> ConfigVariable {
        ConfigVariable(
            name, section, summary,
            read: { c, env throws(ConfigError) in c[keyPath: field] = try env.port(name, default: c[keyPath: field]) },
            render: { String($0[keyPath: field]) })
    }

    static func optionalPort(_ name: String, _ field: Field<Int?>, _ section: Section, _ summary: String) -> ConfigVariable {
        ConfigVariable(
            name, section, summary,
            read: { c, env throws(ConfigError) in c[keyPath: field] = try env.optionalPort(name) },
            render: { $0[keyPath: field].map(String.init) ?? "" })
    }

    /// `nil` when unset: the setting takes no stand, and others decide.
    static func optionalBool(_ name: String, _ field: Field<Bool?>, _ section: Section, _ summary: String) -> ConfigVariable {
        ConfigVariable(
            name, section, summary,
            read: { c, env throws(ConfigError) in
                c[keyPath: field] = env.string(name) == nil ? nil : try env.bool(name, default: false)
            },
            render: { $0[keyPath: field].map { $0 ? "true" : "false" } ?? "" })
    }

    /// `nil` when unset: the setting takes no stand, and others decide.
    static func optionalChoice<T: RawRepresentable & CaseIterable & Sendable>(
        _ name: String, _ field: Field<T?>, _ section: Section, _ summary: String
    ) -> ConfigVariable where T.RawValue == String {
        ConfigVariable(
            name, section, summary,
            read: { c, env throws(ConfigError) in
                guard let first = T.allCases.first else { return }
                c[keyPath: field] = env.string(name) == nil ? nil : try env.choice(name, default: first)
            }, render: { $0[keyPath: field]?.rawValue ?? "" })
    }

    static func bool(_ name: String, _ field: Field<Bool>, _ section: Section, _ summary: String) -> ConfigVariable {
        ConfigVariable(
            name, section, summary,
            read: { c, env throws(ConfigError) in c[keyPath: field] = try env.bool(name, default: c[keyPath: field]) },
            render: { $0[keyPath: field] ? "true" : "false" })
    }

    static func choice<T: RawRepresentable & CaseIterable & Sendable>(
        _ name: String, _ field: Field<T>, _ section: Section, _ summary: String, aliases: [String: T] = [:]
    ) -> ConfigVariable where T.RawValue == String {
        ConfigVariable(
            name, section, summary,
            read: { c, env throws(ConfigError) in
                c[keyPath: field] = try env.choice(name, default: c[keyPath: field], aliases: aliases)
            }, render: { $0[keyPath: field].rawValue })
    }

    static func choice(
        _ name: String, _ field: Field<String>, _ section: Section, _ summary: String, allowed: [String]
    ) -> ConfigVariable {
        ConfigVariable(
            name, section, summary,
            read: { c, env throws(ConfigError) in
                c[keyPath: field] = try env.choice(name, default: c[keyPath: field], allowed: allowed)
            }, render: { $0[keyPath: field] })
    }

    /// How a duration's default is written: `15m` style, or a bare number of milliseconds
    /// (for names that say so, such as Directus's `…_MILLIS` and ioredis's timeouts).
    enum DurationStyle: Sendable { case units, milliseconds }

    /// A positive duration, stored in milliseconds. `allowZero`: 0 means "none".
    static func duration(
        _ name: String, _ field: Field<Int64>, _ section: Section, _ summary: String, style: DurationStyle = .units,
        allowZero: Bool = false
    ) -> ConfigVariable {
        ConfigVariable(
            name, section, summary,
            read: { c, env throws(ConfigError) in
                c[keyPath: field] = try env.durationMilliseconds(name, default: c[keyPath: field], allowZero: allowZero)
            },
            render: { c in
                let ms = c[keyPath: field]
                return style == .milliseconds ? String(ms) : DurationParser.format(milliseconds: ms)
            })
    }

    /// A whole number of seconds (Directus's realtime settings are plain seconds).
    static func seconds(
        _ name: String, _ field: Field<Int>, _ section: Section, _ summary: String
    ) -> ConfigVariable {
        int(name, field, section, summary, in: 1...Int.max)
    }

    static func size(_ name: String, _ field: Field<Int>, _ section: Section, _ summary: String) -> ConfigVariable {
        ConfigVariable(
            name, section, summary,
            read: { c, env throws(ConfigError) in c[keyPath: field] = try env.size(name, default: c[keyPath: field]) },
            render: { ByteSize.format($0[keyPath: field]) })
    }

    static func list(
        _ name: String, _ field: Field<[String]>, _ section: Section, _ summary: String,
        transform: @escaping @Sendable (String) -> String = { $0 }
    ) -> ConfigVariable {
        ConfigVariable(
            name, section, summary,
            read: { c, env in c[keyPath: field] = env.list(name, default: c[keyPath: field]).map(transform) },
            render: { $0[keyPath: field].joined(separator: ",") })
    }
}
