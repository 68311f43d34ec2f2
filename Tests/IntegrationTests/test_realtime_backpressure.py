"""Slow consumers (PROTOCOL.md "Close codes": 1013 client too slow; DESIGN.md "Back-pressure,
never unbounded memory"): a subscriber that stops reading is closed with 1013 once its bounded
outbound buffer (WEBSOCKETS_MAX_QUEUED_BYTES) is full, while other subscribers receive every event.
"""

from __future__ import annotations

import asyncio
import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import ADMIN_TOKEN, create_collection, uniq
from wsclient import open_ws, run_async

EVENTS = 2000
ROW_TEXT_BYTES = 10_000
WRITERS = 4


@pytest.fixture(scope="module")
def bp_server(server_factory):
    return server_factory({"WEBSOCKETS_MAX_QUEUED_BYTES": "256kb"}, name="ws-backpressure")


def produce(server, name, count, stop):
    """`count` single-row REST creates with ~10 KB of incompressible text, on WRITERS threads."""
    def one(i):
        if stop.is_set():
            return None
        api = server.admin()
        text = os.urandom(ROW_TEXT_BYTES // 2).hex()
        r = api.post(f"/items/{name}", {"text": text, "n": i})
        assert r.status_code == 200, r.text[:300]
        return i

    with ThreadPoolExecutor(WRITERS) as pool:
        return [x for x in pool.map(one, range(count)) if x is not None]


@run_async(timeout=80)
async def test_slow_consumer_closed_1013_fast_one_gets_everything(bp_server):
    name = uniq("flood")
    admin = bp_server.admin()
    create_collection(admin, name, [{"field": "text", "type": "text"}, {"field": "n", "type": "integer"}])
    token = f"access_token={ADMIN_TOKEN}"
    # the slow one: subscribes to full rows, then its client stops reading (max_queue=1 pauses the
    # transport, so the kernel buffers fill up and the server's outbound queue grows)
    slow = await open_ws(bp_server, token, max_queue=1)
    init = await slow.subscribe(name, uid="slow")
    assert init["event"] == "init"
    fast = await open_ws(bp_server, token)
    init = await fast.subscribe(name, uid="fast", query={"fields": ["id", "n"]})
    assert init == {"type": "subscription", "event": "init", "data": [], "uid": "fast"}

    import threading

    stop = threading.Event()
    producer = asyncio.get_running_loop().run_in_executor(None, produce, bp_server, name, EVENTS, stop)

    received: list[dict] = []
    seqs: list[int] = []
    deadline = time.monotonic() + 60
    try:
        while len(received) < EVENTS and time.monotonic() < deadline:
            frame = await fast.recv(timeout=10)
            assert frame["type"] == "subscription" and frame["event"] == "create" and frame["uid"] == "fast", frame
            received.extend(frame["data"])
            seqs.append(frame["seq"])
    finally:
        stop.set()
        await asyncio.wait_for(producer, 30)
    assert len(received) == EVENTS, f"fast subscriber got {len(received)} of {EVENTS} rows"
    assert sorted(r["n"] for r in received) == list(range(EVENTS))
    assert all(a < b for a, b in zip(seqs, seqs[1:])), "seq not strictly increasing"

    # now drain the slow socket: it must end with a 1013 close, having received fewer events
    code, frames = await slow.expect_close(timeout=15)
    creates = [f for f in frames if isinstance(f, dict) and f.get("event") == "create"]
    assert code == 1013, f"slow consumer: close code {code} after {len(creates)} events (expected 1013)"
    assert len(creates) < EVENTS, len(creates)
