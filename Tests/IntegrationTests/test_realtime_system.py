"""Realtime on system collections and the presence pattern (PROTOCOL.md "Subscriptions").

Directus: app_access policies read their own directus_notifications (recipient = $CURRENT_USER)
(packages/system-data/src/app-access-permissions/app-access-permissions.yaml); activity rows
are written per item write (api/src/services/items.ts) and emitted like any other collection.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from harness import create_collection, create_user_with_policy, data, uniq
from wsclient import authed, in_thread, run_async


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@run_async
async def test_notifications_only_reach_their_recipient(server, admin):
    rec_info, recipient = create_user_with_policy(admin, app_access=True, permissions=[])
    other_info, other = create_user_with_policy(admin, app_access=True, permissions=[])
    old = data(admin.post("/notifications", {"recipient": rec_info["user"], "subject": "before"}))
    data(admin.post("/notifications", {"recipient": other_info["user"], "subject": "for other"}))
    ws_rec = await authed(server, recipient.token)
    ws_other = await authed(server, other.token)
    q = {"fields": ["id", "subject", "recipient"]}
    init = await ws_rec.subscribe("directus_notifications", uid="n", query=q)
    assert init == {"type": "subscription", "event": "init", "uid": "n",
                    "data": [{"id": old["id"], "subject": "before", "recipient": rec_info["user"]}]}, init
    init_other = await ws_other.subscribe("directus_notifications", uid="n", query=q)
    assert [r["subject"] for r in init_other["data"]] == ["for other"], init_other

    n = data(await in_thread(admin.post, "/notifications",
                             {"recipient": rec_info["user"], "subject": "hello", "message": "hi"}))
    ev = await ws_rec.recv()
    assert ev["type"] == "subscription" and ev["event"] == "create" and ev["uid"] == "n", ev
    expected = data(recipient.get(f"/notifications/{n['id']}", params={"fields": "id,subject,recipient"}))
    assert ev["data"] == [expected], ev
    await ws_other.expect_silence()


@run_async
async def test_activity_subscription_with_relational_field_and_filter(server, admin):
    name = uniq("act")
    create_collection(admin, name, [{"field": "text", "type": "text"}])
    first_name = "Rita" + uniq("x")[-4:]
    info, user = create_user_with_policy(admin, permissions=[
        {"collection": name, "action": "create", "fields": ["*"]},
        {"collection": name, "action": "read", "fields": ["*"]},
        {"collection": name, "action": "update", "fields": ["*"]},
        {"collection": name, "action": "delete"},
    ])
    data(admin.patch(f"/users/{info['user']}", {"first_name": first_name}))
    ws = await authed(server)
    q = {"fields": ["action", "user.first_name"], "filter": {"action": {"_in": ["create", "update"]}}, "limit": 1,
         "sort": ["-id"]}
    init = await ws.subscribe("directus_activity", uid="act", query=q)
    assert init["type"] == "subscription" and init["event"] == "init" and init["uid"] == "act", init
    row = data(await in_thread(user.post, f"/items/{name}", {"text": "a"}))
    ev, _ = await ws.recv_until(lambda f: f.get("event") == "create"
                                and f.get("data") == [{"action": "create", "user": {"first_name": first_name}}])
    assert set(ev) == {"type", "event", "data", "uid", "seq"}, ev
    await in_thread(user.patch, f"/items/{name}/{row['id']}", {"text": "b"})
    await ws.recv_until(lambda f: f.get("data") == [{"action": "update", "user": {"first_name": first_name}}])
    assert (await in_thread(user.delete, f"/items/{name}/{row['id']}")).status_code == 204
    frames = await ws.collect(quiet=0.5)
    for f in frames:  # the filter keeps `delete` activity out; fields stay as asked
        for r in f.get("data") or []:
            assert r["action"] in ("create", "update") and set(r) == {"action", "user"}, f


@run_async
async def test_users_filter_and_aggregate_count(server, admin):
    ws = await authed(server)
    flt = {"status": {"_eq": "active"}}
    rest = data(admin.get("/users", params={"aggregate[count]": "*", "filter": json.dumps(flt)}))
    init = await ws.subscribe("directus_users", uid="uc", query={"aggregate": {"count": "*"}, "filter": flt})
    assert init == {"type": "subscription", "event": "init", "data": rest, "uid": "uc"}, init
    count = int(rest[0]["count"])
    email = f"{uniq('u')}@example.com"
    data(await in_thread(admin.post, "/users", {"email": email, "password": "pw-123456", "status": "active"}))
    ev, _ = await ws.recv_until(lambda f: f.get("event") == "create")
    assert ev["uid"] == "uc" and ev["data"] == [{"count": count + 1}], ev

    # the filter alone (no aggregate): a suspended user doesn't come through
    init = await ws.subscribe("directus_users", uid="act", query={"fields": ["email"], "filter": flt})
    assert {"email": email} in init["data"], init
    suspended = f"{uniq('s')}@example.com"
    active = f"{uniq('a')}@example.com"
    data(await in_thread(admin.post, "/users", {"email": suspended, "password": "pw-123456", "status": "suspended"}))
    data(await in_thread(admin.post, "/users", {"email": active, "password": "pw-123456", "status": "active"}))
    frames = [f for f in await ws.collect(quiet=0.5) if f.get("uid") == "act"]
    assert [f["data"] for f in frames] == [[{"email": active}]], frames


@run_async
async def test_presence_window_with_now_variable(server, admin):
    name = uniq("presence")
    create_collection(admin, name, [{"field": "name", "type": "string"},
                                     {"field": "timestamp", "type": "timestamp"}])
    now = datetime.now(timezone.utc)
    data(admin.post(f"/items/{name}", {"name": "stale", "timestamp": iso(now - timedelta(hours=1))}))
    fresh_before = data(admin.post(f"/items/{name}", {"name": "fresh-before", "timestamp": iso(now)}))
    ws = await authed(server)
    q = {"fields": ["id", "name"], "filter": {"timestamp": {"_gte": "$NOW(-5 minutes)"}}}
    init = await ws.subscribe(name, uid="pr", query=q)
    assert init == {"type": "subscription", "event": "init", "uid": "pr",
                    "data": [{"id": fresh_before["id"], "name": "fresh-before"}]}, init
    data(await in_thread(admin.post, f"/items/{name}",
                         {"name": "old", "timestamp": iso(datetime.now(timezone.utc) - timedelta(minutes=30))}))
    await ws.expect_silence()
    fresh = data(await in_thread(admin.post, f"/items/{name}",
                                 {"name": "fresh", "timestamp": iso(datetime.now(timezone.utc))}))
    ev = await ws.recv()
    assert ev["event"] == "create" and ev["data"] == [{"id": fresh["id"], "name": "fresh"}], ev
    # a heartbeat update moving a stale row into the window arrives as update
    await in_thread(admin.patch, f"/items/{name}/{fresh_before['id']}", {"timestamp": iso(datetime.now(timezone.utc))})
    ev = await ws.recv()
    assert ev["event"] == "update" and ev["data"] == [{"id": fresh_before["id"], "name": "fresh-before"}], ev
