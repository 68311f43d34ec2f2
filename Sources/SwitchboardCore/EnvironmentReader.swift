#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// A configuration problem, naming the environment variable (or `.env` file)
/// at fault so the operator can fix it.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The variable whose value is wrong, or the path of a malformed `.env` file.
    public let variable: String
    /// What is wrong, quoting the offending value.
    public let message: String
    /// The 1-based line of the `.env` file for file errors, `nil` for variables.
    public let line: Int?
    /// The second variable of two whose settings contradict each other, if this is such an error.
    public let conflictingVariable: String?

    /// An error about the value of `variable`.
    public init(variable: String, message: String) {
        self.variable = variable
        self.message = message
        self.line = nil
        self.conflictingVariable = nil
    }

    /// An error in the `.env` file at `path` (at `line` when known).
    public init(file path: String, line: Int?, message: String) {
        self.variable = path
        self.message = message
        self.line = line
        self.conflictingVariable = nil
    }

    /// Two variables whose values contradict each other; `message` says how.
    public init(conflict variable: String, _ other: String, message: String) {
        self.variable = variable
        self.message = message
        self.line = nil
        self.conflictingVariable = other
    }

    /// `Invalid value for PORT: "abc" is not a port number (1-65535)`,
    /// `Invalid .env file ./.env, line 3: expected KEY=value` for file errors, or
    /// `Conflicting settings MESSENGER_STORE and REDIS_ENABLED: …` for contradictions.
    public var description: String {
        if let line { return "Invalid .env file \(variable), line \(line): \(message)" }
        if let other = conflictingVariable { return "Conflicting settings \(variable) and \(other): \(message)" }
        if variable.isEmpty { return message }
        return "Invalid value for \(variable): \(message)"
    }
}

/// Reads typed settings from an environment dictionary, and parses `.env` files.
///
/// Every accessor treats a missing, empty or all-whitespace value as "not
/// set" and returns the default; a value that is set but wrong throws a
/// `ConfigError` naming the variable.
public struct EnvironmentReader: Sendable {
    /// The merged environment being read.
    public let environment: [String: String]

    /// Wraps an environment dictionary.
    public init(_ environment: [String: String]) {
        self.environment = environment
    }

    // MARK: Typed accessors

    /// The trimmed value of `name`, or `nil` when unset or blank.
    public func string(_ name: String) -> String? {
        guard let raw = environment[name] else { return nil }
        let trimmed = DurationParser.trim(raw)
        return trimmed.isEmpty ? nil : String(trimmed)
    }

    /// The value of `name` exactly as given (not trimmed), or `nil` when unset
    /// or empty. For secrets and passwords, where spaces may be meaningful.
    public func rawString(_ name: String) -> String? {
        guard let raw = environment[name], !raw.isEmpty else { return nil }
        return raw
    }

    /// A boolean: `true`/`false`, `1`/`0`, `yes`/`no`, case-insensitively.
    public func bool(_ name: String, default defaultValue: Bool) throws(ConfigError) -> Bool {
        guard let value = string(name) else { return defaultValue }
        switch value.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default:
            throw ConfigError(variable: name, message: "\(quoted(value)) is not a boolean (true/false, 1/0, yes/no)")
        }
    }

    /// A whole number within `range`.
    public func int(_ name: String, default defaultValue: Int, in range: ClosedRange<Int> = Int.min...Int.max)
        throws(ConfigError) -> Int
    {
        guard let value = string(name) else { return defaultValue }
        guard let number = Int(value) else {
            throw ConfigError(variable: name, message: "\(quoted(value)) is not a whole number")
        }
        guard range.contains(number) else {
            throw ConfigError(variable: name, message: "\(quoted(value)) is out of range (\(describe(range)))")
        }
        return number
    }

    /// A positive whole number, or `nil` for "no limit" (`Infinity`, `-1`, or unset when the default is `nil`).
    public func limit(_ name: String, default defaultValue: Int?) throws(ConfigError) -> Int? {
        guard let value = string(name) else { return defaultValue }
        if value.lowercased() == "infinity" || value == "-1" { return nil }
        guard let number = Int(value), number > 0 else {
            throw ConfigError(
                variable: name,
                message: "\(quoted(value)) is not a positive whole number (use Infinity or -1 for no limit)"
            )
        }
        return number
    }

    /// A TCP port number (1-65535).
    public func port(_ name: String, default defaultValue: Int) throws(ConfigError) -> Int {
        guard let value = string(name) else { return defaultValue }
        guard let number = Int(value), (1...65535).contains(number) else {
            throw ConfigError(variable: name, message: "\(quoted(value)) is not a port number (1-65535)")
        }
        return number
    }

    /// An optional TCP port number (1-65535).
    public func optionalPort(_ name: String) throws(ConfigError) -> Int? {
        guard string(name) != nil else { return nil }
        return try port(name, default: 0)
    }

    /// A positive duration in milliseconds, in `ms` syntax (`15m`, `7d`, `500`);
    /// with `allowZero`, `0` is accepted too (meaning "none").
    public func durationMilliseconds(_ name: String, default defaultValue: Int64, allowZero: Bool = false)
        throws(ConfigError) -> Int64
    {
        guard let value = string(name) else { return defaultValue }
        guard let ms = DurationParser.milliseconds(from: value) else {
            throw ConfigError(
                variable: name,
                message: "\(quoted(value)) is not a duration (e.g. 500ms, 30s, 15m, 1h, 7d; a bare number is milliseconds)"
            )
        }
        guard ms > 0 || (allowZero && ms == 0) else {
            throw ConfigError(
                variable: name, message: "\(quoted(value)) must be a positive duration\(allowZero ? " (or 0 for none)" : "")")
        }
        return ms
    }

    /// A positive size in bytes, in `bytes` syntax (`1mb`, `100kb`, `2048`).
    public func size(_ name: String, default defaultValue: Int) throws(ConfigError) -> Int {
        guard let value = string(name) else { return defaultValue }
        guard let bytes = ByteSize.bytes(from: value) else {
            throw ConfigError(
                variable: name,
                message: "\(quoted(value)) is not a size (e.g. 100kb, 1mb, 1gb; a bare number is bytes)"
            )
        }
        guard bytes > 0 else {
            throw ConfigError(variable: name, message: "\(quoted(value)) must be a positive size")
        }
        return bytes
    }

    /// One of the raw values of `T`, matched case-insensitively; `aliases`
    /// maps extra (lowercase) spellings to cases.
    public func choice<T: RawRepresentable>(
        _ name: String, default defaultValue: T, aliases: [String: T] = [:]
    ) throws(ConfigError) -> T where T: CaseIterable, T.RawValue == String {
        guard let value = string(name) else { return defaultValue }
        let lowered = value.lowercased()
        if let alias = aliases[lowered] { return alias }
        if let match = T.allCases.first(where: { $0.rawValue.lowercased() == lowered }) { return match }
        let allowed = (T.allCases.map(\.rawValue) + aliases.keys.sorted()).joined(separator: ", ")
        throw ConfigError(variable: name, message: "\(quoted(value)) is not one of: \(allowed)")
    }

    /// One of `allowed` (lowercase spellings), returned lowercased.
    public func choice(_ name: String, default defaultValue: String, allowed: [String]) throws(ConfigError) -> String {
        guard let value = string(name) else { return defaultValue }
        let lowered = value.lowercased()
        guard allowed.contains(lowered) else {
            throw ConfigError(
                variable: name,
                message: "\(quoted(value)) is not one of: \(allowed.joined(separator: ", "))"
            )
        }
        return lowered
    }

    /// A comma-separated list, items trimmed, empty items dropped.
    public func list(_ name: String, default defaultValue: [String]) -> [String] {
        guard let value = string(name) else { return defaultValue }
        return Self.splitList(value)
    }

    static func splitList(_ value: String) -> [String] {
        value.split(separator: ",").map { String(DurationParser.trim($0)) }.filter { !$0.isEmpty }
    }

    /// `"value"` with quotes, for error messages.
    private func quoted(_ value: String) -> String {
        "\"\(value)\""
    }

    private func describe(_ range: ClosedRange<Int>) -> String {
        switch (range.lowerBound, range.upperBound) {
        case (Int.min, Int.max): return "any whole number"
        case (let lo, Int.max): return "\(lo) or more"
        case (Int.min, let hi): return "\(hi) or less"
        case (let lo, let hi): return "\(lo)-\(hi)"
        }
    }

    // MARK: .env files

    /// Merges `processEnvironment` over the variables of the `.env` file at
    /// `dotEnvPath` (a missing file is fine); the process environment wins.
    public static func merged(
        processEnvironment: [String: String], dotEnvPath: String?
    ) throws(ConfigError) -> [String: String] {
        guard let dotEnvPath, let text = try readFile(at: dotEnvPath) else { return processEnvironment }
        var merged = try parseDotEnv(text, path: dotEnvPath)
        for (key, value) in processEnvironment { merged[key] = value }
        return merged
    }

    /// Parses the text of a `.env` file: `KEY=value` lines, blank lines,
    /// `# comments`, an optional `export ` prefix, and values that are
    /// unquoted (trimmed; ` #` starts a comment), single-quoted (literal) or
    /// double-quoted (`\n`, `\r`, `\t`, `\"`, `\\` escapes). Quoted values may
    /// span lines. A repeated key keeps its last value.
    public static func parseDotEnv(_ text: String, path: String = ".env") throws(ConfigError) -> [String: String] {
        var result: [String: String] = [:]
        let chars = Array(text.unicodeScalars)
        var i = 0
        var line = 1

        func fail(_ message: String, at errorLine: Int) -> ConfigError {
            ConfigError(file: path, line: errorLine, message: message)
        }
        func isBlank(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\r" }
        func skipBlanks() { while i < chars.count, isBlank(chars[i]) { i += 1 } }
        func atLineEnd() -> Bool { i >= chars.count || chars[i] == "\n" }
        /// After a value: only blanks and an optional comment may follow.
        func finishLine(_ startLine: Int) throws(ConfigError) {
            skipBlanks()
            if i < chars.count, chars[i] == "#" {
                while !atLineEnd() { i += 1 }
            }
            guard atLineEnd() else { throw fail("unexpected characters after quoted value", at: startLine) }
            if i < chars.count {
                i += 1
                line += 1
            }
        }

        while i < chars.count {
            let startLine = line
            skipBlanks()
            if atLineEnd() || chars[i] == "#" {
                while !atLineEnd() { i += 1 }
                if i < chars.count {
                    i += 1
                    line += 1
                }
                continue
            }
            // Key, with an optional `export ` in front.
            var key = readKey(chars, &i)
            if key == "export", i < chars.count, isBlank(chars[i]) {
                skipBlanks()
                key = readKey(chars, &i)
            }
            guard !key.isEmpty else { throw fail("expected KEY=value", at: startLine) }
            skipBlanks()
            guard i < chars.count, chars[i] == "=" else {
                throw fail("expected '=' after \(key)", at: startLine)
            }
            i += 1
            let valueStart = i
            skipBlanks()
            let blankBeforeValue = i > valueStart

            var value = ""
            if i < chars.count, chars[i] == "\"" || chars[i] == "'" || chars[i] == "`" {
                let quote = chars[i]
                i += 1
                var closed = false
                while i < chars.count {
                    let c = chars[i]
                    if c == quote {
                        closed = true
                        i += 1
                        break
                    }
                    if c == "\n" { line += 1 }
                    if quote == "\"", c == "\\", i + 1 < chars.count {
                        let next = chars[i + 1]
                        switch next {
                        case "n": value.unicodeScalars.append("\n")
                        case "r": value.unicodeScalars.append("\r")
                        case "t": value.unicodeScalars.append("\t")
                        case "\"": value.unicodeScalars.append("\"")
                        case "\\": value.unicodeScalars.append("\\")
                        default:
                            value.unicodeScalars.append("\\")
                            value.unicodeScalars.append(next)
                            if next == "\n" { line += 1 }
                        }
                        i += 2
                        continue
                    }
                    value.unicodeScalars.append(c)
                    i += 1
                }
                guard closed else { throw fail("unterminated quoted value for \(key)", at: startLine) }
                try finishLine(startLine)
            } else {
                // Unquoted: up to end of line; whitespace followed by `#` starts a comment.
                var scalars = String.UnicodeScalarView()
                while !atLineEnd() {
                    let c = chars[i]
                    if c == "#", scalars.isEmpty ? blankBeforeValue : scalars.last.map(isBlank) == true { break }
                    scalars.append(c)
                    i += 1
                }
                while !atLineEnd() { i += 1 }
                if i < chars.count {
                    i += 1
                    line += 1
                }
                value = String(DurationParser.trim(String(scalars)))
            }
            result[key] = value
        }
        return result
    }

    /// Reads `[A-Za-z_][A-Za-z0-9_.-]*` at `i`; empty when there is no key.
    private static func readKey(_ chars: [Unicode.Scalar], _ i: inout Int) -> String {
        var key = String.UnicodeScalarView()
        while i < chars.count {
            let c = chars[i]
            let isLetter = (c >= "A" && c <= "Z") || (c >= "a" && c <= "z") || c == "_"
            let isDigit = c >= "0" && c <= "9"
            if isLetter || (!key.isEmpty && (isDigit || c == "." || c == "-")) {
                key.append(c)
                i += 1
            } else {
                break
            }
        }
        return String(key)
    }

    /// The UTF-8 text of the file at `path`, or `nil` if it does not exist.
    static func readFile(at path: String) throws(ConfigError) -> String? {
        let fd = open(path, O_RDONLY)
        if fd < 0 {
            let code = errno
            if code == ENOENT { return nil }
            throw ConfigError(file: path, line: nil, message: "cannot open: \(errorText(code))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                let code = errno
                if code == EINTR { continue }
                throw ConfigError(file: path, line: nil, message: "cannot read: \(errorText(code))")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(file: path, line: nil, message: "not valid UTF-8")
        }
        // Drop a UTF-8 byte order mark.
        return text.hasPrefix("\u{FEFF}") ? String(text.dropFirst()) : text
    }

    private static func errorText(_ code: Int32) -> String {
        guard let cString = strerror(code) else { return "error \(code)" }
        return String(cString: cString)
    }
}
