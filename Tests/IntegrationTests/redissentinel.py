"""A throwaway Redis Sentinel deployment on 127.0.0.1: one primary and one replica of
redis-server (7.x) watched by three sentinels (`redis-server CONF --sentinel`, quorum 2, a
short down-after / failover timeout so failovers happen in seconds), in a directory of its own.

Used by test_redis_sentinel.py as a broker for clusterkit.running_cluster: `env` says how a
Switchboard replica reaches it (REDIS_SENTINELS + REDIS_SENTINEL_NAME). As a command (used by
`scripts/cluster up --redis-sentinel`), `python3 redissentinel.py up DIR` prints that env and
writes the ports to DIR/data-ports (primary, replica) and DIR/sentinel-ports, and `down DIR`
stops what `up` started there, by the pids it wrote. Every wait is bounded; only processes started here are signalled.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rediscluster import stop_pid
from waits import wait_until

MASTER_NAME = "sbprimary"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _quiet_ports(count: int) -> list[int]:
    """Free ports in 10000-11999: below Linux's ephemeral range (32768+), so no client socket of a
    parallel test takes one between choosing it and redis binding it, and apart from the ports
    rediscluster.py uses (12000-22700, bus ports 10000 above)."""
    low, high = 10000, 11999
    port = low + (os.getpid() * 11) % (high - low)
    out: list[int] = []
    for _ in range(high - low):
        if port > high:
            port = low
        if _bindable(port):
            out.append(port)
            if len(out) == count:
                return out
        port += 1
    raise RuntimeError("no free ports for Redis Sentinel")


class RedisSentinel:
    def __init__(self, directory: Path | None = None, name: str = MASTER_NAME) -> None:
        self.owned_dir = directory is None
        self.dir = directory or Path(tempfile.mkdtemp(prefix="switchboard-rsentinel-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        ports = _quiet_ports(5)
        self.data_ports = ports[:2]  # [initial primary, initial replica]
        self.sentinel_ports = ports[2:]
        self.url = ""  # no fixed server: clusterkit uses `env`

    @property
    def env(self) -> dict[str, str]:
        return {"REDIS_SENTINELS": ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports),
                "REDIS_SENTINEL_NAME": self.name}

    def pidfile(self, port: int) -> Path:
        return self.dir / f"redis-{port}.pid"

    def _spawn(self, port: int, args: list[str]) -> None:
        log = open(self.dir / f"redis-{port}.log", "ab")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        log.close()
        self.pidfile(port).write_text(f"{proc.pid}\n")  # before redis does, so `down` always finds it

    def start(self) -> "RedisSentinel":
        started = time.monotonic()
        primary, replica = self.data_ports
        for port in self.data_ports:
            node_dir = self.dir / str(port)
            node_dir.mkdir(exist_ok=True)
            args = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
                    "--dir", str(node_dir), "--pidfile", str(self.pidfile(port))]
            if port == replica:
                args += ["--replicaof", "127.0.0.1", str(primary)]
            self._spawn(port, args)
        for port in self.data_ports:
            wait_until(lambda p=port: self.cli(p, "PING", check=False) == "PONG", 15, 0.05, f"redis :{port} PING")
        wait_until(lambda: "master_link_status:up" in self.cli(replica, "INFO", "replication", check=False), 20, 0.05,
                   "replica in sync")
        for port in self.sentinel_ports:
            conf = self.dir / f"sentinel-{port}.conf"
            conf.write_text("\n".join([
                f"port {port}", "bind 127.0.0.1", f"dir {self.dir}", f"pidfile {self.pidfile(port)}",
                f"sentinel monitor {self.name} 127.0.0.1 {primary} 2",
                f"sentinel down-after-milliseconds {self.name} {DOWN_AFTER_MS}",
                f"sentinel failover-timeout {self.name} {FAILOVER_TIMEOUT_MS}",
                f"sentinel parallel-syncs {self.name} 1", ""]))
            self._spawn(port, ["redis-server", str(conf), "--sentinel"])
        for port in self.sentinel_ports:
            wait_until(lambda p=port: self.cli(p, "PING", check=False) == "PONG", 15, 0.05, f"sentinel :{port} PING")
        # Every sentinel knows the replica (so it can promote it) and the other two (quorum).
        def ready() -> bool:
            for port in self.sentinel_ports:
                info = self.cli(port, "SENTINEL", "MASTER", self.name, check=False).splitlines()
                fields = dict(zip(info[::2], info[1::2]))
                if fields.get("num-slaves") != "1" or fields.get("num-other-sentinels") != "2":
                    return False
            return True
        wait_until(ready, 30, 0.1, "sentinels know the replica and each other")
        self.started_in = time.monotonic() - started
        return self

    def cli(self, port: int, *args: str, check: bool = True) -> str:
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                           capture_output=True, text=True, timeout=10)
        if check:
            assert r.returncode == 0, f"redis-cli -p {port} {args}: {r.returncode} {r.stderr}"
        return r.stdout.strip()

    def primary_port(self) -> int:
        """The primary's port, as the first answering sentinel names it."""
        for port in self.sentinel_ports:
            out = self.cli(port, "SENTINEL", "get-master-addr-by-name", self.name, check=False).split()
            if len(out) == 2:
                return int(out[1])
        raise AssertionError("no sentinel names a primary")

    def role(self, port: int) -> str:
        out = self.cli(port, "ROLE", check=False).splitlines()
        return out[0] if out else ""

    def failover(self, timeout: float = 30) -> tuple[int, int]:
        """SENTINEL FAILOVER: the replica is promoted and the old primary made its replica.
        Returns (old, new) primary ports once every sentinel names the new one and it is master."""
        old = self.primary_port()
        new = next(p for p in self.data_ports if p != old)
        assert self.cli(self.sentinel_ports[0], "SENTINEL", "FAILOVER", self.name) == "OK"

        def done() -> bool:
            for port in self.sentinel_ports:
                out = self.cli(port, "SENTINEL", "get-master-addr-by-name", self.name, check=False).split()
                if len(out) != 2 or int(out[1]) != new:
                    return False
            return self.role(new) == "master"
        wait_until(done, timeout, 0.02, f"failover :{old} -> :{new}")
        return old, new

    def kill(self, port: int) -> None:
        """SIGKILL one redis-server (a crashed primary: the sentinels promote its replica once
        they agree it is down, after down-after-milliseconds)."""
        os.kill(int(self.pidfile(port).read_text().strip()), signal.SIGKILL)
        wait_until(lambda: self.cli(port, "PING", check=False) != "PONG", 10, 0.05, f":{port} gone")

    def client_list(self, port: int) -> list[dict[str, str]]:
        out = []
        for line in self.cli(port, "CLIENT", "LIST", check=False).splitlines():
            out.append(dict(kv.split("=", 1) for kv in line.split() if "=" in kv))
        return out

    def stop(self) -> None:
        for port in self.sentinel_ports + self.data_ports:
            stop_pid(self.pidfile(port))
        if self.owned_dir and os.environ.get("SWITCHBOARD_KEEP_TMP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "up":
        directory = Path(argv[1])
        sentinel = RedisSentinel(directory)
        # before anything starts, so `scripts/cluster status` lists even a server that failed to
        (directory / "data-ports").write_text(" ".join(map(str, sentinel.data_ports)) + "\n")
        (directory / "sentinel-ports").write_text(" ".join(map(str, sentinel.sentinel_ports)) + "\n")
        sentinel.start()
        for k, v in sentinel.env.items():
            print(f"{k}={v}")
        return 0
    if len(argv) == 2 and argv[0] == "down":
        for pidfile in sorted(Path(argv[1]).glob("redis-*.pid")):
            stop_pid(pidfile)
        return 0
    print("usage: redissentinel.py up DIR | down DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
