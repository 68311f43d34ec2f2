"""Bad input on the realtime socket (PROTOCOL.md "Errors", "Close codes").

Directus: api/src/websocket/controllers/base.ts (parseMessage → "Unable to parse the incoming
message.", type "server", INVALID_PAYLOAD).
"""

from __future__ import annotations

import json

import pytest

from harness import ADMIN_TOKEN, create_collection, data, uniq
from wsclient import assert_error_frame, authed, in_thread, open_ws, run_async

PARSE_ERROR = {"type": "server", "status": "error",
               "error": {"code": "INVALID_PAYLOAD", "message": "Unable to parse the incoming message."}}


@pytest.fixture(scope="module")
def small_server(server_factory):
    return server_factory({"WEBSOCKETS_MAX_MESSAGE_SIZE": "1kb"}, name="ws-small")


def coll(admin):
    name = uniq("bad")
    create_collection(admin, name, [{"field": "text", "type": "text"}])
    return name


async def assert_alive(ws, uid="alive"):
    await ws.send({"type": "ping", "uid": uid})
    assert await ws.recv() == {"type": "pong", "uid": uid}


@pytest.mark.parametrize("payload", ["this is not json", "{\"type\": ", "[1, 2, 3]", "42", "\"auth\"", "null",
                                     "{\"no_type\": true}", "{\"type\": 5}"])
@run_async
async def test_unparseable_frame_is_invalid_payload_and_socket_survives(server, admin, payload):
    name = coll(admin)
    ws = await authed(server)
    await ws.send_raw(payload)
    assert await ws.recv() == PARSE_ERROR
    await assert_alive(ws)
    assert data(admin.get(f"/items/{name}")) == []


@run_async
async def test_unknown_type_is_error_with_that_type(server):
    ws = await authed(server)
    await ws.send({"type": "frobnicate", "uid": "u1"})
    assert_error_frame(await ws.recv(), "frobnicate", "INVALID_PAYLOAD", uid="u1")
    await ws.send({"type": "frobnicate"})
    assert_error_frame(await ws.recv(), "frobnicate", "INVALID_PAYLOAD")
    await assert_alive(ws)


@run_async
async def test_binary_frame_closes_1003_others_unaffected(server, admin):
    name = coll(admin)
    bystander = await authed(server)
    await bystander.subscribe(name, uid="b")
    ws = await authed(server)
    payload = json.dumps({"type": "items", "collection": name, "action": "create", "data": {"text": "binary"}})
    await ws.send_raw(payload.encode())
    code, frames = await ws.expect_close()
    assert code == 1003, (code, frames)
    assert frames == [], frames
    assert data(admin.get(f"/items/{name}")) == [], "a binary frame must not be executed"
    await assert_alive(bystander)
    row = data(await in_thread(admin.post, f"/items/{name}", {"text": "after"}))
    ev = await bystander.recv()
    assert ev["event"] == "create" and ev["data"][0]["id"] == row["id"], ev


@run_async
async def test_oversized_frame_closes_1009_others_unaffected(small_server):
    admin = small_server.admin()
    name = coll(admin)
    bystander = await open_ws(small_server, f"access_token={ADMIN_TOKEN}")
    await bystander.subscribe(name, uid="b")
    ws = await open_ws(small_server, f"access_token={ADMIN_TOKEN}")
    # a frame just under the limit works
    ok = await ws.items(name, "create", uid="small", data={"text": "x" * 500})
    assert ok["type"] == "items" and ok["uid"] == "small", ok
    ev = await bystander.recv()
    assert ev["event"] == "create", ev
    big = json.dumps({"type": "items", "collection": name, "action": "create", "data": {"text": "y" * 2000}})
    await ws.send_raw(big)
    code, frames = await ws.expect_close()
    assert code == 1009, (code, frames)
    assert frames == [], frames
    rows = data(admin.get(f"/items/{name}"))
    assert [r["text"][:1] for r in rows] == ["x"], "the oversized frame must not be executed"
    await assert_alive(bystander)
    await bystander.expect_silence()


@run_async
async def test_schema_violations_do_not_close(server):
    ws = await authed(server)
    await ws.send({"type": "subscribe", "uid": "s"})
    assert_error_frame(await ws.recv(), "subscribe", "INVALID_PAYLOAD", uid="s")
    await ws.send({"type": "items", "uid": "i"})
    assert_error_frame(await ws.recv(), "items", "INVALID_PAYLOAD", uid="i")
    await assert_alive(ws)
