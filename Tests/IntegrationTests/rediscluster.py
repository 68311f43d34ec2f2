"""A throwaway Redis Cluster on 127.0.0.1: 3 masters + 3 replicas of redis-server (7.x), made
with `redis-cli --cluster create … --cluster-replicas 1`, in a directory of its own.

Used by test_redis_cluster.py (as a class) and by `scripts/cluster up --redis-cluster` (as a
command: `python3 rediscluster.py up DIR [BASE_PORT]` prints the redis+cluster:// URL; `down DIR`
stops what `up` started there, by the pids it wrote). Every wait is bounded; only processes
started here are signalled, by their own pid.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from waits import wait_until

NODE_TIMEOUT_MS = 2000


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    # the cluster bus listens on port + 10000
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port + 10000))
        except OSError:
            return False
    return True


def _free_ports(count: int, base: int | None) -> list[int]:
    """`count` ports whose bus ports (+10000) are free too: consecutive from `base` when given."""
    out: list[int] = []
    # Below Linux's ephemeral range (32768+), bus ports included: a client socket of another test
    # (or of a parallel pytest worker) never takes a port between choosing it and redis binding it.
    low, high = 12000, 22700
    port = base or low + (os.getpid() * 7) % (high - low)
    for _ in range(2000):
        if base is None and port > high:
            port = low
        if _port_free(port):
            out.append(port)
            if len(out) == count:
                return out
        elif base is not None:
            raise RuntimeError(f"port {port} (or its cluster bus port {port + 10000}) is in use")
        port += 1
    raise RuntimeError("no free ports for a Redis Cluster")


@dataclass
class NodeInfo:
    id: str
    port: int
    role: str  # master / slave
    master_id: str | None
    slots: list[tuple[int, int]]
    failed: bool


class RedisCluster:
    def __init__(self, directory: Path | None = None, base_port: int | None = None, masters: int = 3) -> None:
        self.owned_dir = directory is None
        self.dir = directory or Path(tempfile.mkdtemp(prefix="switchboard-rcluster-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.masters = masters
        self.ports = _free_ports(masters * 2, base_port)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports[: self.masters])

    def pidfile(self, port: int) -> Path:
        return self.dir / f"redis-{port}.pid"

    def start(self) -> "RedisCluster":
        started = time.monotonic()
        for port in self.ports:
            self.start_node(port)
        for port in self.ports:
            wait_until(lambda p=port: self.cli(p, "PING", check=False) == "PONG", 15, 0.05, f"redis :{port} PING")
        create = subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports), "--cluster-replicas", "1",
             "--cluster-yes"], capture_output=True, text=True, timeout=60)
        assert create.returncode == 0, f"redis-cli --cluster create: {create.stdout[-2000:]} {create.stderr}"
        self.wait_healthy(30)
        self.started_in = time.monotonic() - started
        return self

    def start_node(self, port: int) -> None:
        node_dir = self.dir / str(port)
        node_dir.mkdir(exist_ok=True)
        log = open(self.dir / f"redis-{port}.log", "ab")
        proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--cluster-enabled", "yes",
             "--cluster-config-file", f"nodes-{port}.conf", "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
             "--save", "", "--appendonly", "no", "--dir", str(node_dir), "--pidfile", str(self.pidfile(port))],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.pidfile(port).write_text(f"{proc.pid}\n")  # before redis does, so `down` always finds it

    def wait_healthy(self, timeout: float) -> None:
        """cluster_state:ok on every node, every slot served, and every master with a replica."""
        def healthy() -> bool:
            for port in self.ports:
                if "cluster_state:ok" not in self.cli(port, "CLUSTER", "INFO", check=False):
                    return False
            nodes = self.nodes()
            masters = [n for n in nodes if n.role == "master" and n.slots and not n.failed]
            served = sum(b - a + 1 for n in masters for a, b in n.slots)
            replicated = all(any(r.master_id == m.id and not r.failed for r in nodes) for m in masters)
            return served == 16384 and len(masters) == self.masters and replicated
        wait_until(healthy, timeout, 0.1, "Redis Cluster healthy")

    def cli(self, port: int, *args: str, check: bool = True) -> str:
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), *args],
                           capture_output=True, text=True, timeout=10)
        if check:
            assert r.returncode == 0, f"redis-cli -p {port} {args}: {r.returncode} {r.stderr}"
        return r.stdout.strip()

    def nodes(self) -> list[NodeInfo]:
        """CLUSTER NODES as some running node sees it."""
        for port in self.ports:
            text = self.cli(port, "CLUSTER", "NODES", check=False)
            if text and "ERR" not in text and "Could not connect" not in text:
                return [self._node(line) for line in text.splitlines() if line.strip()]
        return []

    @staticmethod
    def _node(line: str) -> NodeInfo:
        parts = line.split()
        flags = parts[2].split(",")
        slots = []
        for s in parts[8:]:
            if s.startswith("["):
                continue  # a migrating / importing marker
            a, _, b = s.partition("-")
            slots.append((int(a), int(b or a)))
        return NodeInfo(id=parts[0], port=int(parts[1].split("@")[0].rsplit(":", 1)[1]),
                        role="master" if "master" in flags else "slave",
                        master_id=None if parts[3] == "-" else parts[3], slots=slots,
                        failed="fail" in flags or "fail?" in flags)

    def keyslot(self, key: str) -> int:
        return int(self.cli(self.ports[0], "CLUSTER", "KEYSLOT", key))

    def master_of(self, key: str) -> int:
        """The port of the master serving `key`'s slot."""
        slot = self.keyslot(key)
        for n in self.nodes():
            if n.role == "master" and not n.failed and any(a <= slot <= b for a, b in n.slots):
                return n.port
        raise AssertionError(f"no master serves slot {slot}")

    def replica_of(self, master_port: int) -> int:
        nodes = self.nodes()
        master = next(n for n in nodes if n.port == master_port)
        return next(n.port for n in nodes if n.master_id == master.id and not n.failed)

    def node_id(self, port: int) -> str:
        return self.cli(port, "CLUSTER", "MYID")

    def migrate_slot(self, slot: int, source: int, target: int, during: Callable[[], None] | None = None) -> None:
        """Move `slot` from master `source` to master `target` the way `redis-cli --cluster reshard`
        does: IMPORTING on the target, MIGRATING on the source, its keys MIGRATEd (pub/sub channels
        are not keys, so usually none), then SETSLOT … NODE on the target, the source and the other
        masters. The source then drops its shard-channel subscribers of that slot (`sunsubscribe`)
        and answers `SPUBLISH` there with `-MOVED`. `during` runs while the slot is MIGRATING /
        IMPORTING (Redis 7.0 serves shard channels from the source until then, never `-ASK`)."""
        source_id, target_id = self.node_id(source), self.node_id(target)
        assert self.cli(target, "CLUSTER", "SETSLOT", str(slot), "IMPORTING", source_id) == "OK"
        assert self.cli(source, "CLUSTER", "SETSLOT", str(slot), "MIGRATING", target_id) == "OK"
        for _ in range(1000):
            keys = self.cli(source, "CLUSTER", "GETKEYSINSLOT", str(slot), "100").split()
            if not keys:
                break
            self.cli(source, "MIGRATE", "127.0.0.1", str(target), "", "0", "5000", "KEYS", *keys)
        if during is not None:
            during()
        masters = [n.port for n in self.nodes() if n.role == "master" and not n.failed]
        for port in [target, source, *(m for m in masters if m not in (source, target))]:
            assert self.cli(port, "CLUSTER", "SETSLOT", str(slot), "NODE", target_id) == "OK"

    def info_fields(self, port: int, section: str) -> dict[str, str]:
        """`INFO <section>` as name -> value (`errorstat_MOVED` -> `count=3`)."""
        out = {}
        for line in self.cli(port, "INFO", section, check=False).splitlines():
            if ":" in line and not line.startswith("#"):
                k, _, v = line.partition(":")
                out[k] = v.strip()
        return out

    def command_stat(self, port: int, command: str, field: str) -> int:
        """One counter of `INFO commandstats` (`calls`, `rejected_calls` — a redirect counts there)."""
        stat = self.info_fields(port, "commandstats").get(f"cmdstat_{command}", "")
        fields = dict(kv.split("=", 1) for kv in stat.split(",") if "=" in kv)
        return int(fields.get(field, "0"))

    def client_list(self, port: int) -> list[dict[str, str]]:
        out = []
        for line in self.cli(port, "CLIENT", "LIST").splitlines():
            out.append(dict(kv.split("=", 1) for kv in line.split() if "=" in kv))
        return out

    def kill(self, port: int) -> None:
        """SIGKILL one node (a crashed master: its replica takes over after the node timeout)."""
        pid = int(self.pidfile(port).read_text().strip())
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: self.cli(port, "PING", check=False) != "PONG", 10, 0.05, f":{port} gone")

    def stop(self) -> None:
        for port in self.ports:
            stop_pid(self.pidfile(port))
        if self.owned_dir and os.environ.get("SWITCHBOARD_KEEP_TMP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)


def stop_pid(pidfile: Path) -> None:
    """SIGTERM the redis-server whose pid `pidfile` holds (SIGKILL after 10 s)."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pidfile.unlink(missing_ok=True)
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
            with open(f"/proc/{pid}/status") as f:
                if any(line.startswith("State:") and "Z" in line.split()[1] for line in f):
                    break
        except (ProcessLookupError, FileNotFoundError):
            break
        time.sleep(0.1)
    else:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    pidfile.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "up":
        directory = Path(argv[1])
        base = int(argv[2]) if len(argv) > 2 else None
        cluster = RedisCluster(directory, base)
        (directory / "ports").write_text(" ".join(map(str, cluster.ports)) + "\n")
        cluster.start()
        print(cluster.url)
        return 0
    if len(argv) == 2 and argv[0] == "down":
        directory = Path(argv[1])
        for pidfile in sorted(directory.glob("redis-*.pid")):
            stop_pid(pidfile)
        return 0
    print("usage: rediscluster.py up DIR [BASE_PORT] | down DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
