"""Chaos suite (issue 11): Switchboard's delivery promise checked under faults, with real processes.

A 3-replica cluster (PostgreSQL + redis-server + nginx, from clusterkit) carries continuous load:
REST writers on replicas 1 and 2 (each creates rows and moves every third one of its rows to a
random room) and an `items`-over-the-socket writer on replica 3, subscribers on every replica: plain
ones, and one `live` subscriber per replica whose filter is `room _eq 1`. Each round makes a fresh
collection, starts the load, injects one fault, stops the writers and waits for the streams to
settle. Then, per round:

- every acknowledged write (2xx, or an `items` reply) must be in the outbox (the committed truth):
  its row, with the text it wrote;
- every subscriber must have received every outbox event of the collection exactly once and in seq
  order (lost / duplicated / reordered / unexpected / mismatched, by consistency.py), across its
  reconnects: a subscriber whose socket closes (replica killed or drained, 1011, 1013) reconnects
  through nginx and resumes with `after` = the last seq it saw. A `live` subscriber's expected
  stream is the outbox seen through its filter: creates and updates of rows in room 1, and a
  `delete` with `reason: "left"` (that update's seq) for a row an update moved out of it, also
  when the update is replayed after a resume;
- the worst delivery delay (write acknowledged → event at a subscriber) is reported;
- while Redis is frozen, every write must still be answered, and its replica's own subscribers must
  get the event, within FREEZE_BOUND_S.

Faults: pg-restart (immediate stop + start), redis-restart (SIGKILL + start), both (Redis down, then
PostgreSQL stopped, Redis back, PostgreSQL back; twice), redis-freeze (SIGSTOP / SIGCONT), replica-kill
(kill -9 mid-stream, alternating replicas 2 and 3), replica-drain (SIGTERM; clients get 1001 and
resume elsewhere).

Everything listens on 127.0.0.1; every wait is bounded in time and iterations; only processes
started here are signalled. Run through scripts/chaos.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import requests
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "IntegrationTests"))

from clusterkit import Cluster, Postgres, Redis, missing_tools, redis_state, visible_everywhere, wait_until, ws_url_of  # noqa: E402
from consistency import Ev, check_stream, expected_from_outbox, read_outbox  # noqa: E402
from harness import ADMIN_TOKEN, create_collection  # noqa: E402

FAULTS = ["pg-restart", "redis-restart", "both", "redis-freeze", "replica-kill", "replica-drain"]
FREEZE_BOUND_S = 1.0
WRITE_TIMEOUT_S = 10.0
SETTLE_TIMEOUT_S = 40.0
ROUND_TIMEOUT_S = 180.0


def now() -> float:
    return time.monotonic()


# -- load -------------------------------------------------------------------------------------------


@dataclass
class Write:
    writer: str
    replica: int  # 1-based replica the write was sent to (0: the load balancer)
    started: float
    answered: float
    ok: bool
    key: Any = None
    error: str = ""
    kind: str = "create"  # or "update"
    text: str = ""  # what the write stored in `text`: an acknowledged write's mark in the outbox


#: the `live` subscribers' filter: rows enter and leave it when an update moves them between rooms
LIVE_ROOM = 1
ROOMS = 3


class RestWriter:
    """Writes to one replica at `rate`/s, one request at a time: mostly POSTs of new rows, and every
    third request a PATCH that moves one of its acknowledged rows to a random room (into or out of
    the `live` subscribers' filter). Fails over to the balancer when its replica refuses connections
    (killed or drained)."""

    def __init__(self, name: str, replica: int, base_url: str, lb_url: str, collection: str, rate: float):
        self.name, self.replica, self.base_url, self.lb_url = name, replica, base_url, lb_url
        self.collection, self.interval = collection, 1.0 / rate
        self.writes: list[Write] = []
        self.session = requests.Session()
        self.session.trust_env = False

    def _send(self, url: str, key: Any, body: dict[str, Any]) -> requests.Response:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        if key is None:
            return self.session.post(f"{url}/items/{self.collection}", json=body, headers=headers, timeout=WRITE_TIMEOUT_S)
        return self.session.patch(f"{url}/items/{self.collection}/{key}", json=body, headers=headers, timeout=WRITE_TIMEOUT_S)

    async def run(self, stop: asyncio.Event) -> None:
        url, replica = self.base_url, self.replica
        rng = random.Random(f"{self.collection}/{self.name}")
        mine: list[Any] = []  # keys of this writer's acknowledged creates
        for n in range(1_000_000):
            if stop.is_set():
                return
            key = rng.choice(mine) if mine and n % 3 == 2 else None
            text = f"{self.name}-{n}"
            kind = "create" if key is None else "update"
            t0 = now()
            try:
                r = await asyncio.to_thread(self._send, url, key, {"text": text, "room": rng.randrange(ROOMS)})
                ok = r.status_code == 200
                if ok:
                    key = r.json()["data"]["id"]
                    if kind == "create":
                        mine.append(key)
                self.writes.append(Write(self.name, replica, t0, now(), ok, key if ok else None,
                                         "" if ok else f"{r.status_code} {r.text[:160]}", kind, text))
            except requests.ConnectionError as exc:
                self.writes.append(Write(self.name, replica, t0, now(), False, None, type(exc).__name__, kind, text))
                url, replica = self.lb_url, 0
            except Exception as exc:  # noqa: BLE001 - recorded: an unanswered write is not acknowledged
                self.writes.append(Write(self.name, replica, t0, now(), False, None, f"{type(exc).__name__}: {exc}"[:160],
                                         kind, text))
            await asyncio.sleep(max(0.0, self.interval - (now() - t0)))


class SocketWriter:
    """Creates rows with `{"type":"items","action":"create"}` over its own socket on one replica;
    a write is acknowledged by its `items` reply. Reconnects through the balancer when the socket goes."""

    def __init__(self, name: str, replica: int, ws_url: str, lb_ws_url: str, collection: str, rate: float):
        self.name, self.replica, self.ws_url, self.lb_ws_url = name, replica, ws_url, lb_ws_url
        self.collection, self.interval = collection, 1.0 / rate
        self.writes: list[Write] = []

    async def run(self, stop: asyncio.Event) -> None:
        url, replica, n = self.ws_url, self.replica, 0
        for _attempt in range(500):
            if stop.is_set():
                return
            try:
                async with connect(url, proxy=None, open_timeout=5, close_timeout=1, ping_interval=None,
                                   max_size=16 * 1024 * 1024) as ws:
                    await ws.send(json.dumps({"type": "auth", "access_token": ADMIN_TOKEN}))
                    await self._until(ws, lambda f: f.get("type") == "auth", 5)
                    while not stop.is_set():
                        n += 1
                        uid = f"w{n}"
                        t0 = now()
                        text = f"{self.name}-{n}"
                        await ws.send(json.dumps({"type": "items", "collection": self.collection, "action": "create",
                                                  "data": {"text": text, "room": n % ROOMS}, "uid": uid}))
                        try:
                            reply = await self._until(ws, lambda f: f.get("uid") == uid, WRITE_TIMEOUT_S)
                        except asyncio.TimeoutError:
                            self.writes.append(Write(self.name, replica, t0, now(), False, None, "no items reply", text=text))
                            raise
                        ok = reply.get("type") == "items" and "error" not in reply
                        key = reply["data"]["id"] if ok else None
                        self.writes.append(Write(self.name, replica, t0, now(), ok, key,
                                                 "" if ok else json.dumps(reply)[:160], text=text))
                        await asyncio.sleep(max(0.0, self.interval - (now() - t0)))
                    return
            except (ConnectionClosed, OSError, InvalidStatus, asyncio.TimeoutError):
                # A request in flight when the socket went is unacknowledged (it may or may not have committed).
                url, replica = self.lb_ws_url, 0
                await asyncio.sleep(0.2)

    @staticmethod
    async def _until(ws: Any, pred: Any, timeout: float) -> dict[str, Any]:
        deadline = now() + timeout
        for _ in range(100_000):
            left = deadline - now()
            if left <= 0:
                break
            frame = json.loads(await asyncio.wait_for(ws.recv(), left))
            if frame == {"type": "ping"}:
                await ws.send('{"type":"pong"}')
                continue
            if pred(frame):
                return frame
        raise asyncio.TimeoutError()


class Subscriber:
    """A subscriber that never gives up: it subscribes with `after` (0 at first: the collection is
    new, so the replay is empty) and, whenever its socket closes, reconnects through the balancer and
    resumes after the last seq it saw. Every event frame is kept with its arrival time. A `live` one
    subscribes to the rows of room LIVE_ROOM only."""

    def __init__(self, name: str, replica: int, ws_url: str, lb_ws_url: str, collection: str, live: bool = False):
        self.name, self.replica, self.ws_url, self.lb_ws_url, self.collection = name, replica, ws_url, lb_ws_url, collection
        self.live = live
        self.events: list[Ev] = []
        self.arrivals: dict[Any, float] = {}  # created key → first arrival
        self.last_seq = 0
        self.subscribed = asyncio.Event()
        self.reconnects = 0
        self.resyncs = 0  # resumes the outbox could not serve (init with resumed: false)
        self.close_codes: list[int | None] = []

    def seqs(self) -> set[int]:
        return {e.seq for e in self.events}

    async def run(self) -> None:
        url = self.ws_url
        for attempt in range(500):
            try:
                async with connect(url, proxy=None, open_timeout=5, close_timeout=1, ping_interval=None,
                                   max_size=64 * 1024 * 1024, max_queue=None) as ws:
                    await ws.send(json.dumps({"type": "auth", "access_token": ADMIN_TOKEN}))
                    request: dict[str, Any] = {"type": "subscribe", "collection": self.collection, "uid": "1",
                                               "after": self.last_seq}
                    if self.live:
                        request |= {"live": True, "query": {"filter": {"room": {"_eq": LIVE_ROOM}}}}
                    await ws.send(json.dumps(request))
                    async for raw in ws:
                        self._frame(json.loads(raw))
                        if raw == '{"type":"ping"}':
                            await ws.send('{"type":"pong"}')
                self.close_codes.append(ws.close_code)
            except (ConnectionClosed, OSError, InvalidStatus, asyncio.TimeoutError) as exc:
                code = getattr(getattr(exc, "rcvd", None), "code", None)
                self.close_codes.append(code)
            self.reconnects += 1
            url = self.lb_ws_url
            await asyncio.sleep(0.1 + random.random() * 0.3)

    def _frame(self, f: dict[str, Any]) -> None:
        if f.get("type") != "subscription":
            return
        event = f.get("event")
        if event == "init":
            if f.get("resumed") is False:
                self.resyncs += 1
            self.subscribed.set()
            return
        if event not in ("create", "update", "delete"):
            return
        seq = int(f.get("seq", -1))
        rows = f["data"] if isinstance(f["data"], list) else [f["data"]]
        keys = frozenset(rows) if event == "delete" else frozenset(r["id"] for r in rows if isinstance(r, dict))
        self.events.append(Ev(self.collection, seq, event, keys))
        t = now()
        for k in keys:
            self.arrivals.setdefault(k, t)
        self.last_seq = max(self.last_seq, seq)


# -- faults ---------------------------------------------------------------------------------------


def replica_up(cl: Cluster, i: int) -> bool:
    srv = cl.replicas[i]
    return srv.proc is not None and srv.proc.poll() is None


def healthy(cl: Cluster) -> bool:
    return all(replica_up(cl, i) and redis_state(s) == "connected" for i, s in enumerate(cl.replicas))



def error_kind(error: str) -> str:
    """A failed write's class for the table: the HTTP status, a socket error frame's code, or the exception."""
    if error[:3].isdigit():
        return error.split(" ", 1)[0]
    if error.startswith("{"):
        try:
            code = json.loads(error).get("error", {}).get("code")
            if code:
                return f"ws {code}"
        except (ValueError, AttributeError):
            pass
    return error.split(":", 1)[0]

async def inject(fault: str, cl: Cluster, round_no: int) -> dict[str, Any]:
    """Applies one fault; returns when the faulty component is back (replicas: stopped, restarted later)."""
    info: dict[str, Any] = {}

    async def step(fn: Any, *args: Any) -> None:
        await asyncio.to_thread(fn, *args)

    t0 = now()
    if fault == "pg-restart":
        await step(cl.pg.stop_immediate)
        await asyncio.sleep(1.0)
        await step(cl.pg.start_again)
    elif fault == "redis-restart":
        await step(cl.redis.kill)
        await asyncio.sleep(1.0)
        await step(cl.redis.start)
    elif fault == "both":
        # As operators saw it: Redis down, then PostgreSQL stopped, Redis back, PostgreSQL back — twice.
        for cycle in range(2):
            if cycle:
                await asyncio.sleep(1.5)
            await step(cl.redis.kill)
            await asyncio.sleep(0.3)
            await step(cl.pg.stop_immediate)
            await asyncio.sleep(0.4)
            await step(cl.redis.start)
            await asyncio.sleep(0.4)
            await step(cl.pg.start_again)
    elif fault == "redis-freeze":
        cl.redis.freeze()
        info["frozen_at"] = now()
        # Proof the freeze is real: a fresh client's PING gets no answer.
        probe = await asyncio.to_thread(
            subprocess.run, ["timeout", "1", "redis-cli", "-p", str(cl.redis.port), "PING"], capture_output=True, text=True)
        info["redis_answered_while_frozen"] = probe.returncode == 0
        await asyncio.sleep(2.5)
        # What the replicas make of it: a hung connection is noticed (ping + command timeout) and replaced.
        info["messenger_during_freeze"] = await asyncio.to_thread(lambda: [redis_state(s) for s in cl.replicas])
        await asyncio.sleep(0.5)
        cl.redis.thaw()
        info["thawed_at"] = now()
    elif fault in ("replica-kill", "replica-drain"):
        victim = 1 + round_no % 2  # replica 2 (a REST writer's) or 3 (the socket writer's)
        info["victim"] = victim + 1
        proc = cl.replicas[victim].proc
        assert proc is not None
        proc.send_signal(signal.SIGKILL if fault == "replica-kill" else signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)
    else:
        raise ValueError(f"unknown fault {fault}")
    info["fault_s"] = round(now() - t0, 2)
    return info


async def restore(cl: Cluster) -> None:
    """Every replica running and every one connected to Redis (bounded)."""
    for i, srv in enumerate(cl.replicas):
        if not replica_up(cl, i):
            srv.stop()
            await asyncio.to_thread(srv.start)
    await asyncio.to_thread(wait_until, lambda: healthy(cl), 60, 0.1, "every replica up and connected to Redis")


# -- one round --------------------------------------------------------------------------------------


@dataclass
class RoundResult:
    fault: str
    round: int
    writes_ok: int = 0
    writes_failed: int = 0
    acked_missing: int = 0  # acknowledged writes whose row is not in the outbox
    events: int = 0
    live_events: int = 0  # of those, what a `live` subscriber to room LIVE_ROOM should get
    live_left: int = 0  # of those, rows an update moved out of its filter (`delete`, reason "left")
    subscribers: int = 0
    lost: int = 0
    dup: int = 0
    reordered: int = 0
    unexpected: int = 0
    mismatched: int = 0
    resyncs: int = 0
    reconnects: int = 0
    worst_delay_ms: float = 0.0
    p99_delay_ms: float = 0.0
    freeze_write_ms: float | None = None
    freeze_local_ms: float | None = None
    seconds: float = 0.0
    #: what the failed writes answered (a sample, by kind): 503s and refused connections are expected
    write_errors: dict[str, int] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def live_expected(outbox: list[dict[str, Any]]) -> list[Ev]:
    """The stream of a `live` subscriber to `room _eq LIVE_ROOM`: each change seen through the filter
    (PROTOCOL.md, `live`). A create or update of rows in the room is that event; an update that moved
    a row out of it is a `delete` of its key with the update's seq. The writers update one row at a
    time, so no seq carries both."""
    def pk(row: dict[str, Any]) -> Any:
        return row.get("id")

    out = []
    for e in outbox:
        inside = frozenset(pk(r) for r in e.get("rows") or [] if r.get("room") == LIVE_ROOM)
        if e["action"] == "update":
            moved = {pk(r) for r in e.get("rows") or [] if r.get("room") != LIVE_ROOM}
            left = frozenset(pk(r) for r in e.get("previous") or [] if r.get("room") == LIVE_ROOM and pk(r) in moved)
            assert not (inside and left), f"seq {e['seq']} both updates and moves rows out of the room"
            if left:
                out.append(Ev(e["collection"], int(e["seq"]), "delete", left))
                continue
        if inside and e["action"] in ("create", "update"):
            out.append(Ev(e["collection"], int(e["seq"]), e["action"], inside))
    return out


async def run_round(cl: Cluster, fault: str, round_no: int, args: argparse.Namespace) -> RoundResult:
    started = now()
    res = RoundResult(fault, round_no)
    col = f"chaos_{fault.replace('-', '_')}_{round_no}_{uuid.uuid4().hex[:6]}"
    await asyncio.to_thread(create_collection, cl.admin(0), col,
                            [{"field": "text", "type": "string"}, {"field": "room", "type": "integer"}])
    await asyncio.to_thread(visible_everywhere, cl, col, 15)
    assert cl.nginx is not None
    lb_http, lb_ws = cl.nginx.base_url, ws_url_of(cl.nginx.base_url)

    subs = [Subscriber(f"r{i + 1}.s{j + 1}", i + 1, ws_url_of(srv.base_url), lb_ws, col)
            for i, srv in enumerate(cl.replicas) for j in range(args.subs_per_replica)]
    subs += [Subscriber(f"r{i + 1}.live", i + 1, ws_url_of(srv.base_url), lb_ws, col, live=True)
             for i, srv in enumerate(cl.replicas)]
    sub_tasks = [asyncio.create_task(s.run()) for s in subs]
    stop = asyncio.Event()
    writers: list[Any] = [
        RestWriter("w1", 1, cl.replicas[0].base_url, lb_http, col, args.rate),
        RestWriter("w2", 2, cl.replicas[1].base_url, lb_http, col, args.rate),
        SocketWriter("w3", 3, ws_url_of(cl.replicas[2].base_url), lb_ws, col, args.rate / 2),
    ]
    writer_tasks: list[asyncio.Task[None]] = []
    try:
        await asyncio.wait_for(asyncio.gather(*(s.subscribed.wait() for s in subs)), 15)
        writer_tasks = [asyncio.create_task(w.run(stop)) for w in writers]
        try:
            await asyncio.sleep(args.before)
            res.info = await inject(fault, cl, round_no)
            await asyncio.sleep(args.after)
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*writer_tasks, return_exceptions=True), WRITE_TIMEOUT_S + 10)

        writes: list[Write] = [w for wr in writers for w in wr.writes]
        res.writes_ok = sum(1 for w in writes if w.ok)
        res.writes_failed = len(writes) - res.writes_ok
        for w in writes:
            if not w.ok:
                kind = error_kind(w.error)
                res.write_errors[kind] = res.write_errors.get(kind, 0) + 1
        # A failed write must say why, fast: a 5xx other than 503 (or a client timeout) is a bug.
        bad = [w for w in writes if not w.ok and (w.error.startswith("5") and not w.error.startswith("503")
                                                  or "Timeout" in w.error)]
        if bad:
            res.problems.append(f"{len(bad)} writes failed without a 503-class answer, e.g. {bad[0].error}")
        # The outbox is the truth; a write still running on the server when its client gave up may
        # commit late, so read it again until two reads a second apart agree (bounded).
        outbox = await asyncio.to_thread(read_outbox, cl.pg.host, cl.pg.port, cl.database, col)
        for _ in range(10):
            await asyncio.sleep(1.0)
            again = await asyncio.to_thread(read_outbox, cl.pg.host, cl.pg.port, cl.database, col)
            if len(again) == len(outbox):
                break
            outbox = again
        expected = expected_from_outbox(outbox)
        expected_live = live_expected(outbox)
        want, want_live = {e.seq for e in expected}, {e.seq for e in expected_live}
        res.events = len(expected)
        deadline = now() + SETTLE_TIMEOUT_S
        for _ in range(int(SETTLE_TIMEOUT_S / 0.2) + 1):
            if all((want_live if s.live else want) <= s.seqs() for s in subs) or now() > deadline:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)  # anything arriving twice arrives now
    finally:
        for t in sub_tasks + writer_tasks:
            t.cancel()
        await asyncio.gather(*sub_tasks, *writer_tasks, return_exceptions=True)

    committed = {(r.get("id"), r.get("text")) for e in outbox for r in e.get("rows") or []}
    missing = [w for w in writes if w.ok and (w.key, w.text) not in committed]
    res.acked_missing = len(missing)
    if missing:
        res.problems.append(f"{len(missing)} acknowledged writes are not in the outbox, e.g. {asdict(missing[0])}")
    res.subscribers = len(subs)
    res.live_events = len(expected_live)
    res.live_left = sum(1 for e in expected_live if e.action == "delete")
    for s in subs:
        r = check_stream(s.events, expected_live if s.live else expected)
        res.lost += r.lost
        res.dup += r.dup
        res.reordered += r.reordered
        res.unexpected += r.unexpected
        res.mismatched += r.mismatched
        res.resyncs += s.resyncs
        res.reconnects += s.reconnects
        if not r.ok:
            res.problems.append(f"{s.name}: {r.summary()} (reconnects {s.reconnects}, closes {s.close_codes[:6]})")
    if res.resyncs:
        res.problems.append(f"{res.resyncs} resumes were refused (resumed: false)")

    # Delays are timed from a create's answer to its row's first arrival, at the unfiltered
    # subscribers: a `live` one first sees many rows only when a later update moves them in.
    timed = [s for s in subs if not s.live]
    delays = []
    acked = {w.key: w for w in writes if w.ok and w.kind == "create"}
    for s in timed:
        for key, w in acked.items():
            if key in s.arrivals:
                delays.append(max(0.0, s.arrivals[key] - w.answered))
    if delays:
        delays.sort()
        res.worst_delay_ms = round(delays[-1] * 1000, 1)
        res.p99_delay_ms = round(delays[min(len(delays) - 1, int(len(delays) * 0.99))] * 1000, 1)

    if fault == "redis-freeze":
        frozen, thawed = res.info["frozen_at"], res.info["thawed_at"]
        during = [w for w in writes if frozen <= w.started <= thawed - FREEZE_BOUND_S and w.replica > 0]
        if res.info.get("redis_answered_while_frozen"):
            res.problems.append("Redis answered a PING while it should have been frozen")
        if not during:
            res.problems.append("no write was made while Redis was frozen")
        else:
            res.freeze_write_ms = round(max(w.answered - w.started for w in during) * 1000, 1)
            unanswered = [w for w in during if not w.ok]
            if unanswered:
                res.problems.append(f"{len(unanswered)} writes failed while Redis was frozen: {unanswered[0].error}")
            local = [s.arrivals[w.key] - w.answered for w in during if w.ok and w.kind == "create" for s in timed
                     if s.replica == w.replica and w.key in s.arrivals]
            res.freeze_local_ms = round(max([0.0, *local]) * 1000, 1)
            remote = [s.arrivals[w.key] - w.answered for w in during if w.ok and w.kind == "create" for s in timed
                      if s.replica != w.replica and w.key in s.arrivals]
            res.info["freeze_remote_worst_ms"] = round(max([0.0, *remote]) * 1000, 1)
            if res.freeze_write_ms > FREEZE_BOUND_S * 1000:
                res.problems.append(f"a write took {res.freeze_write_ms} ms while Redis was frozen (bound {FREEZE_BOUND_S}s)")
            if res.freeze_local_ms > FREEZE_BOUND_S * 1000:
                res.problems.append(
                    f"a local subscriber waited {res.freeze_local_ms} ms for a write while Redis was frozen (bound {FREEZE_BOUND_S}s)")

    await restore(cl)
    res.seconds = round(now() - started, 1)
    return res


# -- the suite -------------------------------------------------------------------------------------


def row(r: RoundResult) -> str:
    freeze = ""
    if r.freeze_write_ms is not None:
        freeze = f" freeze: write ≤{r.freeze_write_ms:.0f} ms, local ≤{r.freeze_local_ms:.0f} ms"
    victim = f" victim r{r.info['victim']}" if "victim" in r.info else ""
    if "messenger_during_freeze" in r.info:
        freeze += (f", other replicas ≤{r.info.get('freeze_remote_worst_ms', 0):.0f} ms, "
                   f"messenger after 2.5 s: {'/'.join(r.info['messenger_during_freeze'])}")
    return (f"{r.fault:<14} {r.round:>3} {r.writes_ok:>6}/{r.writes_failed:<5} {r.events:>6} {r.subscribers:>4} "
            f"{r.lost:>5} {r.dup:>4} {r.reordered:>6} {r.reconnects:>6} {r.worst_delay_ms:>9.0f} {r.p99_delay_ms:>8.0f}"
            f"  {'ok' if r.ok else 'FAIL'} live {r.live_events}/{r.live_left} left{victim}{freeze}"
            + (f" errors {r.write_errors}" if r.write_errors else ""))


HEADER = (f"{'fault':<14} {'rnd':>3} {'writes ok/fail':>12} {'events':>6} {'subs':>4} {'lost':>5} {'dup':>4} "
          f"{'reord':>6} {'reconn':>6} {'worst ms':>9} {'p99 ms':>8}")


async def suite(args: argparse.Namespace) -> list[RoundResult]:
    pg, redis = Postgres(durable_commits=True), Redis()
    results: list[RoundResult] = []
    cl: Cluster | None = None
    try:
        pg.start()
        redis.start()
        cl = Cluster(pg, redis, 3, {"SHUTDOWN_DRAIN_WINDOW": "1s", "LOG_LEVEL": os.environ.get("CHAOS_LOG_LEVEL", "info")})
        await asyncio.to_thread(cl.start)
        print(f"cluster up: PostgreSQL :{pg.port}, redis :{redis.port}, replicas "
              f"{', '.join(str(s.port) for s in cl.replicas)}, nginx :{cl.nginx.port if cl.nginx else '-'}", flush=True)
        print(HEADER, flush=True)
        order = [f for f in FAULTS if f in args.faults]
        for n in range(1, args.rounds + 1):
            for fault in order:
                try:
                    r = await asyncio.wait_for(run_round(cl, fault, n, args), ROUND_TIMEOUT_S)
                except Exception as exc:  # noqa: BLE001 - a round that could not finish is a failure
                    r = RoundResult(fault, n, problems=[f"round did not finish: {type(exc).__name__}: {exc}"])
                    await restore(cl)
                results.append(r)
                print(row(r), flush=True)
                for p in r.problems[:8]:
                    print(f"    ! {p}", flush=True)
    finally:
        if cl is not None:
            cl.stop()
        redis.stop()
        pg.stop()
    return results


def summary(results: list[RoundResult]) -> str:
    lines = ["", "per fault: rounds, events (live: through the filter / of them left), lost/dup/reordered, worst delay, "
             "failed rounds"]
    for fault in FAULTS:
        rs = [r for r in results if r.fault == fault]
        if not rs:
            continue
        lines.append(
            f"  {fault:<14} {len(rs):>3} rounds {sum(r.events for r in rs):>7} events "
            f"(live {sum(r.live_events for r in rs)} / {sum(r.live_left for r in rs)} left)  "
            f"{sum(r.lost for r in rs)}/{sum(r.dup for r in rs)}/{sum(r.reordered for r in rs)}  "
            f"worst {max(r.worst_delay_ms for r in rs):.0f} ms  failed {sum(1 for r in rs if not r.ok)}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=1, help="rounds of every fault (long mode: 20)")
    p.add_argument("--faults", default=",".join(FAULTS), help="comma-separated subset of: " + ", ".join(FAULTS))
    p.add_argument("--rate", type=float, default=25.0, help="writes/s of each REST writer (the socket writer: half)")
    p.add_argument("--subs-per-replica", type=int, default=2)
    p.add_argument("--before", type=float, default=2.0, help="seconds of load before the fault")
    p.add_argument("--after", type=float, default=2.5, help="seconds of load after the fault")
    p.add_argument("--out", default="", help="write the results as JSON here")
    args = p.parse_args()
    args.faults = [f.strip() for f in args.faults.split(",") if f.strip()]
    unknown = [f for f in args.faults if f not in FAULTS]
    if unknown:
        p.error(f"unknown faults: {unknown}")
    if args.rounds < 1 or args.rounds > 1000:
        p.error("--rounds must be 1..1000")
    missing = missing_tools()
    if missing:
        print(f"chaos: missing {', '.join(missing)} (scripts/chaos installs them)", file=sys.stderr)
        return 2
    os.environ.pop("SWITCHBOARD_TEST_PG", None)  # the suite restarts PostgreSQL: it needs its own
    started = now()
    results = asyncio.run(suite(args))
    print(summary(results))
    failed = [r for r in results if not r.ok]
    print(f"\nchaos: {len(results)} rounds in {now() - started:.0f} s, {len(failed)} failed")
    if args.out:
        Path(args.out).write_text(json.dumps([{**asdict(r), "ok": r.ok} for r in results], indent=1, default=str))
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
