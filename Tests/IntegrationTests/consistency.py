"""Consistency checker for realtime event streams (issue 6), reusable by the cluster/fault tests
and the load harness.

The truth is the outbox (`switchboard_outbox`): every committed change, one row per
(collection, seq). A client's stream is the list of `subscription` create/update/delete frames
it received. Per client the checker reports:

- lost:       expected (collection, seq) never received
- duplicated: a (collection, seq) received again after its first arrival
- reordered:  a first arrival whose seq is not above the highest seq already received for that
              collection (i.e. it arrived after a later event)
- unexpected: a received (collection, seq) that is not in the expected set (e.g. a row the
              subscription's filter excludes, or a seq the outbox never had)
- mismatched: same (collection, seq) but a different action, or keys not contained in the
              outbox event's keys (a filtered subscriber may see a subset)

Pure Python: `check_stream` needs no servers; `read_outbox` shells out to `psql`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

EXAMPLES = 5


@dataclass(frozen=True)
class Ev:
    """One event, received or expected."""

    collection: str
    seq: int
    action: str
    keys: frozenset[Any] = frozenset()

    @property
    def id(self) -> tuple[str, int]:
        return (self.collection, self.seq)


@dataclass
class Result:
    received: int = 0
    expected: int = 0
    lost: int = 0
    dup: int = 0
    reordered: int = 0
    unexpected: int = 0
    mismatched: int = 0
    examples: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.dup or self.reordered or self.unexpected or self.mismatched)

    def counts(self) -> dict[str, int]:
        return {"received": self.received, "expected": self.expected, "lost": self.lost, "dup": self.dup,
                "reordered": self.reordered, "unexpected": self.unexpected, "mismatched": self.mismatched}

    def summary(self) -> str:
        s = (f"{self.received} rcvd/{self.expected} exp, lost={self.lost} dup={self.dup} "
             f"reordered={self.reordered}")
        if self.unexpected or self.mismatched:
            s += f" unexpected={self.unexpected} mismatched={self.mismatched}"
        if self.examples:
            s += " e.g. " + "; ".join(f"{k}: {v}" for k, v in self.examples.items())
        return s

    def _example(self, kind: str, item: Any) -> None:
        lst = self.examples.setdefault(kind, [])
        if len(lst) < EXAMPLES:
            lst.append(item)


# -- frames → events -----------------------------------------------------------------------------


def keys_of(event: Mapping[str, Any]) -> frozenset[Any]:
    """Primary keys a `subscription` frame names: ids of its rows (create/update), the keys (delete)."""
    data = event["data"]
    if event["event"] == "delete":
        return frozenset(data if isinstance(data, list) else [data])
    rows = data if isinstance(data, list) else [data]
    return frozenset(r["id"] for r in rows if isinstance(r, dict) and "id" in r)


def from_frames(frames: Iterable[Mapping[str, Any]], collection: str, uid: str | None = None) -> list[Ev]:
    """The create/update/delete frames (of subscription `uid`, if given) as events, in arrival order."""
    out = []
    for f in frames:
        if f.get("type") != "subscription" or f.get("event") not in ("create", "update", "delete"):
            continue
        if uid is not None and f.get("uid") != uid:
            continue
        seq = f.get("seq")
        out.append(Ev(collection, int(seq) if seq is not None else -1, f["event"], keys_of(f)))
    return out


# -- the outbox ----------------------------------------------------------------------------------


def read_outbox(host: str, port: int, database: str, collection: str, user: str = "postgres",
                timeout: float = 20) -> list[dict[str, Any]]:
    """Every outbox row of `collection` as the stored event JSON (+ seq, action), in seq order."""
    psql = shutil.which("psql")
    assert psql, "psql not installed"
    lit = "'" + collection.replace("'", "''") + "'"
    sql = (f"SELECT seq, action, event FROM switchboard_outbox WHERE collection = {lit} ORDER BY seq")
    r = subprocess.run([psql, "-h", host, "-p", str(port), "-U", user, "-d", database, "-X", "-A", "-t",
                        "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"psql: {r.stderr}"
    out = []
    for line in r.stdout.splitlines():
        if not line.strip():
            continue
        seq, action, raw = line.split("\t", 2)
        ev = json.loads(raw)
        ev["seq"], ev["action"] = int(seq), action
        out.append(ev)
    return out


def psql_exec(host: str, port: int, database: str, sql: str, user: str = "postgres", timeout: float = 20) -> str:
    r = subprocess.run([shutil.which("psql") or "psql", "-h", host, "-p", str(port), "-U", user, "-d", database,
                        "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"psql: {r.stderr}"
    return r.stdout.strip()


def expected_from_outbox(outbox: Iterable[Mapping[str, Any]],
                         match: Callable[[Mapping[str, Any]], Iterable[Any] | None] | None = None,
                         after: int = 0, until: int | None = None) -> list[Ev]:
    """The events a subscriber should receive. `match(event)` returns the keys it should see
    (None or empty: the event is not for it); default: every event with all its keys.
    `after`/`until` bound the seq window (after < seq <= until) — e.g. from the seq the client
    subscribed at."""
    out = []
    for e in outbox:
        seq = int(e["seq"])
        if seq <= after or (until is not None and seq > until):
            continue
        keys = frozenset(e.get("keys") or []) if match is None else frozenset(match(e) or [])
        if not keys:
            continue
        out.append(Ev(e["collection"], seq, e["action"], keys))
    return out


# -- the check -----------------------------------------------------------------------------------


def check_stream(received: list[Ev], expected: Iterable[Ev]) -> Result:
    """lost / dup / reordered (+ unexpected / mismatched) of one client's stream against the expected set."""
    exp = {e.id: e for e in expected}
    res = Result(received=len(received), expected=len(exp))
    seen: set[tuple[str, int]] = set()
    high: dict[str, int] = {}
    for i, ev in enumerate(received):
        if ev.id in seen:
            res.dup += 1
            res._example("dup", f"#{i} {ev.collection}:{ev.seq}")
            continue
        seen.add(ev.id)
        if ev.seq <= high.get(ev.collection, -(2 ** 62)):
            res.reordered += 1
            res._example("reordered", f"#{i} seq {ev.seq} after {high[ev.collection]}")
        high[ev.collection] = max(high.get(ev.collection, ev.seq), ev.seq)
        want = exp.get(ev.id)
        if want is None:
            res.unexpected += 1
            res._example("unexpected", f"{ev.collection}:{ev.seq} {ev.action}")
        elif want.action != ev.action or not ev.keys <= want.keys:
            res.mismatched += 1
            res._example("mismatched", f"{ev.collection}:{ev.seq} got {ev.action} {sorted(map(str, ev.keys))} "
                                       f"want {want.action} {sorted(map(str, want.keys))}")
    lost = sorted(set(exp) - seen, key=lambda k: (k[0], k[1]))
    res.lost = len(lost)
    for c, s in lost[:EXAMPLES]:
        res._example("lost", f"{c}:{s}")
    return res


def check_clients(received: Mapping[str, list[Ev]], expected: Iterable[Ev] | Mapping[str, Iterable[Ev]]) -> dict[str, Result]:
    """Per client: `expected` is one set for all, or a mapping client → its own expected set."""
    if isinstance(expected, Mapping):
        return {name: check_stream(evs, expected[name]) for name, evs in received.items()}
    exp = list(expected)
    return {name: check_stream(evs, exp) for name, evs in received.items()}


def totals(results: Mapping[str, Result]) -> dict[str, int]:
    t = {"lost": 0, "dup": 0, "reordered": 0, "unexpected": 0, "mismatched": 0}
    for r in results.values():
        for k in t:
            t[k] += getattr(r, k)
    return t


def format_results(results: Mapping[str, Result]) -> str:
    return "; ".join(f"{name}: {r.summary()}" for name, r in results.items())


# -- the earlier, outbox-less counter (kept for callers that only know created keys) ---------------


def stream_faults(events: list[dict[str, Any]], expected_keys: set[Any] | None = None) -> dict[str, int]:
    """lost / duplicated / reordered counts of one subscriber's event stream (frames).
    reordered: events whose seq is not above the previous one; dup: a seq (or a created key)
    seen again; lost: expected keys (creates) never seen."""
    seqs = [e.get("seq") for e in events]
    reordered = sum(1 for a, b in zip(seqs, seqs[1:]) if a is not None and b is not None and b <= a)
    dup = len(seqs) - len(set(seqs))
    lost = 0
    if expected_keys is not None:
        seen: list[Any] = [k for e in events if e["event"] == "create" for k in keys_of(e)]
        dup = max(dup, len(seen) - len(set(seen)))
        lost = len(expected_keys - set(seen))
    return {"events": len(events), "lost": lost, "dup": dup, "reordered": reordered,
            "missing_seq": sum(1 for s in seqs if s is None)}
