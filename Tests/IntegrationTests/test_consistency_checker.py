"""Unit tests of consistency.py (pure Python, no servers)."""

from __future__ import annotations

from consistency import Ev, check_clients, check_stream, expected_from_outbox, from_frames, stream_faults, totals


def ev(seq: int, action: str = "create", keys: tuple = (), col: str = "c") -> Ev:
    return Ev(col, seq, action, frozenset(keys or (seq,)))


EXPECTED = [ev(s) for s in range(1, 6)]


def test_clean_stream() -> None:
    r = check_stream([ev(s) for s in range(1, 6)], EXPECTED)
    assert r.ok and r.counts() == {"received": 5, "expected": 5, "lost": 0, "dup": 0, "reordered": 0,
                                   "unexpected": 0, "mismatched": 0}


def test_lost() -> None:
    r = check_stream([ev(1), ev(2), ev(5)], EXPECTED)
    assert (r.lost, r.dup, r.reordered) == (2, 0, 0)
    assert r.examples["lost"] == ["c:3", "c:4"]


def test_duplicate_is_not_also_reordered() -> None:
    r = check_stream([ev(1), ev(2), ev(2), ev(3), ev(1), ev(4), ev(5)], EXPECTED)
    assert (r.lost, r.dup, r.reordered) == (0, 2, 0)


def test_reordered() -> None:
    r = check_stream([ev(1), ev(3), ev(2), ev(4), ev(5)], EXPECTED)
    assert (r.lost, r.dup, r.reordered) == (0, 0, 1)
    assert r.examples["reordered"] == ["#2 seq 2 after 3"]
    r = check_stream([ev(5), ev(4), ev(3), ev(2), ev(1)], EXPECTED)
    assert r.reordered == 4 and r.lost == 0


def test_per_collection_order_is_independent() -> None:
    exp = [ev(1, col="a"), ev(2, col="a"), ev(1, col="b")]
    r = check_stream([ev(1, col="a"), ev(1, col="b"), ev(2, col="a")], exp)
    assert r.ok


def test_unexpected_and_mismatched() -> None:
    r = check_stream([ev(1), ev(2, "update"), ev(3, keys=(99,)), ev(9)], EXPECTED[:4])
    assert r.unexpected == 1 and r.mismatched == 2 and r.lost == 1  # seq 4 never came
    # a filtered subscriber may see a subset of an event's keys
    assert check_stream([Ev("c", 1, "create", frozenset({1}))], [Ev("c", 1, "create", frozenset({1, 2}))]).ok


def test_expected_from_outbox_window_and_match() -> None:
    outbox = [{"collection": "c", "seq": s, "action": "create", "keys": [s],
               "rows": [{"id": s, "status": "open" if s % 2 else "closed"}]} for s in range(1, 7)]
    assert [e.seq for e in expected_from_outbox(outbox)] == [1, 2, 3, 4, 5, 6]
    assert [e.seq for e in expected_from_outbox(outbox, after=2, until=5)] == [3, 4, 5]
    opened = expected_from_outbox(outbox, match=lambda e: [r["id"] for r in e["rows"] if r["status"] == "open"])
    assert [e.seq for e in opened] == [1, 3, 5]


def test_from_frames_and_check_clients() -> None:
    frames = [
        {"type": "subscription", "event": "init", "uid": "1", "data": []},
        {"type": "subscription", "event": "create", "uid": "1", "seq": 1, "data": [{"id": 1}]},
        {"type": "subscription", "event": "create", "uid": "2", "seq": 1, "data": [{"id": 1}]},
        {"type": "ping"},
        {"type": "subscription", "event": "delete", "uid": "1", "seq": 2, "data": [1]},
    ]
    got = from_frames(frames, "c", uid="1")
    assert got == [Ev("c", 1, "create", frozenset({1})), Ev("c", 2, "delete", frozenset({1}))]
    exp = [Ev("c", 1, "create", frozenset({1})), Ev("c", 2, "delete", frozenset({1}))]
    res = check_clients({"a": got, "b": got[:1]}, exp)
    assert res["a"].ok and res["b"].lost == 1
    assert totals(res)["lost"] == 1


def test_legacy_stream_faults() -> None:
    evs = [{"event": "create", "seq": s, "data": [{"id": s}]} for s in (1, 2, 2, 4)]
    f = stream_faults(evs, {1, 2, 3, 4})
    assert f["dup"] == 1 and f["lost"] == 1
