import Foundation

/// Memory and file descriptors of a process, from /proc and getrlimit: what `/metrics`
/// exports and what `switchboard-bench` samples on servers and checks on itself.
public enum ProcessResources {
    /// Resident set size (VmRSS in /proc/PID/status) in KiB; `pid` nil is this process.
    public static func residentKiB(pid: Int32? = nil) -> Int? {
        let path = "/proc/\(pid.map(String.init) ?? "self")/status"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(separator: " ").compactMap { Int($0) }.first
        }
        return nil
    }

    /// Descriptors this process has open.
    public static func openFiles() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
    }

    /// This process's RLIMIT_NOFILE as (soft, hard); with `raise`, first lifts the soft
    /// limit to the hard one.
    public static func openFileLimit(raise: Bool = false) -> (soft: UInt64, hard: UInt64) {
        var rl = rlimit()
        #if os(Linux)
            let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
            let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &rl) == 0 else { return (0, 0) }
        if raise && rl.rlim_cur < rl.rlim_max {
            var raised = rl
            raised.rlim_cur = rl.rlim_max
            if setrlimit(resource, &raised) == 0 { rl = raised }
        }
        return (UInt64(rl.rlim_cur), UInt64(rl.rlim_max))
    }
}
