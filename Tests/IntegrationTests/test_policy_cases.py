"""Per-policy permission cases (Directus 11): a user with policy A (read `id,title,status` of
every article) and policy B (also `secret` and `owner`, of the user's own articles) reads every
article, with `secret` only on their own (null on the others). REST, the socket's `items`
read, `init` and live events must agree, also while a row moves in and out of B's filter."""

from __future__ import annotations

import json

import pytest

from harness import Api, create_collection, create_field, create_user_with_policy, data, uniq
from wsclient import authed, in_thread, run_async


@pytest.fixture(scope="module")
def cases_server(server_factory):
    return server_factory(name="policy-cases")


def setup(admin: Api):
    name = uniq("articles")
    create_collection(admin, name, [
        {"field": "title", "type": "string"}, {"field": "secret", "type": "string"},
        {"field": "status", "type": "string"},
    ])
    create_field(admin, name, "owner", "uuid")
    info, _ = create_user_with_policy(admin, permissions=[
        {"collection": name, "action": "read", "fields": ["id", "title", "status"]},
    ])
    own = data(admin.post("/policies", {"name": uniq("own"), "admin_access": False, "app_access": False}))["id"]
    data(admin.post("/permissions", {
        "policy": own, "collection": name, "action": "read", "fields": ["id", "title", "secret", "status", "owner"],
        "permissions": {"owner": {"_eq": "$CURRENT_USER"}}}))
    data(admin.post("/access", {"user": info["user"], "policy": own}))
    user = Api(admin.base_url).login(info["email"], info["password"])
    me, other = info["user"], "bbbbbbbb-0000-4000-8000-000000000002"
    rows = [
        data(admin.post(f"/items/{name}", {"title": t, "secret": s, "status": "draft", "owner": o}))["id"]
        for t, s, o in [("mine", "s1", me), ("theirs", "s2", other), ("mine too", "s3", me)]
    ]
    return name, user, me, other, rows


def rest(user: Api, name: str, **params) -> list[dict]:
    r = user.get(f"/items/{name}", params={"sort": "id", "limit": "-1", **params})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_rest_shows_the_restricted_field_only_on_rows_of_its_policy(cases_server):
    name, user, me, other, rows = setup(cases_server.admin())
    got = rest(user, name)
    assert [r["id"] for r in got] == rows
    assert [r["secret"] for r in got] == ["s1", None, "s3"]
    assert [r["owner"] for r in got] == [me, None, me]
    assert [r["title"] for r in got] == ["mine", "theirs", "mine too"]
    # Filters and sorts compare the stored value (as Directus); search only where readable.
    assert rest(user, name, filter=json.dumps({"secret": {"_eq": "s2"}}), fields="id,secret") == [
        {"id": rows[1], "secret": None}]
    assert rest(user, name, search="s2") == []
    # Only `secret` requested: policy A grants none of it, so only policy B's rows.
    assert rest(user, name, fields="secret") == [{"secret": "s1"}, {"secret": "s3"}]
    # Aggregates group unreadable values under null.
    groups = rest(user, name, **{"aggregate[count]": "*", "groupBy[]": "secret"})
    assert sorted((g["secret"] or "", int(g["count"])) for g in groups) == [("", 1), ("s1", 1), ("s3", 1)]


@run_async
async def test_socket_reads_and_events_agree_with_rest(cases_server):
    admin = cases_server.admin()
    name, user, me, other, rows = await in_thread(setup, admin)
    ws = await authed(cases_server, user.token)
    items = await ws.items(name, "read", uid="r", query={"sort": ["id"]})
    assert items["data"] == await in_thread(rest, user, name)
    queries = {"all": None, "secret": {"fields": ["id", "secret", "title"]}, "only": {"fields": ["secret"]}}
    for uid, query in queries.items():
        msg = {"uid": uid, "live": True} | ({"query": query} if query else {})
        init = await ws.subscribe(name, **msg)
        params = {"fields": ",".join(query["fields"])} if query else {}
        assert init["event"] == "init", init
        assert sorted(init["data"], key=json.dumps) == sorted(
            await in_thread(rest, user, name, **params), key=json.dumps), uid

    async def expect(action_keys, what):
        """Every subscription's frames for the write equal REST reads of those keys."""
        frames = await ws.collect(quiet=0.5)
        for uid, query in queries.items():
            mine = [f for f in frames if f.get("uid") == uid]
            params = {"fields": ",".join(query["fields"])} if query else {}
            expected = await in_thread(rest, user, name, filter=json.dumps({"id": {"_in": action_keys}}), **params)
            events = [f for f in mine if f["event"] != "delete"]
            if expected:
                assert len(events) == 1 and events[0]["data"] == expected, f"{what} {uid}: {mine!r} vs {expected!r}"
            else:
                assert events == [], f"{what} {uid}: {mine!r}"
            yield uid, mine

    # A new article of someone else: everyone sees it, `secret` null.
    theirs = data(await in_thread(admin.post, f"/items/{name}", {"title": "new", "secret": "n1", "owner": other}))["id"]
    seen = {uid: frames async for uid, frames in expect([theirs], "create other")}
    assert seen["only"] == []  # `secret` alone: only policy B's rows
    assert seen["all"][0]["data"][0]["secret"] is None
    # It moves into policy B's filter: `secret` shows, and `only` now receives it.
    await in_thread(admin.patch, f"/items/{name}/{theirs}", {"owner": me})
    seen = {uid: frames async for uid, frames in expect([theirs], "move in")}
    assert seen["all"][0]["data"][0]["secret"] == "n1"
    assert seen["only"][0]["data"] == [{"secret": "n1"}]
    # And out again: null again for `all`; `only` (live) learns it left.
    await in_thread(admin.patch, f"/items/{name}/{theirs}", {"owner": other})
    seen = {uid: frames async for uid, frames in expect([theirs], "move out")}
    assert seen["all"][0]["data"][0]["secret"] is None
    assert [f["event"] for f in seen["only"]] == ["delete"] and seen["only"][0]["data"] == [theirs], seen["only"]
    assert seen["only"][0].get("reason") == "left"
    # An update of a restricted field on a row the policy does not admit: the same row, secret null.
    await in_thread(admin.patch, f"/items/{name}/{rows[1]}", {"secret": "changed", "title": "t2"})
    seen = {uid: frames async for uid, frames in expect([rows[1]], "update other")}
    assert seen["secret"][0]["data"] == [{"id": rows[1], "secret": None, "title": "t2"}]
    await ws.close()
