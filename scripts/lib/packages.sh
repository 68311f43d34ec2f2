# The Debian packages Switchboard's scripts need, listed once. Sourced by scripts/run,
# scripts/test, scripts/cluster, scripts/bench, scripts/chaos and scripts/fuzz:
#
#   . scripts/lib/packages.sh
#   ensure_packages "${BUILD_PACKAGES[@]}" "${CLUSTER_PACKAGES[@]}"
#
# ensure_packages installs what is missing (as root, or through sudo), running
# `apt-get update` first only when the install needs it.

# Building: C libraries the package links (Package.swift's systemLibrary targets) and pkg-config.
# scripts/test fails when this list, Package.swift's `.apt` providers and scripts/run's comment
# naming them disagree (check_build_packages below).
BUILD_PACKAGES=(pkg-config libsqlite3-dev libargon2-dev libssl-dev libhiredis-dev)
# The cluster shape on one machine: Redis, PostgreSQL, the nginx load balancer, curl for health checks.
CLUSTER_PACKAGES=(redis-server redis-tools postgresql nginx curl)
# The integration tests' own needs beyond the cluster: pip for the Python modules; Debian's headless
# chromium and its WebDriver for the demo chat page's browser test (test_demo_browser.py, Selenium);
# haproxy (`haproxy -c`) and systemd (`systemd-analyze verify`) for test_deploy_files.py, which
# checks deploy/ with them (nginx -t uses CLUSTER_PACKAGES' nginx); openssl (the command) makes the
# certificates of the messenger's TLS test.
TEST_PACKAGES=(python3-pip chromium chromium-driver haproxy systemd openssl)
# The benchmark's peer: nchan in nginx.
BENCH_PACKAGES=(libnginx-mod-nchan)

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "need root or sudo to run: $*" >&2
        return 1
    fi
}

# Whether a package (or, for nginx, any nginx flavour) is installed.
package_present() {
    case "$1" in
    nginx) command -v nginx >/dev/null 2>&1 ;;
    # installed, not merely known (a removed package keeps its config files and a dpkg record)
    *) [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]] ;;
    esac
}

ensure_packages() {
    local missing=() p
    for p in "$@"; do package_present "$p" || missing+=("$p"); done
    ((${#missing[@]})) || return 0
    printf '==> installing Debian packages: %s\n' "${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; then
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}"
    fi
}

# Every Debian package Package.swift's systemLibrary targets name (`.apt([...])`) must be in
# BUILD_PACKAGES and named in scripts/run (what a fresh machine runs first); prints each mismatch.
check_build_packages() {
    local p bad=0
    for p in $(grep -oE '\.apt\(\["[^"]+"' Package.swift | sed -E 's/.*"([^"]+)"/\1/'); do
        [[ " ${BUILD_PACKAGES[*]} " == *" $p "* ]] || { echo "BUILD_PACKAGES lacks $p (Package.swift needs it)"; bad=1; }
        grep -q "$p" scripts/run || { echo "scripts/run does not name $p"; bad=1; }
    done
    return $bad
}
