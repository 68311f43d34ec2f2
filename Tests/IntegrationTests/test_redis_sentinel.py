"""Switchboard on Redis Sentinel (redissentinel.py: a primary, a replica, three sentinels with
quorum 2): two replicas sharing one PostgreSQL database, configured with REDIS_SENTINELS +
REDIS_SENTINEL_NAME only, find the primary through the sentinels.

1. a write on either replica reaches subscribers on both, through the primary the sentinels name
2. SENTINEL FAILOVER mid-stream of N writes: subscribers on both replicas get every committed
   event (the outbox is the truth) once and in order, and both move to the new primary
3. the primary SIGKILLed mid-stream: the sentinels promote the replica (quorum 2), nothing is
   lost (the deployment is left with one data node; the tests after it need only the sentinels)
4. an unknown master name, or no reachable sentinel: the replica serves, logs why it has no
   primary and is not ready; sentinels beside REDIS_CLUSTER or a fixed server exit 78 naming both
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from clusterkit import Client, Cluster, report, run, running_cluster, visible_everywhere, wait_until, ws_url_of
from consistency import check_stream, expected_from_outbox, from_frames, read_outbox
from harness import ADMIN_TOKEN, SwitchboardServer, create_collection, data, free_port, uniq
from redissentinel import RedisSentinel

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def rs() -> Iterator[tuple[Cluster, RedisSentinel]]:
    for cl in running_cluster("redis sentinel", {}, replicas=2, broker=RedisSentinel):
        sentinel = cl.redis
        assert isinstance(sentinel, RedisSentinel)
        report(f"redis sentinel: primary + replica + 3 sentinels made in {sentinel.started_in:.1f}s")
        yield cl, sentinel


def subscribed_on(sentinel: RedisSentinel, port: int, channel: str) -> int:
    """Subscribers of `channel` on the Redis at `port`."""
    lines = sentinel.cli(port, "PUBSUB", "NUMSUB", channel, check=False).splitlines()
    return int(lines[1]) if len(lines) >= 2 else 0


def new_collection(cl: Cluster, prefix: str) -> str:
    name = uniq(prefix)
    create_collection(cl.admin(0), name, [{"field": "text", "type": "string"}])
    visible_everywhere(cl, name, 10)
    return name


def test_writes_on_either_replica_reach_both_through_the_sentinels_primary(rs: tuple[Cluster, RedisSentinel]) -> None:
    cl, sentinel = rs
    name = new_collection(cl, "rsx")
    primary = sentinel.primary_port()
    per_replica = 20

    async def scenario() -> list[tuple[str, list[Any]]]:
        subs = []
        for srv in cl.replicas:
            c = await Client.open(ws_url_of(srv.base_url), f"{srv.name}-sub")
            await c.auth(ADMIN_TOKEN)
            await c.subscribe(name, "s")
            subs.append(c)
        for i in range(per_replica):
            for r in range(len(cl.replicas)):
                data(await asyncio.to_thread(cl.admin(r).post, f"/items/{name}", {"text": f"{r}-{i}"}))
        for c in subs:
            await c.wait_events("s", per_replica * len(cl.replicas), 15)
            await c.close()
        return [(c.name, c.frames) for c in subs]

    t0 = time.monotonic()
    subs = run(scenario(), 90)
    want = expected_from_outbox(read_outbox(cl.pg.host, cl.pg.port, cl.database, name))
    for client, frames in subs:
        r = check_stream(from_frames(frames, name, "s"), want)
        assert r.ok, f"{client}: {r.summary()}"
    # both replicas subscribe on the primary the sentinels name, none on its replica
    channel = f"{cl.namespace}:col:{name}"
    other = next(p for p in sentinel.data_ports if p != primary)
    assert subscribed_on(sentinel, primary, channel) == 2 and subscribed_on(sentinel, other, channel) == 0
    report(f"redis sentinel: {per_replica * 2} writes (half on each replica) delivered to subscribers on both "
           f"replicas via primary :{primary} in {time.monotonic() - t0:.1f}s: 0 lost / 0 dup / 0 reordered")


def test_sentinel_failover_mid_stream_loses_nothing(rs: tuple[Cluster, RedisSentinel]) -> None:
    cl, sentinel = rs
    name = new_collection(cl, "rsf")
    total = 100
    timings: dict[str, float] = {}

    def subscriber_connections(port: int) -> int:
        """Subscription connections (pub/sub) on `port`: one per Switchboard replica when it is the primary."""
        return sum(1 for c in sentinel.client_list(port)
                   if int(c.get("sub", "0")) > 0 and not c.get("name", "").startswith("sentinel-"))

    async def scenario() -> tuple[list[tuple[str, list[Any]]], int, int]:
        subs = []
        for srv in cl.replicas:
            c = await Client.open(ws_url_of(srv.base_url), f"{srv.name}-sub")
            await c.auth(ADMIN_TOKEN)
            await c.subscribe(name, "s")
            subs.append(c)
        result: dict[str, int] = {}
        done = threading.Event()

        def failover() -> None:
            t = time.monotonic()
            old, new = sentinel.failover()
            timings["promoted"] = time.monotonic() - t
            result["old"], result["new"] = old, new
            wait_until(lambda: subscriber_connections(new) >= len(cl.replicas), 20, 0.02,
                       "both replicas subscribed on the new primary")
            timings["resubscribed"] = time.monotonic() - t
            done.set()

        thread: threading.Thread | None = None
        for i in range(total):
            if i == total // 4:
                thread = threading.Thread(target=failover)
                thread.start()
            data(await asyncio.to_thread(cl.admin(i % 2).post, f"/items/{name}", {"text": str(i)}))
            await asyncio.sleep(0.02)
        assert thread is not None
        await asyncio.to_thread(thread.join, 40)
        assert done.is_set(), "the failover did not complete"
        for c in subs:
            await c.wait_events("s", total, 30)
            await c.close()
        return [(c.name, c.frames) for c in subs], result["old"], result["new"]

    subs, old, new = run(scenario(), 150)
    outbox = read_outbox(cl.pg.host, cl.pg.port, cl.database, name)
    assert len(outbox) == total
    want = expected_from_outbox(outbox)
    checked = 0
    for client, frames in subs:
        r = check_stream(from_frames(frames, name, "s"), want)
        assert r.ok, f"{client}: {r.summary()}"
        checked += r.received
    assert sentinel.role(new) == "master"
    # the sentinels turn the old primary into a replica of the new one (and drop its clients)
    wait_until(lambda: sentinel.role(old) == "slave", 30, 0.1, f":{old} demoted")
    wait_until(lambda: subscriber_connections(old) == 0, 10, 0.05, "no subscriber left on the demoted primary")
    report(f"redis sentinel: SENTINEL FAILOVER :{old} -> :{new} mid-stream of {total} writes (both replicas writing): "
           f"{checked} events checked on 2 subscribers, 0 lost / 0 dup / 0 reordered; new primary named by every "
           f"sentinel after {timings['promoted']:.2f}s, both replicas subscribed there {timings['resubscribed']:.2f}s "
           f"after the command ({timings['resubscribed'] - timings['promoted']:.2f}s after the sentinels agreed)")


def test_a_killed_primary_is_replaced_and_nothing_is_lost(rs: tuple[Cluster, RedisSentinel]) -> None:
    """The sentinels see the SIGKILLed primary down (down-after-milliseconds), agree (quorum 2) and
    promote its replica; writes made meanwhile reach no other replica through Redis and are
    backfilled from the outbox once the subscriptions are back. Leaves the deployment with one node."""
    cl, sentinel = rs
    name = new_collection(cl, "rsk")
    total = 80
    timings: dict[str, float] = {}

    async def scenario() -> tuple[list[tuple[str, list[Any]]], int, int]:
        subs = []
        for srv in cl.replicas:
            c = await Client.open(ws_url_of(srv.base_url), f"{srv.name}-sub")
            await c.auth(ADMIN_TOKEN)
            await c.subscribe(name, "s")
            subs.append(c)
        victim = sentinel.primary_port()
        heir = next(p for p in sentinel.data_ports if p != victim)
        for i in range(total):
            if i == total // 4:
                sentinel.kill(victim)
                timings["killed"] = time.monotonic()
            data(await asyncio.to_thread(cl.admin(i % 2).post, f"/items/{name}", {"text": str(i)}))
            await asyncio.sleep(0.05)
        await asyncio.to_thread(wait_until, lambda: sentinel.role(heir) == "master", 60, 0.05, f":{heir} promoted")
        timings["promoted"] = time.monotonic() - timings["killed"]
        await asyncio.to_thread(
            wait_until, lambda: sum(1 for c in sentinel.client_list(heir) if int(c.get("sub", "0")) > 0
                                    and not c.get("name", "").startswith("sentinel-")) >= len(cl.replicas),
            30, 0.05, "both replicas subscribed on the promoted replica")
        timings["resubscribed"] = time.monotonic() - timings["killed"]
        for c in subs:
            await c.wait_events("s", total, 30)
            await c.close()
        return [(c.name, c.frames) for c in subs], victim, heir

    subs, victim, heir = run(scenario(), 180)
    want = expected_from_outbox(read_outbox(cl.pg.host, cl.pg.port, cl.database, name))
    assert len(want) == total
    for client, frames in subs:
        r = check_stream(from_frames(frames, name, "s"), want)
        assert r.ok, f"{client}: {r.summary()}"
    report(f"redis sentinel: primary :{victim} SIGKILLed mid-stream of {total} writes, :{heir} promoted after "
           f"{timings['promoted']:.1f}s, both replicas subscribed there after {timings['resubscribed']:.1f}s: "
           f"{2 * total} events checked, 0 lost / 0 dup / 0 reordered")


# -- bad configuration -----------------------------------------------------------------------------------


def admin_health(srv: SwitchboardServer) -> dict[str, Any]:
    import requests
    r = requests.get(f"{srv.base_url}/server/health", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5,
                     proxies={"http": "", "https": ""})
    return r.json()


def ready_status(srv: SwitchboardServer) -> tuple[int, Any]:
    import requests
    r = requests.get(f"{srv.base_url}/server/health/ready", timeout=5, proxies={"http": "", "https": ""})
    return r.status_code, r.json()


@pytest.mark.parametrize("case", ["unknown master name", "no reachable sentinel"])
def test_a_sentinel_setup_without_a_primary_serves_logs_why_and_is_not_ready(
        rs: tuple[Cluster, RedisSentinel], case: str) -> None:
    _, sentinel = rs
    if case == "unknown master name":
        env = {**sentinel.env, "REDIS_SENTINEL_NAME": "nosuchmaster"}
        why = 'monitors no master named \\"nosuchmaster\\"'
    else:
        env = {"REDIS_SENTINELS": f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}", "REDIS_SENTINEL_NAME": "m"}
        why = "sentinel 127.0.0.1:"
    srv = SwitchboardServer({**env, "MESSENGER_NAMESPACE": uniq("ns"), "LOG_LEVEL": "info", "LOG_STYLE": "raw"},
                            name="sentinel-bad")
    try:
        srv.bootstrap()
        srv.start()
        wait_until(lambda: "no primary found" in srv.log_path.read_text(errors="replace"), 15, 0.1,
                   "a log line saying why there is no primary")
        lines = [json.loads(line) for line in srv.log_path.read_text(errors="replace").splitlines()
                 if "no primary found" in line and line.startswith("{")]
        assert lines, srv.log_tail()
        assert why in json.dumps(lines[0]), lines[0]
        code, body = ready_status(srv)
        assert code == 503 and body == {"status": "error", "output": "messenger not subscribed yet"}, body
        assert admin_health(srv)["checks"]["messenger:redis"][0]["observedValue"] == "connecting"
        time.sleep(1.5)  # retried with backoff, without crashing or flooding the log
        assert srv.proc is not None and srv.proc.poll() is None
        repeats = srv.log_path.read_text(errors="replace").count("no primary found")
        assert repeats <= 2, f"{repeats} log lines for one unchanged problem"
        report(f"redis sentinel, {case}: serving, /server/health/ready 503, log: {lines[0].get('msg')} "
               f"({lines[0].get('problems', '')[:160]})")
    finally:
        srv.cleanup()


@pytest.mark.parametrize("extra, other", [
    ({"REDIS_CLUSTER": "true"}, "REDIS_CLUSTER"),
    ({"REDIS": "redis://:pw@127.0.0.1:6379"}, "REDIS"),
    ({"REDIS_HOST": "127.0.0.1"}, "REDIS_HOST"),
    ({"WEBSOCKETS_BROKER_URL": "redis://127.0.0.1:6379"}, "WEBSOCKETS_BROKER_URL"),
    ({"MESSENGER_STORE": "memory"}, "MESSENGER_STORE"),
])
def test_sentinels_beside_another_server_exit_78_naming_both(extra: dict[str, str], other: str) -> None:
    srv = SwitchboardServer({"REDIS_SENTINELS": "127.0.0.1:26379", "REDIS_SENTINEL_NAME": "m", **extra},
                            name="sentinel-conflict")
    try:
        t0 = time.monotonic()
        result = srv.cli("serve", check=False, timeout=30)
        assert result.returncode == 78, result.stderr
        assert time.monotonic() - t0 < 10
        line = result.stderr.strip()
        assert "Conflicting settings " in line and "REDIS_SENTINELS" in line and other in line, line
        assert "pw@" not in line
    finally:
        srv.cleanup()
