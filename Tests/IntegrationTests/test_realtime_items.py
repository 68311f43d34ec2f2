"""Items over the socket (PROTOCOL.md "Items over the socket").

Directus: api/src/websocket/handlers/items.ts (actions, reply shapes, directus_* refused),
api/src/websocket/messages.ts (WebSocketItemsMessage).
"""

from __future__ import annotations

import json

from harness import create_collection, create_user_with_policy, data, uniq
from wsclient import assert_error_frame, authed, in_thread, run_async


def coll(admin, rows=()):
    name = uniq("wsitems")
    create_collection(admin, name, [{"field": "text", "type": "text"}, {"field": "n", "type": "integer"},
                                    {"field": "secret", "type": "string"}, {"field": "status", "type": "string"},
                                    {"field": "user_created", "type": "uuid", "meta": {"special": ["user-created"]}}])
    out = [data(admin.post(f"/items/{name}", r)) for r in rows]
    return name, out


def rest_get(admin, name, key):
    return data(admin.get(f"/items/{name}/{key}"))


def assert_items_reply(frame, uid):
    assert frame.get("type") == "items" and "status" not in frame, frame
    assert set(frame) - {"meta"} == {"type", "data", "uid"}, frame
    assert frame["uid"] == uid, frame


@run_async
async def test_create_object_and_array(server, admin):
    name, _ = coll(admin)
    ws = await authed(server)
    one = await ws.items(name, "create", uid="c1", data={"text": "one", "n": 1})
    assert_items_reply(one, "c1")
    assert isinstance(one["data"], dict), one
    assert one["data"] == rest_get(admin, name, one["data"]["id"])
    many = await ws.items(name, "create", uid="c2", data=[{"text": "two"}, {"text": "three"}])
    assert_items_reply(many, "c2")
    assert isinstance(many["data"], list) and [r["text"] for r in many["data"]] == ["two", "three"], many
    for r in many["data"]:
        assert r == rest_get(admin, name, r["id"])
    shaped = await ws.items(name, "create", uid="c3", data={"text": "four"}, query={"fields": ["id"]})
    assert_items_reply(shaped, "c3")
    assert set(shaped["data"]) == {"id"}, shaped


@run_async
async def test_read_by_id_ids_and_query(server, admin):
    name, rows = coll(admin, [{"text": "a", "n": 1}, {"text": "b", "n": 2}, {"text": "c", "n": 3}])
    ws = await authed(server)
    r = await ws.items(name, "read", uid="r1", id=rows[0]["id"])
    assert_items_reply(r, "r1")
    assert r["data"] == rest_get(admin, name, rows[0]["id"])
    r = await ws.items(name, "read", uid="r2", ids=[rows[0]["id"], rows[2]["id"]])
    assert_items_reply(r, "r2")
    assert sorted(x["id"] for x in r["data"]) == [rows[0]["id"], rows[2]["id"]], r
    r = await ws.items(name, "read", uid="r3", query={"filter": {"n": {"_gte": 2}}, "fields": ["n"], "sort": ["n"]})
    assert_items_reply(r, "r3")
    assert r["data"] == [{"n": 2}, {"n": 3}], r
    r = await ws.items(name, "read", uid="r4")
    assert_items_reply(r, "r4")
    assert r["data"] == data(admin.get(f"/items/{name}")), r


@run_async
async def test_update_by_id_ids_and_query(server, admin):
    name, rows = coll(admin, [{"text": "a", "n": 1}, {"text": "b", "n": 2}, {"text": "c", "n": 3}])
    ws = await authed(server)
    r = await ws.items(name, "update", uid="u1", id=rows[0]["id"], data={"text": "A"})
    assert_items_reply(r, "u1")
    assert isinstance(r["data"], dict) and r["data"]["text"] == "A", r
    assert rest_get(admin, name, rows[0]["id"])["text"] == "A"
    r = await ws.items(name, "update", uid="u2", ids=[rows[1]["id"], rows[2]["id"]], data={"text": "BC"})
    assert_items_reply(r, "u2")
    assert isinstance(r["data"], list) and sorted(x["id"] for x in r["data"]) == [rows[1]["id"], rows[2]["id"]], r
    r = await ws.items(name, "update", uid="u3", query={"filter": {"n": {"_gte": 3}}}, data={"secret": "q"})
    assert_items_reply(r, "u3")
    assert isinstance(r["data"], list) and [x["id"] for x in r["data"]] == [rows[2]["id"]], r
    assert [x["secret"] for x in data(admin.get(f"/items/{name}", params={"sort": "id"}))] == [None, None, "q"]


@run_async
async def test_delete_by_id_ids_query_and_none(server, admin):
    name, rows = coll(admin, [{"n": i} for i in range(5)])
    keys = [r["id"] for r in rows]
    ws = await authed(server)
    r = await ws.items(name, "delete", uid="d1", id=keys[0])
    assert r == {"type": "items", "data": keys[0], "uid": "d1"}, r
    r = await ws.items(name, "delete", uid="d2", ids=keys[1:3])
    assert_items_reply(r, "d2")
    assert sorted(r["data"]) == keys[1:3], r
    r = await ws.items(name, "delete", uid="d3", query={"filter": {"n": {"_eq": 3}}})
    assert_items_reply(r, "d3")
    assert r["data"] == [keys[3]], r
    err = await ws.items(name, "delete", uid="d4")
    assert_error_frame(err, "items", "INVALID_PAYLOAD", uid="d4")
    assert [x["id"] for x in data(admin.get(f"/items/{name}"))] == [keys[4]]


@run_async
async def test_system_collection_is_invalid_collection(server):
    ws = await authed(server)
    for action in ("read", "create"):
        err = await ws.items("directus_users", action, uid=f"sys-{action}", data={"email": "x@example.com"})
        assert_error_frame(err, "items", "INVALID_COLLECTION", uid=f"sys-{action}")
    err = await ws.items("not_a_collection_here", "read", uid="nc")
    assert_error_frame(err, "items", "INVALID_COLLECTION", uid="nc")


@run_async
async def test_bad_action_and_missing_collection_are_invalid_payload(server, admin):
    name, _ = coll(admin)
    ws = await authed(server)
    err = await ws.items(name, "explode", uid="bad")
    assert_error_frame(err, "items", "INVALID_PAYLOAD", uid="bad")
    await ws.send({"type": "items", "action": "read", "uid": "nocol"})
    assert_error_frame(await ws.recv(), "items", "INVALID_PAYLOAD", uid="nocol")


@run_async
async def test_forbidden_validation_and_presets_like_rest(server, admin):
    name, _ = coll(admin)
    admin_row = data(admin.post(f"/items/{name}", {"text": "admin's"}))
    info, user = create_user_with_policy(admin, permissions=[
        {"collection": name, "action": "read", "fields": ["id", "text", "status", "user_created"],
         "permissions": {"user_created": {"_eq": "$CURRENT_USER"}}},
        {"collection": name, "action": "create", "fields": ["text", "status"],
         "validation": {"text": {"_nnull": True}}, "presets": {"status": "draft"}},
    ])
    ws = await authed(server, user.token)
    err = await ws.items(name, "create", uid="f1", data={"text": "t", "secret": "s"})
    assert_error_frame(err, "items", "FORBIDDEN", uid="f1")
    err = await ws.items(name, "update", uid="f2", id=admin_row["id"], data={"text": "x"})
    assert_error_frame(err, "items", "FORBIDDEN", uid="f2")
    err = await ws.items(name, "delete", uid="f3", id=admin_row["id"])
    assert_error_frame(err, "items", "FORBIDDEN", uid="f3")
    err = await ws.items(name, "read", uid="f4", id=admin_row["id"])
    assert_error_frame(err, "items", "FORBIDDEN", uid="f4")
    err = await ws.items(name, "create", uid="v", data={"text": None, "status": "x"})
    assert_error_frame(err, "items", "FAILED_VALIDATION", uid="v")
    ok = await ws.items(name, "create", uid="p", data={"text": "mine"})
    assert_items_reply(ok, "p")
    assert ok["data"]["status"] == "draft" and ok["data"]["user_created"] == info["user"], ok
    assert set(ok["data"]) <= {"id", "text", "status", "user_created"}, ok
    rows = data(admin.get(f"/items/{name}", params={"sort": "id"}))
    assert [r["text"] for r in rows] == ["admin's", "mine"], rows
    # a collection with no permission at all
    other, _ = coll(admin)
    err = await ws.items(other, "read", uid="np")
    assert_error_frame(err, "items", "FORBIDDEN", uid="np")


@run_async
async def test_reply_precedes_the_event_it_caused(server, admin):
    name, _ = coll(admin)
    ws = await authed(server)
    init = await ws.subscribe(name, uid="sub", query={"fields": ["id", "text"]})
    assert init["event"] == "init"
    for i in range(10):
        await ws.send({"type": "items", "collection": name, "action": "create", "data": {"text": f"t{i}"},
                       "uid": f"w{i}"})
        reply = await ws.recv()
        assert reply.get("type") == "items" and reply.get("uid") == f"w{i}", \
            f"write {i}: expected the items reply first, got {reply!r}"
        ev = await ws.recv()
        assert ev["type"] == "subscription" and ev["event"] == "create" and ev["uid"] == "sub", ev
        assert ev["data"] == [{"id": reply["data"]["id"], "text": f"t{i}"}], ev
    # also for update and delete
    key = reply["data"]["id"]
    await ws.send({"type": "items", "collection": name, "action": "update", "id": key, "data": {"text": "u"},
                   "uid": "wu"})
    assert (await ws.recv()).get("uid") == "wu"
    assert (await ws.recv())["event"] == "update"
    await ws.send({"type": "items", "collection": name, "action": "delete", "id": key, "uid": "wd"})
    assert (await ws.recv()) == {"type": "items", "data": key, "uid": "wd"}
    ev = await ws.recv()
    assert ev["event"] == "delete" and ev["data"] == [key], ev


@run_async
async def test_socket_write_emits_same_event_as_rest_write(server, admin):
    name, _ = coll(admin)
    sub = await authed(server)
    await sub.subscribe(name, uid="s", query={"fields": ["id", "text", "n"]})
    writer = await authed(server)
    via_ws = await writer.items(name, "create", data={"text": "same", "n": 1})
    via_rest = data(await in_thread(admin.post, f"/items/{name}", {"text": "same", "n": 1}))
    frames = await sub.collect()
    assert [f["event"] for f in frames] == ["create", "create"], frames
    assert frames[0]["data"][0] | {"id": 0} == frames[1]["data"][0] | {"id": 0}, frames
    assert [f["data"][0]["id"] for f in frames] == [via_ws["data"]["id"], via_rest["id"]]
    # activity rows exist for both writes, like REST
    acts = data(admin.get("/activity", params={"filter": json.dumps({"collection": {"_eq": name}})}))
    assert sorted(str(a["item"]) for a in acts) == sorted([str(via_ws["data"]["id"]), str(via_rest["id"])])
