"""The cluster shape with real processes: 3 `switchboard serve` replicas sharing one
PostgreSQL database and one redis-server (WEBSOCKETS_BROKER_URL), behind nginx rendered from
deploy/nginx.conf (see clusterkit.py).

a. fan-out: subscribers and writers (REST + socket `items`) on every replica; every subscriber
   gets every matching event once, in seq order; permissions hold on every replica
b. a replica holds `<ns>:col:<collection>` only while it has local subscribers (PUBSUB)
c. schema / permission / user-status changes through replica 1 act on replicas 2 and 3 in ~1 s
d. redis-server SIGKILLed and restarted mid-stream: replicas reconnect (health warn → ok) and,
   thanks to the outbox backfill, no subscriber loses, duplicates or reorders an event
e. SIGTERM on a replica behind nginx: its clients get 1001, come back through nginx, get `init`
f. the Directus SDK's wire behaviour through nginx, reconnect included

The module starts its own redis-server and (unless SWITCHBOARD_TEST_PG is set) its own
PostgreSQL; it needs redis-server, nginx and PostgreSQL installed (scripts/test installs them).
Without them it is skipped, unless SWITCHBOARD_REQUIRE_CLUSTER=1 (scripts/test sets it).
"""

from __future__ import annotations

import asyncio
import base64
import os
import random
import signal
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from clusterkit import (
    Client,
    Cluster,
    health,
    redis_state,
    report,
    run,
    running_cluster,
    visible_everywhere,
    wait_until,
    ws_url_of,
)
from consistency import check_stream, expected_from_outbox, from_frames, keys_of, read_outbox, stream_faults
from harness import ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_TOKEN, Api, create_collection, create_user_with_policy, data, uniq

pytestmark = pytest.mark.cluster

HEARTBEAT_S = 2
DRAIN_S = 2
PROPAGATION_S = 1.5  # "within about a second", with a little slack for a loaded CI machine


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    yield from running_cluster("cluster", {
        "WEBSOCKETS_HEARTBEAT_PERIOD": str(HEARTBEAT_S),
        "SHUTDOWN_DRAIN_WINDOW": f"{DRAIN_S}s",
        "METRICS_ENABLED": "true",
    })


def rows_collection(cl: Cluster) -> str:
    name = uniq("clu")
    create_collection(cl.admin(0), name, [{"field": "text", "type": "string"},
                                          {"field": "status", "type": "string"},
                                          {"field": "secret", "type": "string"}])
    visible_everywhere(cl, name, PROPAGATION_S * 3)
    return name


# -- a. fan-out across replicas ----------------------------------------------------------------


def test_every_subscriber_gets_every_event_once_in_order(cluster: Cluster) -> None:
    cl = cluster
    col = rows_collection(cl)
    public = {"status": {"_eq": "public"}}
    info, _ = create_user_with_policy(cl.admin(0), permissions=[
        {"collection": col, "action": "read", "fields": ["id", "text", "status"], "permissions": public}])
    restricted_token = Api(cl.replicas[0].base_url).login(info["email"], info["password"]).token
    # the new permission is known everywhere before anyone subscribes
    for i in range(3):
        wait_until(lambda i=i: cl.replicas[i].api(restricted_token).get(f"/items/{col}").status_code == 200,
                   PROPAGATION_S * 3, 0.02, f"restricted read on replica {i + 1}")

    async def scenario() -> dict[str, Any]:
        subs: list[tuple[str, Client, str]] = []  # (kind, client, uid)
        for i, srv in enumerate(cl.replicas):
            url = ws_url_of(srv.base_url)
            admin_all = await Client.open(url, f"r{i + 1}-admin-all")
            await admin_all.auth(ADMIN_TOKEN)
            await admin_all.subscribe(col, "all")
            admin_pub = await Client.open(url, f"r{i + 1}-admin-public")
            await admin_pub.auth(ADMIN_TOKEN)
            await admin_pub.subscribe(col, "pub", query={"fields": ["id", "text", "status"], "filter": public})
            restricted = await Client.open(url, f"r{i + 1}-restricted")
            await restricted.auth(restricted_token)
            await restricted.subscribe(col, "r")
            subs += [("all", admin_all, "all"), ("public", admin_pub, "pub"), ("restricted", restricted, "r")]

        ops: list[dict[str, Any]] = []  # {"action", "keys", "public_keys"}
        status_of: dict[Any, str] = {}

        async def writer(kind: str, replica: int) -> None:
            rnd = random.Random(f"{kind}{replica}")
            api = cl.admin(replica)
            ws: Client | None = None
            if kind == "ws":
                ws = await Client.open(ws_url_of(cl.replicas[replica].base_url), f"writer-ws-r{replica + 1}")
                await ws.auth(ADMIN_TOKEN)

            async def do(action: str, payload: Any = None, key: Any = None) -> Any:
                await asyncio.sleep(rnd.uniform(0, 0.02))  # interleave the writers
                if ws is not None:
                    msg: dict[str, Any] = {"type": "items", "collection": col, "action": action}
                    if payload is not None:
                        msg["data"] = payload
                    if key is not None:
                        msg["id"] = key
                    reply = await ws.request(msg)
                    assert "data" in reply and reply.get("status") != "error", reply
                    return reply["data"]
                if action == "create":
                    return data(await asyncio.to_thread(api.post, f"/items/{col}", payload))
                if action == "update":
                    return data(await asyncio.to_thread(api.patch, f"/items/{col}/{key}", payload))
                r = await asyncio.to_thread(api.delete, f"/items/{col}/{key}")
                assert r.status_code == 204, r.text
                return key

            def record(action: str, keys: list[Any]) -> None:
                ops.append({"action": action, "keys": frozenset(keys), "writer": f"{kind}@r{replica + 1}",
                            "public_keys": frozenset(k for k in keys if status_of[k] == "public")})

            tag = f"{kind}{replica + 1}"
            created = []
            for j in range(4):
                status = "public" if j % 2 == 0 else "private"
                row = await do("create", {"text": f"{tag}-{j}", "status": status, "secret": "s3cret"})
                status_of[row["id"]] = status
                created.append(row["id"])
                record("create", [row["id"]])
            rows = await do("create", [{"text": f"{tag}-b1", "status": "public", "secret": "x"},
                                       {"text": f"{tag}-b2", "status": "private", "secret": "y"}])
            for row, status in zip(rows, ("public", "private")):
                status_of[row["id"]] = status
            record("create", [r["id"] for r in rows])
            await do("update", {"text": f"{tag}-0 edited"}, created[0])
            record("update", [created[0]])
            await do("update", {"text": f"{tag}-1 edited"}, created[1])
            record("update", [created[1]])
            await do("delete", None, created[2])
            record("delete", [created[2]])
            if ws is not None:
                await ws.close()

        t0 = time.monotonic()
        await asyncio.gather(*(writer(kind, r) for r in range(3) for kind in ("rest", "ws")))
        write_s = time.monotonic() - t0

        n_all = len(ops)
        n_pub = sum(1 for op in ops if op["public_keys"])
        for kind, client, uid in subs:
            await client.wait_events(uid, n_all if kind == "all" else n_pub, 15)
        await asyncio.sleep(0.5)  # anything arriving now is a duplicate
        deliver_s = time.monotonic() - t0
        result = {"ops": ops, "subs": [(k, c.name, c.events(u)) for k, c, u in subs],
                  "write_s": write_s, "deliver_s": deliver_s}
        for _, c, _ in subs:
            await c.close()
        return result

    res = run(scenario(), 90)
    ops = res["ops"]
    expected_all = {(op["action"], op["keys"]) for op in ops}
    expected_pub = {(op["action"], op["public_keys"]) for op in ops if op["public_keys"]}
    assert len(expected_all) == len(ops)

    reference: dict[int, tuple[str, frozenset[Any]]] | None = None
    totals = {"events": 0, "lost": 0, "dup": 0, "reordered": 0}
    for kind, name, events in res["subs"]:
        faults = stream_faults(events)
        got = [(e["event"], keys_of(e)) for e in events]
        want = expected_all if kind == "all" else expected_pub
        lost = len(want - set(got))
        extra = [g for g in got if g not in want]
        totals["events"] += len(events)
        totals["lost"] += lost
        totals["dup"] += faults["dup"] + (len(got) - len(set(got)))
        totals["reordered"] += faults["reordered"]
        assert faults["missing_seq"] == 0, f"{name}: events without seq: {events[:3]!r}"
        assert faults["reordered"] == 0, f"{name}: seq not increasing: {[e['seq'] for e in events]}"
        assert len(got) == len(set(got)) and faults["dup"] == 0, f"{name}: duplicates: {got}"
        assert not extra, f"{name}: events it must not see: {extra}"
        assert lost == 0, f"{name}: missing {sorted(map(str, want - set(got)))}"
        by_seq = {e["seq"]: (e["event"], keys_of(e)) for e in events}
        if kind == "all":
            # every replica tells the same story: same seq → same change
            if reference is None:
                reference = by_seq
            assert by_seq == reference, f"{name} disagrees with replica 1 about seq → change"
        else:
            assert reference is not None
            for seq, (action, keys) in by_seq.items():
                assert reference[seq][0] == action and keys <= reference[seq][1], (name, seq)
            for e in events:
                if e["event"] != "delete":
                    for row in e["data"]:
                        assert set(row) <= {"id", "text", "status"}, f"{name}: field leak {row!r}"
                        assert row["status"] == "public", f"{name}: row leak {row!r}"
    assert reference is not None
    # the same streams against the outbox (the committed truth, by seq)
    outbox = read_outbox(cl.pg.host, cl.pg.port, cl.database, col)
    want_all = expected_from_outbox(outbox)
    want_pub = expected_from_outbox(outbox, match=lambda e: [r["id"] for r in e["rows"] if r.get("status") == "public"])
    assert len(want_all) == len(ops)
    for kind, name, events in res["subs"]:
        r = check_stream(from_frames(events, col), want_all if kind == "all" else want_pub)
        assert r.ok, f"{name} vs outbox: {r.summary()}"
    # spelled out: the restricted subscriber on replica 3 saw exactly the public part of replica 1's writes
    r3 = next(events for kind, name, events in res["subs"] if name == "r3-restricted")
    from_r1 = {(op["action"], op["public_keys"]) for op in ops if op["writer"].endswith("@r1") and op["public_keys"]}
    assert from_r1 and from_r1 <= {(e["event"], keys_of(e)) for e in r3}
    report(f"a. fan-out: {len(ops)} writes (3 replicas x REST+socket) -> {len(res['subs'])} subscribers, "
           f"{totals['events']} events delivered, lost={totals['lost']} dup={totals['dup']} "
           f"reordered={totals['reordered']}; writes {res['write_s']:.2f}s, all delivered {res['deliver_s']:.2f}s")


# -- b. channel subscriptions follow local interest ----------------------------------------------


def test_replica_subscribes_redis_channel_only_while_it_has_subscribers(cluster: Cluster) -> None:
    cl = cluster
    col = rows_collection(cl)
    channel = f"{cl.namespace}:col:{col}"
    assert channel not in cl.redis.channels(f"{cl.namespace}:col:*")

    async def scenario() -> None:
        sub = await Client.open(ws_url_of(cl.replicas[1].base_url), "r2-sub")
        await sub.auth(ADMIN_TOKEN)
        await sub.subscribe(col, "1")
        await asyncio.to_thread(wait_until, lambda: channel in cl.redis.channels(f"{cl.namespace}:col:*"),
                                5, 0.05, f"{channel} in PUBSUB CHANNELS")
        assert cl.redis.numsub(channel) == 1  # replica 2 only: replica 1 writes but has no subscriber
        # replica 1 writes, replica 2's subscriber hears it through Redis — promptly (the periodic
        # outbox check, every 2 s, would also deliver it, but late: this tells the two apart)
        latencies = []
        for n in range(5):
            t0 = time.monotonic()
            row = data(await asyncio.to_thread(cl.admin(0).post, f"/items/{col}", {"text": f"from r1 #{n}"}))
            event = await sub.wait_for(lambda f, k=row["id"]: f.get("event") == "create" and f["data"][0]["id"] == k, 5)
            latencies.append(time.monotonic() - t0)
        latencies.sort()
        assert latencies[2] < 0.5, f"write on r1 → event on r2 took {latencies}: not via Redis pub/sub?"
        await sub.send({"type": "unsubscribe", "uid": "1"})
        await sub.wait_for(lambda f: f.get("event") == "unsubscribe", 5)
        t0 = time.monotonic()
        await asyncio.to_thread(wait_until, lambda: channel not in cl.redis.channels(f"{cl.namespace}:col:*"),
                                5, 0.05, f"{channel} gone from PUBSUB CHANNELS")
        gone_unsub = time.monotonic() - t0
        # again, ending with a closed socket instead of an unsubscribe
        await sub.subscribe(col, "2")
        await asyncio.to_thread(wait_until, lambda: cl.redis.numsub(channel) == 1, 5, 0.05, "resubscribed")
        await sub.close()
        await asyncio.to_thread(wait_until, lambda: cl.redis.numsub(channel) == 0, 5, 0.05, "gone after close")
        report(f"b. PUBSUB: {channel} held only while replica 2 had a subscriber (dropped {gone_unsub * 1000:.0f} ms "
               f"after unsubscribe); r1 write → r2 event (incl. REST round trip) median {latencies[2] * 1000:.0f} ms, "
               f"max {latencies[-1] * 1000:.0f} ms")

    run(scenario(), 40)


# -- c. schema and access changes propagate ------------------------------------------------------


def test_schema_and_access_changes_reach_other_replicas(cluster: Cluster) -> None:
    cl = cluster
    r1 = cl.admin(0)
    timings: dict[str, float] = {}

    # new collection + field through replica 1
    col = uniq("prop")
    t0 = time.monotonic()
    create_collection(r1, col, [{"field": "title", "type": "string"}])
    data(r1.post(f"/fields/{col}", {"field": "extra", "type": "integer"}))
    for i in (1, 2):
        def ready(i: int = i) -> bool:
            r = cl.admin(i).get(f"/fields/{col}/extra")
            return r.status_code == 200 and cl.admin(i).get(f"/items/{col}", params={"fields": "extra"}).status_code == 200
        wait_until(ready, PROPAGATION_S, 0.02, f"new collection + field on replica {i + 1}")
    timings["collection+field"] = time.monotonic() - t0
    row = data(cl.admin(2).post(f"/items/{col}", {"title": "t", "extra": 7}))
    assert row["extra"] == 7

    # a new permission through replica 1
    info, user_r1 = create_user_with_policy(r1)
    token = user_r1.token
    for i in (1, 2):
        r = cl.replicas[i].api(token).get(f"/items/{col}")
        assert r.status_code == 403, f"replica {i + 1} before the grant: {r.status_code} {r.text[:200]}"
    t0 = time.monotonic()
    data(r1.post("/permissions", {"policy": info["policy"], "collection": col, "action": "read", "fields": ["*"]}))
    for i in (1, 2):
        wait_until(lambda i=i: cl.replicas[i].api(token).get(f"/items/{col}").status_code == 200,
                   PROPAGATION_S, 0.02, f"new permission on replica {i + 1}")
    timings["permission"] = time.monotonic() - t0

    # suspending the user through replica 1 closes their socket on replica 3
    async def suspend() -> tuple[int | None, float]:
        ws = await Client.open(ws_url_of(cl.replicas[2].base_url), "r3-user")
        await ws.auth(token)
        await ws.subscribe(col, "1")
        t0 = time.monotonic()
        data(await asyncio.to_thread(r1.patch, f"/users/{info['user']}", {"status": "suspended"}))
        try:
            await asyncio.wait_for(ws.closed.wait(), PROPAGATION_S)
        except asyncio.TimeoutError:
            raise AssertionError(f"suspended user's socket on replica 3 still open after {PROPAGATION_S}s; "
                                 f"frames: {ws.frames[-5:]!r}") from None
        took = time.monotonic() - t0
        await ws.close()
        return ws.close_code, took

    code, took = run(suspend(), 30)
    timings["suspend→socket closed"] = took
    assert code is not None, "socket closed without a close frame"
    for i in (1, 2):
        wait_until(lambda i=i: cl.replicas[i].api(token).get(f"/items/{col}").status_code in (401, 403),
                   PROPAGATION_S, 0.02, f"suspended user refused on replica {i + 1}")
    report("c. propagation to replicas 2+3: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items())
           + f" (close code {code})")


# -- d. Redis killed and restarted mid-stream ----------------------------------------------------


def test_redis_restart_mid_stream_loses_nothing(cluster: Cluster) -> None:
    cl = cluster
    col = rows_collection(cl)
    phases: dict[str, float] = {}

    async def scenario() -> dict[str, Any]:
        subs = []
        for i, srv in enumerate(cl.replicas):
            c = await Client.open(ws_url_of(srv.base_url), f"r{i + 1}-sub")
            await c.auth(ADMIN_TOKEN)
            await c.subscribe(col, "1", query={"fields": ["id", "text"]})
            subs.append(c)
        stop = asyncio.Event()
        stats: dict[str, Any] = {"ok": 0, "failed": 0, "errors": [], "times": []}

        async def writer(replica: int) -> None:
            api = cl.admin(replica)
            for n in range(10_000):
                if stop.is_set():
                    return
                try:
                    r = await asyncio.to_thread(api.post, f"/items/{col}", {"text": f"r{replica + 1}-{n}"})
                    if r.status_code == 200:
                        stats["ok"] += 1
                        stats["times"].append(time.monotonic() - t0)
                    else:
                        stats["failed"] += 1
                        stats["errors"].append(f"{r.status_code} {r.text[:120]}")
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    stats["failed"] += 1
                    stats["errors"].append(repr(exc)[:120])
                await asyncio.sleep(0.03)

        t0 = time.monotonic()
        writers = [asyncio.create_task(writer(i)) for i in range(3)]
        await asyncio.sleep(1.0)
        cl.redis.kill()
        phases["killed_at"] = time.monotonic() - t0
        await asyncio.to_thread(wait_until, lambda: all(redis_state(s) not in (None, "connected") for s in cl.replicas),
                                10, 0.05, "every replica reporting Redis down")
        statuses = [health(s)[1].get("status") for s in cl.replicas]
        assert statuses == ["warn"] * 3, f"health while Redis is down: {statuses}"
        phases["all_warn_after"] = time.monotonic() - t0 - phases["killed_at"]
        await asyncio.sleep(1.5)  # writes keep coming while Redis is away
        cl.redis.start()
        restarted = time.monotonic()
        await asyncio.to_thread(wait_until, lambda: all(redis_state(s) == "connected" for s in cl.replicas),
                                20, 0.05, "every replica reconnected to Redis")
        phases["reconnect_s"] = time.monotonic() - restarted
        phases["back_at"] = time.monotonic() - t0
        statuses = [health(s)[1].get("status") for s in cl.replicas]
        assert statuses == ["ok"] * 3, f"health after Redis is back: {statuses}"
        await asyncio.sleep(1.0)
        stop.set()
        await asyncio.gather(*writers)
        phases["total_s"] = time.monotonic() - t0
        # the database is the truth: every row that exists was committed and must be delivered
        rows = data(await asyncio.to_thread(cl.admin(0).get, f"/items/{col}", params={"limit": -1, "fields": "id"}))
        committed = {r["id"] for r in rows}
        for c in subs:
            await c.wait_events("1", len(committed), 20)
        await asyncio.sleep(0.5)
        out = {"committed": committed, "stats": stats, "subs": [(c.name, c.events("1")) for c in subs]}
        for c in subs:
            await c.close()
        return out

    res = run(scenario(), 90)
    committed = res["committed"]
    during = sum(1 for t in res["stats"]["times"] if phases["killed_at"] <= t <= phases["back_at"])
    assert during > 0, "no write landed while Redis was down: the outage was not exercised"
    # checked against the outbox (the committed truth, by seq), and against the rows that exist
    outbox = expected_from_outbox(read_outbox(cl.pg.host, cl.pg.port, cl.database, col))
    assert {k for e in outbox for k in e.keys} == committed
    lines = []
    worst = {"lost": 0, "dup": 0, "reordered": 0}
    for name, events in res["subs"]:
        f = stream_faults(events, committed)
        r = check_stream(from_frames(events, col), outbox)
        assert r.unexpected == 0 and r.mismatched == 0, f"{name}: {r.summary()}"
        lines.append(f"{name}: {f['events']} events, lost={r.lost} dup={r.dup} reordered={r.reordered}")
        worst["lost"] += max(f["lost"], r.lost)
        worst["dup"] += max(f["dup"], r.dup)
        worst["reordered"] += max(f["reordered"], r.reordered)
    report(f"d. Redis SIGKILL+restart: {len(committed)} rows committed ({res['stats']['ok']} writes ok, "
           f"{res['stats']['failed']} failed, {during} of them while Redis was down), health warn after {phases['all_warn_after'] * 1000:.0f} ms, "
           f"reconnected {phases['reconnect_s'] * 1000:.0f} ms after restart; " + "; ".join(lines))
    assert res["stats"]["failed"] == 0, f"writes failed while Redis was down: {res['stats']['errors'][:5]}"
    assert worst == {"lost": 0, "dup": 0, "reordered": 0}, lines


# -- e. SIGTERM behind nginx -----------------------------------------------------------------------


def test_sigterm_replica_clients_reconnect_through_nginx(cluster: Cluster) -> None:
    cl = cluster
    assert cl.nginx is not None
    col = rows_collection(cl)
    victim = cl.replicas[1]
    lb_ws = ws_url_of(cl.nginx.base_url)

    async def connect_and_subscribe(name: str) -> Client:
        last: Exception | None = None
        for _ in range(10):  # like the SDK: a bounded number of tries, a short pause between them
            try:
                c = await Client.open(lb_ws, name)
                await c.auth(ADMIN_TOKEN)
                await c.subscribe(col, "1")
                return c
            except Exception as exc:  # noqa: BLE001
                last = exc
                await asyncio.sleep(0.3)
        raise AssertionError(f"{name}: could not reconnect through nginx: {last!r}")

    async def scenario() -> dict[str, Any]:
        clients = [await connect_and_subscribe(f"lb-{k}") for k in range(6)]
        t0 = time.monotonic()
        victim.proc.send_signal(signal.SIGTERM)
        # readiness fails at once (503 while draining; refused once the listener is gone)
        code = await asyncio.to_thread(wait_until, lambda: (c := health(victim)[0]) in (0, 503) and (c or -1),
                                       1.0, 0.02, "replica 2 /server/health 503 after SIGTERM")
        code = max(code, 0)
        rc = await asyncio.to_thread(victim.proc.wait, DRAIN_S + 10)
        exit_s = time.monotonic() - t0
        await asyncio.sleep(0.2)
        closed = [c for c in clients if c.closed.is_set()]
        assert closed, "no client was on the SIGTERMed replica (nginx least_conn should spread 6 sockets)"
        codes = sorted({c.close_code for c in closed})
        assert codes == [1001], f"close codes from the draining replica: {codes}"
        survivors = [c for c in clients if not c.closed.is_set()]
        # the closed ones come back through nginx and get `init` again
        back = [await connect_and_subscribe(c.name + "-again") for c in closed]
        assert all(c.frames[-1]["event"] == "init" for c in back)
        row = data(await asyncio.to_thread(cl.admin(0).post, f"/items/{col}", {"text": "after drain"}))
        for c in survivors + back:
            ev = await c.wait_for(lambda f: f.get("event") == "create", 5)
            assert ev["data"][0]["id"] == row["id"]
        for c in clients + back:
            await c.close()
        return {"rc": rc, "exit_s": exit_s, "closed": len(closed), "health": code}

    try:
        res = run(scenario(), 60)
    finally:
        # bring replica 2 back for whatever runs next
        if victim.proc is not None and victim.proc.poll() is not None:
            victim.stop()
            victim.start()
            wait_until(lambda: redis_state(victim) == "connected", 15, 0.1, "replica 2 back on Redis")
    assert res["rc"] == 0, f"replica exit status {res['rc']}"
    report(f"e. SIGTERM: {res['closed']}/6 nginx clients were on replica 2 and got 1001; they reconnected and got "
           f"init; replica exited 0 after {res['exit_s']:.2f}s (drain window {DRAIN_S}s, health {res['health']})")


def raw_upgrade_status(port: int) -> int:
    """Status of a bare WebSocket upgrade request (no redirect following, unlike the websockets
    library: browsers and the SDK's `ws` fail on a 3xx)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /websocket HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(1024)
            if not chunk:
                break
            head += chunk
        return int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0


def test_websocket_upgrades_through_nginx_after_rest_traffic(cluster: Cluster) -> None:
    """nginx keeps idle keepalive connections to the replicas for REST; an upgrade must never be
    sent on one of those (Hummingbird upgrades only the first request of a connection and answers
    a later one with 307), so deploy/nginx.conf proxies /websocket through an upstream without
    keepalive. Found by switchboard-bench: ~1 refused upgrade per idle upstream connection."""
    cl = cluster
    assert cl.nginx is not None
    port = cl.nginx.port

    def rest_burst() -> None:
        # concurrent REST through the balancer leaves several idle upstream connections behind
        with ThreadPoolExecutor(8) as pool:
            assert all(code == 200 for code in pool.map(lambda _: cl.lb.get("/server/ping").status_code, range(48)))

    statuses: list[int] = []
    for _ in range(3):
        rest_burst()
        statuses += [raw_upgrade_status(port) for _ in range(12)]
    assert statuses == [101] * len(statuses), f"upgrade statuses through nginx after REST traffic: {statuses}"


# -- f. the Directus SDK's wire behaviour through nginx ---------------------------------------------


def test_directus_sdk_wire_behaviour_through_nginx(cluster: Cluster) -> None:
    cl = cluster
    assert cl.nginx is not None
    col = rows_collection(cl)
    lb = Api(cl.nginx.base_url)
    lb_ws = ws_url_of(cl.nginx.base_url)

    async def sdk_connect(token: str) -> Client:
        c = await Client.open(lb_ws, "sdk")
        # the SDK sends auth first, without a uid, and wants auth ok within 1 s
        t0 = time.monotonic()
        await c.send({"type": "auth", "access_token": token})
        reply = await c.wait_for(lambda f: f.get("type") == "auth", 1.0)
        assert reply == {"type": "auth", "status": "ok"} and time.monotonic() - t0 < 1.0, reply
        return c

    async def sdk_subscribe(c: Client) -> None:
        start = len(c.frames)
        await c.send({"type": "subscribe", "collection": col, "query": {"fields": "id,text"}, "uid": "1"})
        await c.send({"type": "subscribe", "collection": col, "event": "create", "uid": "2"})
        init1 = await c.wait_for(lambda f: f.get("uid") == "1", 5, start)
        init2 = await c.wait_for(lambda f: f.get("uid") == "2", 5, start)
        assert init1["type"] == "subscription" and init1["event"] == "init" and isinstance(init1["data"], list), init1
        assert init2 == {"type": "subscription", "event": "init", "uid": "2"}, init2

    async def scenario() -> dict[str, Any]:
        login = await asyncio.to_thread(lb.post, "/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        token = data(login)["access_token"]
        c = await sdk_connect(token)
        await sdk_subscribe(c)
        row = data(await asyncio.to_thread(cl.admin(2).post, f"/items/{col}", {"text": "one"}))
        e1 = await c.wait_for(lambda f: f.get("uid") == "1" and f.get("event") == "create", 5)
        e2 = await c.wait_for(lambda f: f.get("uid") == "2" and f.get("event") == "create", 5)
        assert e1["data"] == [{"id": row["id"], "text": "one"}], e1
        assert e2["data"][0]["id"] == row["id"] and "status" not in e1 and "status" not in e2
        # idle across two heartbeats, answering pings with pong: the socket (through nginx) stays open
        await asyncio.sleep(HEARTBEAT_S * 2 + 0.5)
        assert not c.closed.is_set() and c.pings >= 2, f"pings {c.pings}, closed {c.close_code}"
        pings = c.pings
        # reconnect: a new socket through nginx, auth first, the same uids again
        await c.close()
        c2 = await sdk_connect(token)
        await sdk_subscribe(c2)
        row2 = data(await asyncio.to_thread(cl.admin(0).post, f"/items/{col}", {"text": "two"}))
        await c2.wait_for(lambda f: f.get("uid") == "1" and f.get("event") == "create", 5)
        await c2.wait_for(lambda f: f.get("uid") == "2" and f.get("event") == "create", 5)
        await asyncio.sleep(0.3)
        got = [(f["uid"], f["event"]) for f in c2.frames if f.get("type") == "subscription"]
        # inits first; then one create per subscription (their relative order is not specified)
        assert got[:2] == [("1", "init"), ("2", "init")] and sorted(got[2:]) == [("1", "create"), ("2", "create")], got
        assert c2.events("1")[0]["data"] == [{"id": row2["id"], "text": "two"}]
        await c2.close()
        return {"pings": pings}

    res = run(scenario(), 60)
    report(f"f. SDK wire behaviour through nginx: auth-first handshake, uids '1'/'2', {res['pings']} ping/pong, "
           f"reconnect + resubscribe OK")


# -- g. GraphQL subscriptions across replicas --------------------------------------------------


def test_graphql_subscriber_on_another_replica_gets_every_write_in_order(cluster: Cluster) -> None:
    """A `gql` client (graphql-transport-ws) on replica 2 and one on replica 3 through nginx see the
    writes made on replica 1, each once, in seq order."""
    from gql import Client as GqlClient, gql
    from gql.transport.websockets import WebsocketsTransport

    cl = cluster
    col = rows_collection(cl)
    writes = 40

    async def subscriber(url: str, started: asyncio.Event) -> list[dict[str, Any]]:
        transport = WebsocketsTransport(url=url, init_payload={"access_token": ADMIN_TOKEN},
                                        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
                                        connect_args={"proxy": None})
        got: list[dict[str, Any]] = []
        async with GqlClient(transport=transport, fetch_schema_from_transport=False) as session:
            doc = gql(f"subscription {{ {col}_mutated(event: create) {{ key data {{ id text }} }} }}")
            async for result in session.subscribe(doc):
                got.append(result[f"{col}_mutated"])
                started.set()
                if result[f"{col}_mutated"]["data"]["text"] == "last":
                    return got
        return got

    async def scenario() -> tuple[list[Any], list[list[dict[str, Any]]]]:
        urls = [cl.replicas[1].base_url.replace("http://", "ws://", 1) + "/graphql",
                cl.nginx.base_url.replace("http://", "ws://", 1) + "/graphql"]
        events = [asyncio.Event() for _ in urls]
        tasks = [asyncio.create_task(subscriber(u, e)) for u, e in zip(urls, events)]
        api = cl.admin(0)
        for _ in range(100):  # a subscription has no reply: probe until both see writes
            await asyncio.to_thread(api.post, f"/items/{col}", {"text": "probe"})
            await asyncio.sleep(0.1)
            if all(e.is_set() for e in events):
                break
        keys = [data(await asyncio.to_thread(api.post, f"/items/{col}", {"text": f"m{i}"}))["id"]
                for i in range(writes)]
        keys.append(data(await asyncio.to_thread(api.post, f"/items/{col}", {"text": "last"}))["id"])
        return keys, list(await asyncio.wait_for(asyncio.gather(*tasks), 20))

    keys, streams = run(scenario(), 60)
    for stream in streams:
        seen = [g for g in stream if g["data"]["text"] != "probe"]
        assert [int(g["key"]) for g in seen] == keys, seen
        assert all(g["data"]["id"] == g["key"] for g in seen)
    report(f"g. GraphQL subscribers on replica 2 and through nginx: {writes + 1} writes on replica 1 each seen "
           f"once, in order")


# -- h. `live` window exits on every replica -------------------------------------------------------


def test_each_replica_tells_its_own_live_subscribers_when_a_now_window_passes(cluster: Cluster) -> None:
    """[extension] a row written on replica 1 leaves a `$NOW(-2 seconds)` window with no write:
    subscribers on replicas 1 and 2 (two on replica 2, one class) each get one `left` from their
    own replica, within a second of the exit."""
    from datetime import datetime, timezone

    cl = cluster
    col = uniq("win")
    create_collection(cl.admin(0), col, [{"field": "name", "type": "string"}, {"field": "seen", "type": "timestamp"}])
    visible_everywhere(cl, col, PROPAGATION_S * 3)
    query = {"fields": ["id"], "filter": {"seen": {"_gte": "$NOW(-2 seconds)"}}}

    async def scenario() -> tuple[Any, float, list[list[Any]]]:
        clients = [await Client.open(ws_url_of(cl.replicas[i].base_url), f"r{i + 1}-{n}")
                   for i, n in ((0, "a"), (1, "a"), (1, "b"))]
        for c in clients:
            await c.auth(ADMIN_TOKEN)
        seen = time.time()
        stamp = datetime.fromtimestamp(seen, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        row = data(await asyncio.to_thread(cl.admin(0).post, f"/items/{col}", {"name": "x", "seen": stamp}))
        for c in clients:
            await c.subscribe(col, "w", live=True, query=query)
        for c in clients:
            await c.wait_for(lambda f: f.get("reason") == "left", 5)
        took = time.time() - (seen + 2)
        await asyncio.sleep(1.0)  # nothing more: no replica tells another's subscribers
        frames = [[f for f in c.frames if f.get("reason") == "left"] for c in clients]
        for c in clients:
            await c.close()
        return row["id"], took, frames

    key, took, frames = run(scenario(), 30)
    for lefts in frames:
        assert lefts == [{"type": "subscription", "event": "delete", "data": [key], "reason": "left", "uid": "w"}], frames
    assert took < 1.0 + 0.3, took
    report(f"h. live $NOW window exit on replicas 1 and 2: one left per subscriber, last {took * 1000:.0f} ms after the exit")


def test_each_replica_refreshes_its_own_subscribers_when_a_related_row_changes(cluster: Cluster) -> None:
    """A subscriber to posts with `author.email` on replicas 2 and 3 (neither has a subscriber on
    authors); the author is renamed through replica 1: each gets one `update` of the author's
    posts (no `seq`) from its own replica, with the new email, and a subscriber of a post that
    does not lead there gets nothing."""
    from harness import create_field

    cl = cluster
    admin = cl.admin(0)
    authors, posts = uniq("cauth"), uniq("cposts")
    create_collection(admin, authors, [{"field": "email", "type": "string"}])
    create_collection(admin, posts, [{"field": "title", "type": "string"}])
    for col in (authors, posts):
        visible_everywhere(cl, col, PROPAGATION_S * 3)
    create_field(admin, posts, "author", "integer", meta={"special": ["m2o"]})
    # Replica 1 takes the relation once its schema shows the new field (a reload may be under way).
    wait_until(lambda: admin.get(f"/items/{posts}", params={"fields": "author", "limit": 1}).status_code == 200,
               PROPAGATION_S * 3, 0.05, f"{posts}.author on replica 1")
    data(admin.post("/relations", {"collection": posts, "field": "author", "related_collection": authors}))
    wait_until(lambda: all(cl.admin(i).get(f"/items/{posts}", params={"fields": "author.email", "limit": 1})
                           .status_code == 200 for i in range(len(cl.replicas))),
               PROPAGATION_S * 3, 0.05, f"{posts}.author relation everywhere")
    ann = data(admin.post(f"/items/{authors}", {"email": "ann@x"}))
    bob = data(admin.post(f"/items/{authors}", {"email": "bob@x"}))
    p1 = data(admin.post(f"/items/{posts}", {"title": "one", "author": ann["id"]}))
    data(admin.post(f"/items/{posts}", {"title": "two", "author": bob["id"]}))
    query = {"fields": ["id", "author.email"]}

    async def scenario() -> list[list[Any]]:
        clients = [await Client.open(ws_url_of(cl.replicas[i].base_url), f"r{i + 1}") for i in (1, 2)]
        for c in clients:
            await c.auth(ADMIN_TOKEN)
            await c.subscribe(posts, "p", query=query)
        await asyncio.sleep(0.5)  # the replicas' channel subscriptions to authors are confirmed
        await asyncio.to_thread(cl.admin(0).patch, f"/items/{authors}/{ann['id']}", {"email": "ann@y"})
        for c in clients:
            await c.wait_events("p", 1, 5)
        await asyncio.sleep(1.0)  # nothing more
        events = [c.events("p") for c in clients]
        for c in clients:
            await c.close()
        return events

    events = run(scenario(), 30)
    for got in events:
        assert got == [{"type": "subscription", "event": "update", "uid": "p",
                        "data": [{"id": p1["id"], "author": {"email": "ann@y"}}]}], events
    report("i. related row renamed on replica 1: one update of its posts on each of replicas 2 and 3")


def scrape(cl: Cluster, i: int) -> dict[str, float]:
    r = cl.admin(i).get("/metrics")
    assert r.status_code == 200, r.text
    out: dict[str, float] = {}
    for line in r.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_metrics_show_the_messenger_and_events_from_other_replicas(cluster: Cluster) -> None:
    cl = cluster
    col = rows_collection(cl)

    async def scenario() -> None:
        sub = await Client.open(ws_url_of(cl.replicas[1].base_url), "r2-metrics")
        await sub.auth(ADMIN_TOKEN)
        await sub.subscribe(col, "m")
        before = await asyncio.to_thread(scrape, cl, 1)
        published = (await asyncio.to_thread(scrape, cl, 0)).get("switchboard_messenger_published_total", 0)
        for n in range(3):
            row = data(await asyncio.to_thread(cl.admin(0).post, f"/items/{col}", {"text": f"metrics #{n}"}))
            await sub.wait_for(lambda f, k=row["id"]: f.get("event") == "create" and f["data"][0]["id"] == k, 5)
        after = await asyncio.to_thread(scrape, cl, 1)
        received = "switchboard_realtime_events_received_total"
        assert after[received] >= before.get(received, 0) + 3
        latency = "switchboard_realtime_fanout_latency_seconds_count"
        assert after[latency] >= before.get(latency, 0) + 3
        assert (await asyncio.to_thread(scrape, cl, 0))["switchboard_messenger_published_total"] >= published + 3
        await sub.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))
    s = scrape(cl, 1)
    assert s["switchboard_messenger_connected"] == 1
    assert s['switchboard_messenger_state{state="connected"}'] == 1
    assert s['switchboard_messenger_state{state="disconnected"}'] == 0
    assert s["switchboard_db_connections_max"] >= 1
