"""`scripts/cluster up 2 --redis-sentinel` as an operator runs it, in a state directory of its
own: a primary + a replica + 3 sentinels (redissentinel.py), PostgreSQL, 2 replicas configured
with REDIS_SENTINELS + REDIS_SENTINEL_NAME only, and nginx; `status` lists every server with its
role and the primary the sentinels name; a write on replica 1 reaches a subscriber on replica 2
through that primary; `down` stops every process `up` started.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from clusterkit import Client, missing_tools, report, run, wait_until, ws_url_of
from harness import REPO_ROOT, Api, binary_path, create_collection, data, uniq

pytestmark = pytest.mark.cluster

SCRIPT = REPO_ROOT / "scripts" / "cluster"


def consecutive_free_ports(count: int) -> int:
    """The first of `count` consecutive free ports in 6000-9999 (bounded tries): below Linux's
    ephemeral range, so no client socket of a parallel test takes one before the replicas bind
    them (a replica once lost its port that way), and apart from the Redis test ports."""
    start = 6000 + (os.getpid() * 13) % 3900
    for attempt in range(200):
        base = 6000 + (start - 6000 + attempt * count) % (9999 - 6000 - count)
        ok = True
        for p in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise AssertionError("no consecutive free ports")


def cluster(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def read_env(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def test_cluster_up_with_redis_sentinel_status_and_down() -> None:
    missing = missing_tools()
    if missing:
        pytest.skip(f"scripts/cluster needs: {', '.join(missing)}")
    # not pytest's tmp_path: PostgreSQL runs as `postgres` when we are root and must reach its directory
    top = Path(tempfile.mkdtemp(prefix="switchboard-cluster-script-"))
    top.chmod(0o755)
    state = top / "cluster"
    base = consecutive_free_ports(4)
    env = {**os.environ, "CLUSTER_DIR": str(state), "SWITCHBOARD_BIN": str(binary_path()),
           "CLUSTER_LB_PORT": str(base), "CLUSTER_BASE_PORT": str(base + 1), "CLUSTER_PG_PORT": str(base + 3),
           "SHUTDOWN_DRAIN_WINDOW": "1s", "NO_PROXY": "127.0.0.1,localhost"}
    t0 = time.monotonic()
    try:
        up = cluster(env, "up", "2", "--redis-sentinel", timeout=240)
        assert up.returncode == 0, f"{up.stdout[-3000:]}\n{up.stderr[-3000:]}"
        took_up = time.monotonic() - t0
        assert "REDIS_SENTINELS=127.0.0.1:" in up.stdout and "REDIS_SENTINEL_NAME=" in up.stdout, up.stdout

        t1 = time.monotonic()
        status = cluster(env, "status", timeout=60)
        took_status = time.monotonic() - t1
        assert status.returncode == 0, status.stderr
        lines = status.stdout.splitlines()
        primary_port = int((state / "rsentinel" / "data-ports").read_text().split()[0])
        roles = {int(line.split()[3]): line.split()[4] for line in lines if line.strip().startswith("rsentinel/")}
        assert sorted(roles.values()) == ["primary", "replica", "sentinel", "sentinel", "sentinel"], status.stdout
        assert all(" up " in line for line in lines if line.strip().startswith("rsentinel/")), status.stdout
        assert roles[primary_port] == "primary"
        assert f"sentinels name the primary of sbprimary: 127.0.0.1:{primary_port}" in status.stdout, status.stdout
        replica_lines = [line for line in lines if line.strip().startswith("replica-")]
        assert len(replica_lines) == 2 and all('"messenger:redis":[{"componentType":"datastore",'
                                               '"observedValue":"connected","status":"ok"}]' in line
                                               for line in replica_lines), status.stdout

        token = read_env(state / "env")["ADMIN_TOKEN"]
        r1, r2 = f"http://127.0.0.1:{base + 1}", f"http://127.0.0.1:{base + 2}"
        name = uniq("cls")
        create_collection(Api(r1, token), name, [{"field": "text", "type": "string"}])
        wait_until(lambda: Api(r2, token).get(f"/items/{name}").status_code == 200, 10, 0.05, "collection on replica 2")
        writes = 10

        async def scenario() -> list[str]:
            sub = await Client.open(ws_url_of(r2), "r2-sub")
            await sub.auth(token)
            await sub.subscribe(name, "s")
            for i in range(writes):
                data(await asyncio.to_thread(Api(r1, token).post, f"/items/{name}", {"text": str(i)}))
            frames = await sub.wait_events("s", writes, 15)
            await sub.close()
            return [row["text"] for f in frames for row in f.get("data") or []]

        t1 = time.monotonic()
        texts = run(scenario(), 60)
        took_delivery = time.monotonic() - t1
        assert texts == [str(i) for i in range(writes)], texts
        numsub = subprocess.run(["redis-cli", "-p", str(primary_port), "PUBSUB", "NUMSUB", f"switchboard:col:{name}"],
                                capture_output=True, text=True, timeout=10).stdout.split()
        assert numsub[-1] == "1", numsub  # replica 2 (the subscriber) listens on the primary the sentinels name
    finally:
        pidfiles = sorted(state.glob("*.pid")) + sorted(state.glob("rsentinel/*.pid"))
        pids = [int(p.read_text().split()[0]) for p in pidfiles if p.read_text().strip()]
        t1 = time.monotonic()
        down = cluster(env, "down", timeout=120)
        took_down = time.monotonic() - t1
    assert down.returncode == 0, down.stderr
    alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()
             and "State:\tZ" not in Path(f"/proc/{pid}/status").read_text(errors="replace")]
    # 2 redis-server + 3 sentinels, PostgreSQL, nginx, 2 replicas
    assert len(pids) == 9 and not alive, f"{len(pids)} pids, still alive after down: {alive}"
    assert not (state / "rsentinel").exists()
    if os.environ.get("SWITCHBOARD_KEEP_TMP") != "1":
        shutil.rmtree(top, ignore_errors=True)
    report(f"scripts/cluster up 2 --redis-sentinel in {took_up:.1f}s (primary + replica + 3 sentinels, PostgreSQL, "
           f"2 replicas, nginx); status in {took_status:.1f}s; {writes} writes on replica 1 delivered in order on "
           f"replica 2 in {took_delivery:.1f}s; down in "
           f"{took_down:.1f}s stopped all {len(pids)} processes")
