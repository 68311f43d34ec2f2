"""Items CRUD over REST (/items/:collection).

Directus: api/src/controllers/items.ts (body shapes, batch forms, 204 on delete),
api/src/middleware/validate-batch.ts (keys XOR query, `data` required),
api/src/services/items.ts (readOne on a missing key → FORBIDDEN; createMany in one transaction).
"""

import json

from harness import assert_error, assert_no_content, create_collection, data, messages_collection, uniq


def make_notes(admin, rows=None):
    name = uniq("notes")
    create_collection(admin, name, [
        {"field": "text", "type": "text"},
        {"field": "status", "type": "string"},
        {"field": "n", "type": "integer"},
    ])
    created = []
    if rows:
        created = data(admin.post(f"/items/{name}", rows))
    return name, created


def ids(rows):
    return sorted(r["id"] for r in rows)


def test_create_one_returns_the_item(admin):
    name, _ = make_notes(admin)
    item = data(admin.post(f"/items/{name}", {"text": "hello", "n": 1}))
    assert isinstance(item["id"], int)
    assert item["text"] == "hello" and item["n"] == 1 and item["status"] is None


def test_create_many_returns_array_in_order(admin):
    name, _ = make_notes(admin)
    items = data(admin.post(f"/items/{name}", [{"text": "a"}, {"text": "b"}, {"text": "c"}]))
    assert [i["text"] for i in items] == ["a", "b", "c"]
    assert len(set(i["id"] for i in items)) == 3


def test_create_respects_fields_query(admin):
    name, _ = make_notes(admin)
    item = data(admin.post(f"/items/{name}", {"text": "x", "n": 5}, params={"fields": "n"}))
    assert item == {"n": 5}


def test_list_and_get_by_id(admin):
    name, created = make_notes(admin, [{"text": "a"}, {"text": "b"}])
    body = admin.get(f"/items/{name}").json()
    assert "meta" not in body  # meta only when asked for
    assert ids(body["data"]) == ids(created)
    one = data(admin.get(f"/items/{name}/{created[0]['id']}"))
    assert one["text"] == "a"


def test_get_missing_id_is_forbidden_even_for_admin(admin):
    # services/items.ts readOne: no row → ForbiddenError (existence is never revealed)
    name, _ = make_notes(admin)
    assert_error(admin.get(f"/items/{name}/999999"), 403, "FORBIDDEN")


def test_patch_by_id(admin):
    name, created = make_notes(admin, [{"text": "a", "n": 1}])
    updated = data(admin.patch(f"/items/{name}/{created[0]['id']}", {"text": "b"}))
    assert updated["text"] == "b" and updated["n"] == 1


def test_patch_by_keys(admin):
    name, created = make_notes(admin, [{"text": "a"}, {"text": "b"}, {"text": "c"}])
    keys = [created[0]["id"], created[1]["id"]]
    updated = data(admin.patch(f"/items/{name}", {"keys": keys, "data": {"status": "done"}}))
    assert ids(updated) == sorted(keys)
    assert all(r["status"] == "done" for r in updated)
    assert data(admin.get(f"/items/{name}/{created[2]['id']}"))["status"] is None


def test_patch_by_query(admin):
    name, created = make_notes(admin, [{"text": "a", "n": 1}, {"text": "b", "n": 2}, {"text": "c", "n": 3}])
    body = {"query": {"filter": {"n": {"_gte": 2}}}, "data": {"status": "big"}}
    updated = data(admin.patch(f"/items/{name}", body))
    assert sorted(r["n"] for r in updated) == [2, 3]
    rows = data(admin.get(f"/items/{name}", params={"sort": "n"}))
    assert [r["status"] for r in rows] == [None, "big", "big"]


def test_batch_patch_array_of_objects(admin):
    name, created = make_notes(admin, [{"text": "a"}, {"text": "b"}])
    body = [{"id": created[0]["id"], "text": "A"}, {"id": created[1]["id"], "text": "B"}]
    updated = data(admin.patch(f"/items/{name}", body))
    assert sorted(r["text"] for r in updated) == ["A", "B"]


def test_patch_without_keys_or_query_is_invalid_payload(admin):
    name, _ = make_notes(admin, [{"text": "a"}])
    assert_error(admin.patch(f"/items/{name}", {"data": {"text": "x"}}), 400, "INVALID_PAYLOAD")
    assert_error(admin.patch(f"/items/{name}", {"keys": [1]}), 400, "INVALID_PAYLOAD")  # data required


def test_delete_by_id(admin):
    name, created = make_notes(admin, [{"text": "a"}, {"text": "b"}])
    assert_no_content(admin.delete(f"/items/{name}/{created[0]['id']}"))
    assert ids(data(admin.get(f"/items/{name}"))) == [created[1]["id"]]


def test_delete_by_keys_array_body(admin):
    name, created = make_notes(admin, [{"text": "a"}, {"text": "b"}, {"text": "c"}])
    assert_no_content(admin.delete(f"/items/{name}", [created[0]["id"], created[1]["id"]]))
    assert ids(data(admin.get(f"/items/{name}"))) == [created[2]["id"]]


def test_delete_by_keys_object_body(admin):
    name, created = make_notes(admin, [{"text": "a"}, {"text": "b"}])
    assert_no_content(admin.delete(f"/items/{name}", {"keys": [created[1]["id"]]}))
    assert ids(data(admin.get(f"/items/{name}"))) == [created[0]["id"]]


def test_delete_by_query(admin):
    name, created = make_notes(admin, [{"text": "a", "n": 1}, {"text": "b", "n": 2}])
    assert_no_content(admin.delete(f"/items/{name}", {"query": {"filter": {"n": {"_eq": 2}}}}))
    assert ids(data(admin.get(f"/items/{name}"))) == [created[0]["id"]]


def test_special_fields_filled_from_caller(server, admin):
    name = messages_collection(admin)
    admin_id = data(admin.get("/users/me"))["id"]
    item = data(admin.post(f"/items/{name}", {"text": "mine"}))
    assert item["user_created"] == admin_id
    assert item["date_created"].endswith("Z")
    # a client-sent user_created is overwritten on create (payload.ts 'user-created')
    item = data(admin.post(f"/items/{name}", {"text": "spoof", "user_created": "00000000-0000-0000-0000-000000000000"}))
    assert item["user_created"] == admin_id


def test_failed_multi_create_writes_nothing(admin):
    name = uniq("uniq")
    create_collection(admin, name, [{"field": "code", "type": "string", "schema": {"is_unique": True}}])
    r = admin.post(f"/items/{name}", [{"code": "a"}, {"code": "b"}, {"code": "a"}])
    assert_error(r, 400, "RECORD_NOT_UNIQUE")
    assert data(admin.get(f"/items/{name}")) == []


def test_items_route_refuses_system_collections(admin):
    # controllers/items.ts: isSystemCollection → ForbiddenError, even for admins
    assert_error(admin.get("/items/directus_users"), 403, "FORBIDDEN")


def test_search_method_reads_with_query_in_body(admin):
    name, created = make_notes(admin, [{"text": "a", "n": 1}, {"text": "b", "n": 2}])
    r = admin.request("SEARCH", f"/items/{name}", data=json.dumps({"query": {"filter": {"n": {"_eq": 2}}}}),
                      headers={"Content-Type": "application/json"})
    rows = data(r)
    assert [x["text"] for x in rows] == ["b"]
