"""directus_activity rows for writes, and notifications.

Directus: api/src/services/items.ts (activity per create/update/delete), packages/system-data
src/fields/activity.yaml; packages/system-data/src/app-access-permissions/app-access-permissions.yaml
(app_access policies get read on own directus_notifications (recipient = $CURRENT_USER),
update of `status`, and read on own directus_activity (user = $CURRENT_USER)).
"""

import json

from harness import assert_error, create_collection, create_user_with_policy, data, uniq


def activity_for(admin, collection):
    return data(admin.get("/activity", params={
        "filter": json.dumps({"collection": {"_eq": collection}}), "sort": "id", "limit": -1}))


def test_every_write_creates_an_activity_row(admin):
    name = uniq("act")
    create_collection(admin, name, [{"field": "text", "type": "text"}])
    me = data(admin.get("/users/me"))
    item = data(admin.post(f"/items/{name}", {"text": "a"}, headers={"User-Agent": "switchboard-tests/1.0",
                                                                     "Origin": "http://127.0.0.1"}))
    data(admin.patch(f"/items/{name}/{item['id']}", {"text": "b"}))
    r = admin.delete(f"/items/{name}/{item['id']}")
    assert r.status_code == 204
    rows = activity_for(admin, name)
    assert [row["action"] for row in rows] == ["create", "update", "delete"]
    for row in rows:
        assert row["collection"] == name
        assert str(row["item"]) == str(item["id"])
        assert row["user"] == me["id"]
        assert isinstance(row["timestamp"], str) and row["timestamp"].endswith("Z")
        assert row["ip"] in ("127.0.0.1", "::ffff:127.0.0.1")
        assert "user_agent" in row and "origin" in row
    assert rows[0]["user_agent"] == "switchboard-tests/1.0"
    assert rows[0]["origin"] == "http://127.0.0.1"


def test_batch_write_creates_one_row_per_item(admin):
    name = uniq("act")
    create_collection(admin, name, [{"field": "text", "type": "text"}])
    items = data(admin.post(f"/items/{name}", [{"text": "a"}, {"text": "b"}]))
    rows = activity_for(admin, name)
    assert sorted(str(r["item"]) for r in rows) == sorted(str(i["id"]) for i in items)


def test_user_sees_only_own_activity(admin):
    name = uniq("act")
    create_collection(admin, name, [{"field": "text", "type": "text"}])
    info, user = create_user_with_policy(admin, app_access=True, permissions=[
        {"collection": name, "action": "create", "fields": ["*"]},
        {"collection": name, "action": "read", "fields": ["*"]},
    ])
    data(admin.post(f"/items/{name}", {"text": "admin"}))
    data(user.post(f"/items/{name}", {"text": "user"}))
    rows = data(user.get("/activity", params={"filter[collection][_eq]": name}))
    assert [r["user"] for r in rows] == [info["user"]]


def test_notifications_are_read_by_their_recipient_only(admin):
    rec_info, recipient = create_user_with_policy(admin, app_access=True, permissions=[])
    _, other = create_user_with_policy(admin, app_access=True, permissions=[])
    subject = uniq("subject")
    n = data(admin.post("/notifications", {"recipient": rec_info["user"], "subject": subject, "message": "hi"}))
    assert n["recipient"] == rec_info["user"] and n["subject"] == subject
    assert n["status"] == "inbox"
    mine = data(recipient.get("/notifications"))
    assert [x["subject"] for x in mine] == [subject]
    assert data(other.get("/notifications")) == []
    # the recipient may archive it (update of `status` only)
    updated = recipient.patch(f"/notifications/{n['id']}", {"status": "archived"})
    assert updated.status_code in (200, 204), updated.text
    assert_error(recipient.patch(f"/notifications/{n['id']}", {"subject": "changed"}), 403, "FORBIDDEN")


def test_notifications_without_app_access_are_forbidden(admin):
    info, user = create_user_with_policy(admin, app_access=False, permissions=[])
    data(admin.post("/notifications", {"recipient": info["user"], "subject": "s"}))
    assert_error(user.get("/notifications"), 403, "FORBIDDEN")
