"""Realtime heartbeat (PROTOCOL.md "Heartbeat"): JSON `ping` frames every period, silent clients
closed, client ping → pong, client pong → nothing.

Directus: api/src/websocket/controllers/hooks.ts / base.ts (setInterval heartbeat: sends
{"type":"ping"}, closes sockets that sent nothing since the previous ping).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from harness import ADMIN_TOKEN
from wsclient import open_ws, run_async


@pytest.fixture(scope="module")
def hb_server(server_factory):
    return server_factory({"WEBSOCKETS_HEARTBEAT_PERIOD": "1"}, name="ws-heartbeat")


@run_async
async def test_server_sends_json_ping_frames(hb_server):
    ws = await open_ws(hb_server, f"access_token={ADMIN_TOKEN}")
    assert await ws.recv_any(timeout=2.5) == {"type": "ping"}
    await ws.send({"type": "pong"})
    assert await ws.recv_any(timeout=2.5) == {"type": "ping"}


@run_async
async def test_answering_client_stays_open(hb_server):
    ws = await open_ws(hb_server, f"access_token={ADMIN_TOKEN}", auto_pong=True)
    started = time.monotonic()
    frames = await ws.collect(quiet=5.5, max_total=5.5)  # answers every ping with pong
    assert frames == [], frames
    assert time.monotonic() - started >= 5
    assert ws.pings_seen >= 3, ws.pings_seen
    assert ws.is_open
    await ws.send({"type": "ping", "uid": "still"})
    assert await ws.recv() == {"type": "pong", "uid": "still"}


@run_async
async def test_client_sending_other_frames_counts_as_alive(hb_server):
    ws = await open_ws(hb_server, f"access_token={ADMIN_TOKEN}", auto_pong=False)
    for i in range(6):  # 3 s of pings from the client instead of pongs
        await ws.send({"type": "ping", "uid": str(i)})
        await asyncio.sleep(0.5)
    frames = await ws.collect(quiet=0.3)
    assert [f for f in frames if f.get("type") == "pong"] == [{"type": "pong", "uid": str(i)} for i in range(6)]
    assert ws.is_open


@run_async
async def test_silent_client_is_closed(hb_server):
    ws = await open_ws(hb_server, f"access_token={ADMIN_TOKEN}", auto_pong=False)
    started = time.monotonic()
    code, frames = await ws.expect_close(timeout=5)
    elapsed = time.monotonic() - started
    assert all(f == {"type": "ping"} for f in frames), frames
    assert 0.9 <= elapsed <= 4, f"closed after {elapsed:.2f}s with a 1 s period"
    assert code is not None, "expected a close frame with a code"


@run_async
async def test_client_ping_pong(hb_server):
    ws = await open_ws(hb_server, f"access_token={ADMIN_TOKEN}")
    await ws.send({"type": "ping", "uid": "x"})
    assert await ws.recv() == {"type": "pong", "uid": "x"}
    await ws.send({"type": "ping"})
    assert await ws.recv() == {"type": "pong"}
    await ws.send({"type": "ping", "uid": 12})
    reply = await ws.recv()
    assert reply in ({"type": "pong", "uid": 12}, {"type": "pong", "uid": "12"}), reply


@run_async
async def test_client_pong_gets_no_reply(hb_server):
    ws = await open_ws(hb_server, f"access_token={ADMIN_TOKEN}")
    await ws.send({"type": "pong"})
    await ws.send({"type": "pong", "uid": "p"})
    await ws.expect_silence(0.6)  # pings are skipped (and answered) by collect
