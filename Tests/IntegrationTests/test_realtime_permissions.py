"""Realtime permission fan-out (PROTOCOL.md "Subscriptions": data is what a REST read with the
caller's permissions returns; deletes reveal keys only to those who could read the row).

One public-mode server: subscribers are alice (own rows, no `secret`), bob (all rows, `secret`
but not `status`), the public policy (published rows, id + text) and the admin.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from harness import create_user_with_policy, data, owned_collection, public_policy_id
from wsclient import authed, in_thread, open_ws, run_async


@pytest.fixture(scope="module")
def pub_server(server_factory):
    return server_factory({"WEBSOCKETS_REST_AUTH": "public"}, name="ws-perms")


@pytest.fixture(scope="module")
def world(pub_server):
    admin = pub_server.admin()
    name = owned_collection(admin)
    alice_info, alice = create_user_with_policy(admin, permissions=[
        {"collection": name, "action": "read", "fields": ["id", "text", "status", "user_created"],
         "permissions": {"user_created": {"_eq": "$CURRENT_USER"}}},
        {"collection": name, "action": "create", "fields": ["text", "status"]},
        {"collection": name, "action": "update", "fields": ["text", "status"],
         "permissions": {"user_created": {"_eq": "$CURRENT_USER"}}},
    ])
    bob_info, bob = create_user_with_policy(admin, permissions=[
        {"collection": name, "action": "read", "fields": ["id", "text", "secret", "user_created"]},
    ])
    pid = public_policy_id(admin)
    data(admin.post("/permissions", {"policy": pid, "collection": name, "action": "read", "fields": ["id", "text"],
                                     "permissions": {"status": {"_eq": "published"}}}))
    return {"name": name, "admin": admin, "alice": alice, "bob": bob, "anon": pub_server.api(),
            "alice_id": alice_info["user"], "bob_id": bob_info["user"]}


def rest_rows(api, name, keys, fields=None):
    """What a REST read by `api` returns for these keys (readable rows, readable fields)."""
    params = {"filter": json.dumps({"id": {"_in": keys}}), "sort": "id"}
    if fields:
        params["fields"] = ",".join(fields)
    r = api.get(f"/items/{name}", params=params)
    if r.status_code == 403:
        return []
    assert r.status_code == 200, r.text
    return r.json()["data"]


async def subscribers(server, world, uid="s", query=None):
    socks = {}
    for who in ("admin", "alice", "bob"):
        socks[who] = await authed(server, world[who].token)
    socks["anon"] = await open_ws(server)
    for who, ws in socks.items():
        msg = {"uid": uid} if query is None else {"uid": uid, "query": query}
        init = await ws.subscribe(world["name"], **msg)
        assert init["type"] == "subscription" and init["event"] == "init", f"{who}: {init!r}"
        expected = await in_thread(rest_rows, world[who], world["name"],
                                   [r["id"] for r in data(world["admin"].get(f"/items/{world['name']}"))] or [0],
                                   (query or {}).get("fields"))
        assert sorted(init["data"], key=lambda r: r["id"]) == expected, f"{who} init {init['data']!r} != REST {expected!r}"
    return socks


async def collect_all(socks):
    """Frames of every socket until quiet, collected concurrently."""
    results = await asyncio.gather(*(ws.collect(quiet=0.4) for ws in socks.values()))
    return dict(zip(socks, results))


async def check_fanout(world, socks, event, keys):
    """Each subscriber got exactly the rows REST gives it (nothing at all if none)."""
    got = await collect_all(socks)
    for who in socks:
        expected = await in_thread(rest_rows, world[who], world["name"], keys)
        frames = got[who]
        if not expected:
            assert frames == [], f"{who} must receive nothing for {event} {keys}, got {frames!r}"
            continue
        assert len(frames) == 1, f"{who}: expected one {event} frame, got {frames!r}"
        f = frames[0]
        assert f["type"] == "subscription" and f["event"] == event and f["uid"] == "s", f"{who}: {f!r}"
        rows = sorted(f["data"], key=lambda r: r["id"])
        assert rows == expected, f"{who}: {event} data {rows!r} != REST read {expected!r}"


@run_async
async def test_create_fanout_matches_rest_reads(pub_server, world):
    socks = await subscribers(pub_server, world)
    name = world["name"]
    # alice creates a published row: alice (own), bob, public, admin read it
    a1 = data(await in_thread(world["alice"].post, f"/items/{name}", {"text": "alice pub", "status": "published"}))
    await check_fanout(world, socks, "create", [a1["id"]])
    # admin creates a draft with a secret: only bob and admin
    d1 = data(await in_thread(world["admin"].post, f"/items/{name}",
                              {"text": "admin draft", "status": "draft", "secret": "s3cr3t"}))
    await check_fanout(world, socks, "create", [d1["id"]])
    # alice's draft: alice, bob, admin, not public
    a2 = data(await in_thread(world["alice"].post, f"/items/{name}", {"text": "alice draft", "status": "draft"}))
    await check_fanout(world, socks, "create", [a2["id"]])
    # a batch update of all three: each gets its readable subset, in its shape
    keys = [a1["id"], d1["id"], a2["id"]]
    r = await in_thread(world["admin"].patch, f"/items/{name}", {"keys": keys, "data": {"secret": "changed"}})
    assert r.status_code in (200, 204), r.text
    await check_fanout(world, socks, "update", keys)


@run_async
async def test_nobody_gets_forbidden_fields(pub_server, world):
    socks = await subscribers(pub_server, world)
    name = world["name"]
    row = data(await in_thread(world["alice"].post, f"/items/{name}", {"text": "t", "status": "published"}))
    allowed = {"alice": {"id", "text", "status", "user_created"}, "bob": {"id", "text", "secret", "user_created"},
               "anon": {"id", "text"}}
    got = await collect_all(socks)
    for who, fields in allowed.items():
        frames = got[who]
        assert len(frames) == 1, f"{who}: {frames!r}"
        assert frames[0]["data"] and set(frames[0]["data"][0]) <= fields, f"{who}: {frames[0]!r}"
    # an explicitly requested forbidden field: REST says 403 FORBIDDEN, so does subscribe
    ws = socks["alice"]
    err = await ws.subscribe(name, uid="bad", query={"fields": ["id", "secret"]})
    assert err["type"] == "subscribe" and err["status"] == "error" and err["uid"] == "bad", err
    assert err["error"]["code"] == "FORBIDDEN", err
    assert row


@run_async
async def test_update_making_row_unreadable_is_not_delivered(pub_server, world):
    socks = await subscribers(pub_server, world, query={"fields": ["id", "text"]})
    name = world["name"]
    row = data(await in_thread(world["alice"].post, f"/items/{name}", {"text": "p", "status": "published"}))
    await collect_all(socks)
    # status → draft: public can no longer read it, so public gets no update
    r = await in_thread(world["admin"].patch, f"/items/{name}/{row['id']}", {"status": "draft", "text": "hidden now"})
    assert r.status_code == 200
    got = await collect_all(socks)
    assert got["anon"] == [], got["anon"]
    for who in ("admin", "alice", "bob"):
        assert [f["data"] for f in got[who]] == [[{"id": row["id"], "text": "hidden now"}]], (who, got[who])


@run_async
async def test_delete_reveals_keys_only_to_readers(pub_server, world):
    name = world["name"]
    a_pub = data(world["alice"].post(f"/items/{name}", {"text": "a", "status": "published"}))
    admin_draft = data(world["admin"].post(f"/items/{name}", {"text": "d", "status": "draft"}))
    admin_pub = data(world["admin"].post(f"/items/{name}", {"text": "p", "status": "published"}))
    keys = [a_pub["id"], admin_draft["id"], admin_pub["id"]]
    socks = await subscribers(pub_server, world, query={"fields": ["id"]})
    readable = {who: [r["id"] for r in await in_thread(rest_rows, world[who], name, keys)] for who in socks}
    assert readable["alice"] == [a_pub["id"]]
    assert readable["anon"] == [a_pub["id"], admin_pub["id"]]
    assert readable["bob"] == keys and readable["admin"] == keys
    r = await in_thread(world["admin"].delete, f"/items/{name}", keys)
    assert r.status_code == 204
    got = await collect_all(socks)
    for who in socks:
        frames = got[who]
        assert len(frames) == 1, f"{who}: {frames!r}"
        assert frames[0]["event"] == "delete" and frames[0]["uid"] == "s", frames[0]
        assert sorted(frames[0]["data"]) == readable[who], f"{who}: delete keys {frames[0]['data']!r} != {readable[who]!r}"


@run_async
async def test_delete_of_unreadable_row_sends_nothing(pub_server, world):
    name = world["name"]
    hidden = data(world["admin"].post(f"/items/{name}", {"text": "d", "status": "draft"}))
    socks = await subscribers(pub_server, world, query={"fields": ["id"]})
    assert (await in_thread(world["admin"].delete, f"/items/{name}/{hidden['id']}")).status_code == 204
    got = await collect_all(socks)
    assert got["anon"] == [] and got["alice"] == [], got
    for who in ("admin", "bob"):
        frames = got[who]
        assert [f["data"] for f in frames] == [[hidden["id"]]], (who, frames)
