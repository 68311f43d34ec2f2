import SwitchboardCore

/// Where and how to reach Redis, from `redis://[user:pass@]host:port[/db]`,
/// `rediss://…` (TLS) or `unix:///path/to/socket[?db=N]`.
public struct RedisEndpoint: Sendable, Hashable {
    public enum Address: Sendable, Hashable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public var address: Address
    public var tls: Bool
    public var username: String?
    public var password: String?
    public var database: Int
    /// PEM files for TLS: a CA bundle to trust, and a client certificate + key.
    public var caFile: String?
    public var certFile: String?
    public var keyFile: String?

    public init(
        address: Address, tls: Bool = false, username: String? = nil, password: String? = nil, database: Int = 0,
        caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil
    ) {
        self.address = address
        self.tls = tls
        self.username = username
        self.password = password
        self.database = database
        self.caFile = caFile
        self.certFile = certFile
        self.keyFile = keyFile
    }

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Parses a Redis URL; percent-escapes in user and password are decoded.
    public static func parse(_ url: String) throws(ParseError) -> RedisEndpoint {
        func fail(_ why: String) -> ParseError { ParseError(description: "invalid Redis URL \"\(Self.redacted(url))\": \(why)") }
        guard let schemeEnd = url.firstRange(of: "://") else { throw fail("expected redis://, rediss:// or unix://") }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        var rest = String(url[schemeEnd.upperBound...])
        var query: [String: String] = [:]
        if let q = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: q)...].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                query[String(kv[0])] = kv.count > 1 ? percentDecode(String(kv[1])) : ""
            }
            rest = String(rest[..<q])
        }
        var endpoint: RedisEndpoint
        switch scheme {
        case "unix":
            guard rest.hasPrefix("/") else { throw fail("unix:// needs an absolute socket path") }
            endpoint = RedisEndpoint(address: .unix(path: rest))
        case "redis", "rediss":
            var hostPart = rest
            var path = ""
            if let slash = rest.firstIndex(of: "/") {
                hostPart = String(rest[..<slash])
                path = String(rest[rest.index(after: slash)...])
            }
            var user: String?
            var password: String?
            if let at = hostPart.lastIndex(of: "@") {
                let credentials = hostPart[..<at]
                hostPart = String(hostPart[hostPart.index(after: at)...])
                if let colon = credentials.firstIndex(of: ":") {
                    let u = String(credentials[..<colon])
                    user = u.isEmpty ? nil : percentDecode(u)
                    password = percentDecode(String(credentials[credentials.index(after: colon)...]))
                } else {
                    password = percentDecode(String(credentials))
                }
            }
            var host = hostPart
            var port = 6379
            if hostPart.hasPrefix("["), let close = hostPart.firstIndex(of: "]") {
                host = String(hostPart[hostPart.index(after: hostPart.startIndex)..<close])
                let after = hostPart[hostPart.index(after: close)...]
                if after.hasPrefix(":") {
                    guard let p = Int(after.dropFirst()), (1...65535).contains(p) else { throw fail("bad port") }
                    port = p
                }
            } else if let colon = hostPart.lastIndex(of: ":") {
                host = String(hostPart[..<colon])
                guard let p = Int(hostPart[hostPart.index(after: colon)...]), (1...65535).contains(p) else {
                    throw fail("bad port")
                }
                port = p
            }
            guard !host.isEmpty else { throw fail("missing host") }
            endpoint = RedisEndpoint(
                address: .tcp(host: host, port: port), tls: scheme == "rediss", username: user, password: password)
            if !path.isEmpty {
                guard let db = Int(path), db >= 0 else { throw fail("database must be a number") }
                endpoint.database = db
            }
        default:
            throw fail("unsupported scheme \"\(scheme)\"")
        }
        if let db = query["db"] {
            guard let n = Int(db), n >= 0 else { throw fail("db must be a number") }
            endpoint.database = n
        }
        if let p = query["password"] { endpoint.password = p }
        return endpoint
    }

    /// The seed nodes of a Redis Cluster URL: `redis+cluster://[user:pass@]host:port,host2:port2[?…]`
    /// (`rediss+cluster://` for TLS), or a plain `redis://` / `rediss://` URL naming one seed.
    /// Credentials and options apply to every node; a cluster has database 0 only.
    public static func parseCluster(_ url: String) throws(ParseError) -> [RedisEndpoint] {
        func fail(_ why: String) -> ParseError {
            ParseError(description: "invalid Redis Cluster URL \"\(Self.redacted(url))\": \(why)")
        }
        guard let schemeEnd = url.firstRange(of: "://") else { throw fail("expected redis+cluster:// or rediss+cluster://") }
        var scheme = url[..<schemeEnd.lowerBound].lowercased()
        if scheme.hasSuffix("+cluster") { scheme.removeLast("+cluster".count) }
        guard scheme == "redis" || scheme == "rediss" else { throw fail("unsupported scheme \"\(scheme)\"") }
        var authority = Substring(url[schemeEnd.upperBound...])
        var tail = Substring("")
        if let end = authority.firstIndex(where: { $0 == "/" || $0 == "?" }) {
            tail = authority[end...]
            authority = authority[..<end]
        }
        var credentials = Substring("")
        if let at = authority.lastIndex(of: "@") {
            credentials = authority[...at]
            authority = authority[authority.index(after: at)...]
        }
        let hosts = authority.split(separator: ",", omittingEmptySubsequences: false)
        guard !hosts.isEmpty, !hosts.contains(where: \.isEmpty) else { throw fail("expected host:port[,host:port…]") }
        var seeds: [RedisEndpoint] = []
        for host in hosts {
            do {
                seeds.append(try parse("\(scheme)://\(credentials)\(host)\(tail)"))
            } catch {
                throw fail("seed \"\(host)\": bad host or port")
            }
        }
        guard seeds.allSatisfy({ $0.database == 0 }) else { throw fail("Redis Cluster has database 0 only") }
        return seeds
    }

    /// The URL with its password masked, for logs and errors.
    public static func redacted(_ url: String) -> String {
        guard let schemeEnd = url.firstRange(of: "://"), let at = url[schemeEnd.upperBound...].lastIndex(of: "@") else {
            return url
        }
        let credentials = url[schemeEnd.upperBound..<at]
        guard let colon = credentials.firstIndex(of: ":") else { return url }
        return String(url[..<url.index(after: colon)]) + "***" + String(url[at...])
    }

    private static func percentDecode(_ s: String) -> String {
        var out: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "%"), it.count >= 2, let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v)
                it = it.dropFirst(2)
            } else {
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public var description: String {
        switch address {
        case .tcp(let host, let port): return "\(tls ? "rediss" : "redis")://\(host):\(port)/\(database)"
        case .unix(let path): return "unix://\(path)?db=\(database)"
        }
    }
}
