"""Replay of the Directus SDK's wire behaviour (PROTOCOL.md "The SDK's behaviour"):
auth first without uid (answer within 1 s), uids "1", "2", …, pongs for pings, and after a
reconnect: re-auth, resubscribe with uids restarting at "1", `init` again.

Directus: sdk/src/realtime/composable.ts (auth on open, generateUid counter reset per
connection, handleMessages answering ping, resubscribe after reconnect).
"""

from __future__ import annotations

import time

import pytest

from harness import ADMIN_TOKEN, create_collection, data, uniq
from wsclient import open_ws, run_async


@pytest.fixture(scope="module")
def sdk_server(server_factory):
    return server_factory({"WEBSOCKETS_HEARTBEAT_PERIOD": "1"}, name="ws-sdk")


class FakeSdk:
    """Just what the SDK puts on the wire."""

    def __init__(self, server):
        self.server = server
        self.ws = None
        self.counter = 0
        self.subscriptions: list[dict] = []  # stored subscribe messages, re-sent on reconnect

    def uid(self) -> str:
        self.counter += 1
        return str(self.counter)

    async def connect(self):
        self.ws = await open_ws(self.server, auto_pong=True)
        self.counter = 0
        started = time.monotonic()
        await self.ws.send({"type": "auth", "access_token": ADMIN_TOKEN})
        reply = await self.ws.recv(timeout=1.0)
        assert reply == {"type": "auth", "status": "ok"}, reply
        assert time.monotonic() - started < 1.0
        inits = []
        for sub in self.subscriptions:  # resubscribe in order, fresh uids from "1"
            sub["uid"] = self.uid()
            await self.ws.send(sub)
            inits.append(await self.ws.recv())
        return inits

    async def subscribe(self, collection, query):
        msg = {"type": "subscribe", "collection": collection, "query": query, "uid": self.uid()}
        self.subscriptions.append(msg)
        await self.ws.send(msg)
        return await self.ws.recv()


@run_async(timeout=40)
async def test_sdk_session_with_reconnect(sdk_server):
    admin = sdk_server.admin()
    a, b = uniq("sdka"), uniq("sdkb")
    for name in (a, b):
        create_collection(admin, name, [{"field": "text", "type": "text"}])
    first = data(admin.post(f"/items/{a}", {"text": "before"}))

    sdk = FakeSdk(sdk_server)
    assert await sdk.connect() == []
    init_a = await sdk.subscribe(a, {"fields": "id,text"})
    assert init_a == {"type": "subscription", "event": "init", "uid": "1",
                      "data": [{"id": first["id"], "text": "before"}]}
    init_b = await sdk.subscribe(b, {"fields": "*"})
    assert init_b == {"type": "subscription", "event": "init", "uid": "2", "data": []}

    # pings arrive and are answered; the connection survives a few periods
    frames = await sdk.ws.collect(quiet=2.5, max_total=2.5)
    assert frames == [] and sdk.ws.pings_seen >= 1 and sdk.ws.is_open, (frames, sdk.ws.pings_seen)

    row = data(admin.post(f"/items/{a}", {"text": "live"}))
    ev = await sdk.ws.recv()
    assert ev["type"] == "subscription" and ev["event"] == "create" and ev["uid"] == "1", ev
    assert ev["data"] == [{"id": row["id"], "text": "live"}]

    # forced reconnect: the socket goes away, a new one is opened
    await sdk.ws.close()
    missed = data(admin.post(f"/items/{b}", {"text": "while away"}))
    inits = await sdk.connect()
    assert [i.get("uid") for i in inits] == ["1", "2"], inits
    assert all(i["type"] == "subscription" and i["event"] == "init" for i in inits), inits
    assert inits[0]["data"] == [{"id": first["id"], "text": "before"}, {"id": row["id"], "text": "live"}]
    assert inits[1]["data"] == [{"id": missed["id"], "text": "while away"}]

    data(admin.post(f"/items/{b}", {"text": "after"}))
    frames = await sdk.ws.collect(quiet=0.5)
    assert [(f["event"], f["uid"]) for f in frames] == [("create", "2")], frames

    # same uids again on the same connection (a second resubscribe) replace, not duplicate
    for sub in sdk.subscriptions:
        await sdk.ws.send(sub)
        assert (await sdk.ws.recv())["event"] == "init"
    data(admin.post(f"/items/{a}", {"text": "once"}))
    frames = await sdk.ws.collect(quiet=0.5)
    assert [(f["event"], f["uid"]) for f in frames] == [("create", "1")], frames
