"""Fault tests for consistent delivery (issue 6), real processes: 3 `switchboard serve` replicas
sharing one PostgreSQL database and one redis-server (clusterkit.py), writers and subscribers on
every replica, every stream checked against the outbox with consistency.py.

(1) redis-server SIGKILLed and restarted mid-stream: covered by test_cluster.py
    `test_redis_restart_mid_stream_loses_nothing` (d), which uses the same outbox checker — not
    repeated here.
(2) a replica dies right after commit, before publish (test-only hook
    SWITCHBOARD_FAULT_CRASH_AFTER_COMMIT on replica 3): subscribers on replicas 1 and 2 still get
    that event exactly once, in order — through the periodic max(seq) check (nothing follows it)
    and through gap detection (a later event follows at once); the extra latency is measured.
(3) a subscriber disconnects, writes continue, it resumes on another replica with `after`:
    `init` + `resumed: true`, exactly the missed events in order, then live; `after` older than
    the outbox holds → a normal `init` with data and `resumed: false`.
(4) `live: true` with a filter: a row leaving the filter → delete + reason "left"; coming back → update.

Every scenario is bounded by asyncio timeouts; the module needs redis-server, nginx, PostgreSQL.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from clusterkit import (
    Client,
    Cluster,
    redis_state,
    report,
    run,
    running_cluster,
    visible_everywhere,
    wait_until,
    ws_url_of,
)
from consistency import (
    check_stream,
    expected_from_outbox,
    format_results,
    from_frames,
    psql_exec,
    read_outbox,
    totals,
)
from harness import ADMIN_TOKEN, create_collection, data, uniq

pytestmark = pytest.mark.cluster

CRASH_COLLECTION = f"crash_{uuid.uuid4().hex[:10]}"
PERIODIC_CHECK_S = 2.0  # the replicas' max(seq) check period (server fact)


class TimedClient(Client):
    """clusterkit.Client that also records the arrival time (monotonic) of every frame."""

    def __init__(self, conn: Any, name: str = "client"):
        self.times: list[float] = []
        super().__init__(conn, name)

    def _received(self, frame: Any) -> None:
        self.times.append(time.monotonic())

    def arrival_of_seq(self, uid: str, seq: int) -> float | None:
        for f, t in zip(self.frames, self.times):
            if f.get("uid") == uid and f.get("seq") == seq and f.get("event") in ("create", "update", "delete"):
                return t
        return None


async def open_sub(url: str, name: str, collection: str, uid: str = "1", **extra: Any) -> TimedClient:
    c = await TimedClient.open(url, name)
    await c.auth(ADMIN_TOKEN)
    await c.subscribe(collection, uid, **extra)
    return c


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    def crash_hook(cl: Cluster) -> None:
        # replica 3 dies right after committing a write to CRASH_COLLECTION (before publishing it)
        cl.replicas[2].env["SWITCHBOARD_FAULT_CRASH_AFTER_COMMIT"] = CRASH_COLLECTION

    yield from running_cluster(
        "faults (replica3 with the crash hook)", {"SWITCHBOARD_OUTBOX_MAX_EVENTS": "100", "SHUTDOWN_DRAIN_WINDOW": "1s"},
        crash_hook)


def make_collection(cl: Cluster, name: str | None = None) -> str:
    name = name or uniq("flt")
    create_collection(cl.admin(0), name, [{"field": "text", "type": "string"}, {"field": "status", "type": "string"}])
    visible_everywhere(cl, name, 5)
    return name


def outbox(cl: Cluster, col: str) -> list[dict[str, Any]]:
    return read_outbox(cl.pg.host, cl.pg.port, cl.database, col)


# -- (2) a replica dies between commit and publish ------------------------------------------------


def test_replica_crash_after_commit_event_still_delivered_once_in_order(cluster: Cluster) -> None:
    cl = cluster
    col = make_collection(cl, CRASH_COLLECTION)
    victim = cl.replicas[2]

    async def post(replica: int, text: str) -> tuple[float, Any]:
        t0 = time.monotonic()
        r = await asyncio.to_thread(cl.admin(replica).post, f"/items/{col}", {"text": text})
        return t0, data(r)["id"]

    async def crash_write(text: str) -> float:
        """A write through replica 3: committed, then the replica exits 137 before publishing."""
        t0 = time.monotonic()
        try:
            r = await asyncio.to_thread(cl.admin(2).post, f"/items/{col}", {"text": text})
            raise AssertionError(f"replica 3 answered the crash write: {r.status_code} {r.text[:200]}")
        except requests.RequestException:
            pass
        rc = await asyncio.to_thread(victim.proc.wait, 10)
        assert rc in (137, -9), f"replica 3 exit status {rc} (expected the fault hook's 137)"
        return t0

    def seq_of_text(text: str) -> int:
        hits = [e["seq"] for e in outbox(cl, col) if any(r.get("text") == text for r in e.get("rows", []))]
        assert len(hits) == 1, f"outbox events for {text!r}: {hits}"
        return hits[0]

    async def scenario() -> dict[str, Any]:
        subs = [await open_sub(ws_url_of(cl.replicas[i].base_url), f"r{i + 1}-sub", col) for i in (0, 1)]
        doomed = await open_sub(ws_url_of(victim.base_url), "r3-sub", col)  # dies with its replica
        write_times: dict[int, float] = {}  # seq -> write start

        async def normal_writes(n: int, tag: str) -> None:
            for j in range(n):
                replica = j % 2  # replicas 1 and 2 write
                t0, key = await post(replica, f"{tag}-{j}")
                write_times[seq_of_key(key)] = t0

        keyseq: dict[Any, int] = {}

        def seq_of_key(key: Any) -> int:
            if key not in keyseq:
                for e in outbox(cl, col):
                    for k in e.get("keys", []):
                        keyseq[k] = e["seq"]
            return keyseq[key]

        await normal_writes(10, "before")
        # (a) crash, then silence: only the periodic max(seq) check can find the event
        t_crash1 = await crash_write("crash-periodic")
        crash1 = seq_of_text("crash-periodic")
        write_times[crash1] = t_crash1
        for c in subs:
            await c.wait_for(lambda f: f.get("seq") == crash1, PERIODIC_CHECK_S * 3 + 2)
        await normal_writes(6, "between")
        # (b) bring replica 3 back, crash it again, and write through replica 1 at once: gap detection
        victim.stop()
        victim.start()
        await asyncio.to_thread(wait_until, lambda: redis_state(victim) == "connected", 15, 0.1, "replica 3 back on Redis")
        doomed2 = await open_sub(ws_url_of(victim.base_url), "r3-sub-2", col)
        t_crash2 = await crash_write("crash-gap")
        t_next, key_next = await post(0, "right-after-crash")
        crash2 = seq_of_text("crash-gap")
        write_times[crash2] = t_crash2
        write_times[seq_of_key(key_next)] = t_next
        await normal_writes(10, "after")
        last = max(e["seq"] for e in outbox(cl, col))
        for c in subs:
            await c.wait_for(lambda f: f.get("seq") == last, 10)
        await asyncio.sleep(PERIODIC_CHECK_S + 0.5)  # a late duplicate from a backfill would land now
        out = {"subs": subs, "write_times": write_times, "crash": (crash1, crash2), "last": last,
               "doomed": [doomed.close_code is not None or doomed.closed.is_set(), doomed2.closed.is_set()]}
        for c in subs + [doomed, doomed2]:
            await c.close()
        # leave replica 3 running for the tests that follow
        victim.stop()
        victim.start()
        await asyncio.to_thread(wait_until, lambda: redis_state(victim) == "connected", 15, 0.1, "replica 3 back")
        return out

    res = run(scenario(), 75)
    want = expected_from_outbox(outbox(cl, col))
    assert [e.seq for e in want] == list(range(1, res["last"] + 1)), "outbox seqs not contiguous"
    results = {c.name: check_stream(from_frames(c.frames, col, "1"), want) for c in res["subs"]}
    crash1, crash2 = res["crash"]
    lat: dict[str, list[float]] = {}
    for c in res["subs"]:
        normal, extra = [], {}
        for seq, t0 in res["write_times"].items():
            t = c.arrival_of_seq("1", seq)
            if t is None:
                continue
            if seq in (crash1, crash2):
                extra[seq] = t - t0
            else:
                normal.append(t - t0)
        med = statistics.median(normal)
        lat[c.name] = [med, extra.get(crash1, float("nan")), extra.get(crash2, float("nan"))]
    worst_extra = max(max(v[1], v[2]) - v[0] for v in lat.values())
    t = totals(results)
    report(f"(2) replica crash after commit (seq {crash1}: nothing follows -> periodic check; seq {crash2}: "
           f"next write at once -> gap detection): " + format_results(results))
    report("(2) latency write->event: " + "; ".join(
        f"{n}: normal median {v[0] * 1000:.0f} ms, crash/periodic {v[1] * 1000:.0f} ms, crash/gap {v[2] * 1000:.0f} ms"
        for n, v in lat.items()) + f"; worst extra latency a backfill added: {worst_extra * 1000:.0f} ms")
    print(f"(2) totals {t}")
    for name, r in results.items():
        assert r.ok, f"{name}: {r.summary()}"


# -- (3) a subscriber disconnects and resumes with `after` -------------------------------------------


def test_resume_with_after_replays_exactly_the_missed_events(cluster: Cluster) -> None:
    cl = cluster
    col = make_collection(cl)

    async def scenario() -> dict[str, Any]:
        stayers = [await open_sub(ws_url_of(s.base_url), f"r{i + 1}-stayer", col) for i, s in enumerate(cl.replicas)]
        leaver = await open_sub(ws_url_of(cl.replicas[0].base_url), "leaver", col)
        stop = asyncio.Event()
        written = {"n": 0}

        async def writer(replica: int, limit: int) -> None:
            for n in range(limit):
                if stop.is_set():
                    return
                data(await asyncio.to_thread(cl.admin(replica).post, f"/items/{col}", {"text": f"w{replica}-{n}"}))
                written["n"] += 1
                await asyncio.sleep(0.005)

        # 9 events the leaver sees live
        await asyncio.gather(*(writer(i, 3) for i in range(3)))
        await leaver.wait_events("1", 9, 5)
        before = list(leaver.frames)
        last_seen = max(f["seq"] for f in leaver.events("1"))
        await leaver.close()
        # 30 events while it is away, from all replicas
        await asyncio.gather(*(writer(i, 10) for i in range(3)))
        missed_upto = max(e["seq"] for e in outbox(cl, col))
        assert missed_upto - last_seen == 30
        # writes keep coming while it resumes (on another replica): the replay/live seam is exercised
        bg = [asyncio.create_task(writer(i, 1000)) for i in range(3)]
        await asyncio.sleep(0.05)
        back = await TimedClient.open(ws_url_of(cl.replicas[1].base_url), "leaver-resumed")
        await back.auth(ADMIN_TOKEN)
        start = len(back.frames)
        await back.send({"type": "subscribe", "collection": col, "uid": "1", "after": last_seen})
        init = await back.wait_for(lambda f: f.get("uid") == "1", 5, start)
        await asyncio.sleep(0.6)
        stop.set()
        await asyncio.gather(*bg)
        last = max(e["seq"] for e in outbox(cl, col))
        for c in stayers + [back]:
            await c.wait_for(lambda f: f.get("seq") == last, 10)
        await asyncio.sleep(0.5)
        out = {"init": init, "before": before, "after_frames": list(back.frames), "last_seen": last_seen,
               "missed_upto": missed_upto, "stayers": [(c.name, list(c.frames)) for c in stayers]}
        for c in stayers + [back]:
            await c.close()
        return out

    res = run(scenario(), 40)
    init = res["init"]
    assert init == {"type": "subscription", "event": "init", "resumed": True, "uid": "1"}, init
    want = expected_from_outbox(outbox(cl, col))
    results = {name: check_stream(from_frames(frames, col, "1"), want) for name, frames in res["stayers"]}
    # the leaver's whole story: what it saw before + what it got after resuming
    resumed_part = from_frames(res["after_frames"], col, "1")
    results["leaver(before+resumed)"] = check_stream(from_frames(res["before"], col, "1") + resumed_part, want)
    # the replay is exactly the 30 missed ones, first, in order
    assert [e.seq for e in resumed_part[:30]] == list(range(res["last_seen"] + 1, res["missed_upto"] + 1))
    live_after = len(resumed_part) - 30
    report(f"(3) resume with after={res['last_seen']}: init resumed=true, replayed 30 missed, then {live_after} live "
           f"(writes continued during the resume): " + format_results(results))
    print(f"(3) totals {totals(results)}")
    for name, r in results.items():
        assert r.ok, f"{name}: {r.summary()}"


def test_resume_after_trimmed_outbox_gives_normal_init(cluster: Cluster) -> None:
    cl = cluster
    col = make_collection(cl)
    n = 120  # > SWITCHBOARD_OUTBOX_MAX_EVENTS=100
    api = cl.admin(0)
    # a few batch creates keep this quick: one event per batch, so write rows one by one for 120 seqs
    for i in range(n):
        data(api.post(f"/items/{col}", {"text": f"t{i}"}))
    box = outbox(cl, col)
    assert len(box) == n
    # simulate the trim (it runs every 60 s): keep the newest 100
    psql_exec(cl.pg.host, cl.pg.port, cl.database,
              f"DELETE FROM switchboard_outbox WHERE collection = '{col}' AND seq <= {n - 100}")
    assert min(e["seq"] for e in outbox(cl, col)) == n - 100 + 1

    async def scenario() -> tuple[Any, Any, list[Any]]:
        c = await TimedClient.open(ws_url_of(cl.replicas[2].base_url), "old-resumer")
        await c.auth(ADMIN_TOKEN)
        start = len(c.frames)
        await c.send({"type": "subscribe", "collection": col, "uid": "1", "after": 5, "query": {"limit": -1}})
        old = await c.wait_for(lambda f: f.get("uid") == "1", 5, start)
        # and an `after` still inside the outbox resumes (nothing missed: no replay)
        start = len(c.frames)
        await c.send({"type": "subscribe", "collection": col, "uid": "2", "after": n - 50})
        recent = await c.wait_for(lambda f: f.get("uid") == "2", 5, start)
        await c.wait_events("2", 50, 5)
        replay = [f["seq"] for f in c.events("2")]
        await c.close()
        return old, recent, replay

    old, recent, replay = run(scenario(), 20)
    assert old.get("event") == "init" and old.get("resumed") is False, old
    assert isinstance(old.get("data"), list) and len(old["data"]) == n, f"init data rows: {len(old.get('data') or [])}"
    assert recent == {"type": "subscription", "event": "init", "resumed": True, "uid": "2"}, recent
    assert replay == list(range(n - 50 + 1, n + 1)), replay
    report(f"(3b) after=5 with the outbox trimmed to seq {n - 99}..{n}: init resumed=false with {len(old['data'])} rows; "
           f"after={n - 50}: resumed=true + {len(replay)} replayed")


# -- (4) live: rows leaving / entering the filter ---------------------------------------------------


@pytest.mark.parametrize("op", ["_eq", "_in"])
def test_live_filter_leave_and_return(cluster: Cluster, op: str) -> None:
    """`_eq` filters are indexed (QueryClassIndex pins status=open), `_in` ones are not: both must behave alike."""
    cl = cluster
    col = make_collection(cl)
    open_filter = {"filter": {"status": {op: "open" if op == "_eq" else ["open"]}}}

    async def scenario() -> dict[str, Any]:
        live = await open_sub(ws_url_of(cl.replicas[1].base_url), "live", col, query=open_filter, live=True)
        plain = await open_sub(ws_url_of(cl.replicas[2].base_url), "plain", col, query=open_filter)
        api = cl.admin(0)
        row = data(await asyncio.to_thread(api.post, f"/items/{col}", {"text": "a", "status": "open"}))
        key = row["id"]
        await asyncio.to_thread(api.patch, f"/items/{col}/{key}", {"status": "closed"})
        await asyncio.to_thread(api.patch, f"/items/{col}/{key}", {"text": "b"})  # still closed: nothing
        await asyncio.to_thread(api.patch, f"/items/{col}/{key}", {"status": "open"})
        marker = data(await asyncio.to_thread(api.post, f"/items/{col}", {"text": "end", "status": "open"}))
        for c in (live, plain):
            await c.wait_for(lambda f: f.get("event") == "create" and f["data"][0]["id"] == marker["id"], 5)
        await asyncio.sleep(0.3)
        out = {"key": key, "marker": marker["id"], "live": live.events("1"), "plain": plain.events("1")}
        await live.close()
        await plain.close()
        return out

    res = run(scenario(), 30)
    key = res["key"]
    got = [(e["event"], e.get("reason"), sorted(e["data"]) if e["event"] == "delete" else [r["id"] for r in e["data"]])
           for e in res["live"]]
    report(f"(4) live filter status {op} open, frames: {[(g[0], g[1]) for g in got]}")
    assert got == [("create", None, [key]), ("delete", "left", [key]), ("update", None, [key]),
                   ("create", None, [res["marker"]])], (got, res["live"])
    leave = res["live"][1]
    assert leave["data"] == [key] and isinstance(leave.get("seq"), int), leave
    assert res["live"][2]["data"][0]["status"] == "open"
    seqs = [e["seq"] for e in res["live"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    plain = [(e["event"], e.get("reason")) for e in res["plain"]]
    report(f"(4) same filter without live ({op}): {plain}")
