"""Roles, policies, access, permissions, and the public policy.

Directus sources checked (v11.14.1):
- api/src/permissions/lib/fetch-policies.ts: no role/user → policies attached via a
  directus_access row with role = null AND user = null (the public policy)
- api/src/database/migrations/20240806A-permissions-policies.ts: public policy id
  abf8a154-5b1c-4a46-ac9c-7300570f4f17, name "$t:public_label", app_access false
- api/src/database/get-ast-from-query/lib/convert-wildcards.ts: `*` expands to allowed fields
- api/src/permissions/modules/process-ast/utils/validate-path/*: forbidden/unknown field → FORBIDDEN
- api/src/services/items.ts readOne: hidden and missing rows both → FORBIDDEN
- packages/validation/src/errors/failed-validation.ts: FAILED_VALIDATION, 400
"""

import json

from harness import (
    PUBLIC_POLICY_ID,
    PUBLIC_POLICY_NAME,
    assert_error,
    create_user_with_policy,
    data,
    owned_collection,
    public_policy_id,
    uniq,
)


def own_rows_perms(name):
    return [
        {"collection": name, "action": "read", "fields": ["id", "text", "status", "user_created"],
         "permissions": {"user_created": {"_eq": "$CURRENT_USER"}}},
        {"collection": name, "action": "create", "fields": ["text", "status"],
         "validation": {"text": {"_nnull": True}}, "presets": {"status": "draft"}},
        {"collection": name, "action": "update", "fields": ["text"],
         "permissions": {"user_created": {"_eq": "$CURRENT_USER"}}},
    ]


def test_star_expands_to_allowed_fields_only(admin):
    name = owned_collection(admin)
    _, user = create_user_with_policy(admin, permissions=own_rows_perms(name))
    data(user.post(f"/items/{name}", {"text": "hello"}))
    rows = data(user.get(f"/items/{name}", params={"fields": "*"}))
    assert len(rows) == 1
    assert set(rows[0]) == {"id", "text", "status", "user_created"}


def test_requesting_a_forbidden_field_is_forbidden(admin):
    name = owned_collection(admin)
    _, user = create_user_with_policy(admin, permissions=own_rows_perms(name))
    assert_error(user.get(f"/items/{name}", params={"fields": "id,secret"}), 403, "FORBIDDEN")
    assert_error(user.get(f"/items/{name}", params={"filter": json.dumps({"secret": {"_eq": "x"}})}),
                 403, "FORBIDDEN")


def test_row_filter_with_current_user_hides_other_rows(admin):
    name = owned_collection(admin)
    _, alice = create_user_with_policy(admin, permissions=own_rows_perms(name))
    hers = data(alice.post(f"/items/{name}", {"text": "alice's"}))
    theirs = data(admin.post(f"/items/{name}", {"text": "admin's", "secret": "s"}))
    rows = data(alice.get(f"/items/{name}"))
    assert [r["id"] for r in rows] == [hers["id"]]
    # hidden and missing ids are indistinguishable
    hidden = alice.get(f"/items/{name}/{theirs['id']}")
    missing = alice.get(f"/items/{name}/987654")
    assert_error(hidden, 403, "FORBIDDEN")
    assert_error(missing, 403, "FORBIDDEN")
    assert hidden.json() == missing.json()
    # meta counts respect permissions too (services/meta.ts)
    body = alice.get(f"/items/{name}", params={"meta": "total_count,filter_count"}).json()
    assert body["meta"] == {"total_count": 1, "filter_count": 1}


def test_write_without_permission_is_forbidden(admin):
    name = owned_collection(admin)
    _, user = create_user_with_policy(admin, permissions=own_rows_perms(name))
    other = data(admin.post(f"/items/{name}", {"text": "admin's"}))
    mine = data(user.post(f"/items/{name}", {"text": "mine"}))
    assert_error(user.patch(f"/items/{name}/{other['id']}", {"text": "x"}), 403, "FORBIDDEN")
    assert_error(user.patch(f"/items/{name}/{mine['id']}", {"secret": "x"}), 403, "FORBIDDEN")  # field not allowed
    assert_error(user.delete(f"/items/{name}/{mine['id']}"), 403, "FORBIDDEN")  # no delete permission
    assert_error(user.post(f"/items/{name}", {"text": "t", "secret": "s"}), 403, "FORBIDDEN")
    assert data(admin.get(f"/items/{name}/{other['id']}"))["text"] == "admin's"


def test_collection_without_any_permission_is_forbidden(admin):
    name = owned_collection(admin)
    _, user = create_user_with_policy(admin, permissions=[])
    assert_error(user.get(f"/items/{name}"), 403, "FORBIDDEN")
    assert_error(user.post(f"/items/{name}", {"text": "x"}), 403, "FORBIDDEN")


def test_validation_failure_is_failed_validation(admin):
    name = owned_collection(admin)
    _, user = create_user_with_policy(admin, permissions=own_rows_perms(name))
    err = assert_error(user.post(f"/items/{name}", {"text": None, "status": "x"}), 400, "FAILED_VALIDATION")
    assert err["extensions"] == {"code": "FAILED_VALIDATION", "field": "text", "path": [], "type": "nnull"}, err
    assert err["message"] == 'Validation failed for field "text". Value can\'t be null.', err
    assert data(admin.get(f"/items/{name}")) == []
    # Joi, as Directus validates: a field the payload leaves out is not checked (only
    # `_submitted` requires it)
    assert data(user.post(f"/items/{name}", {"status": "x"}))["text"] is None


def test_presets_are_applied_on_create(admin):
    name = owned_collection(admin)
    info, user = create_user_with_policy(admin, permissions=own_rows_perms(name))
    item = data(user.post(f"/items/{name}", {"text": "with preset"}))
    assert item["status"] == "draft"
    assert item["user_created"] == info["user"]
    # an explicit value wins over the preset
    assert data(user.post(f"/items/{name}", {"text": "t", "status": "published"}))["status"] == "published"


def test_user_level_access_row(admin):
    name = owned_collection(admin)
    info, user = create_user_with_policy(admin, permissions=[])
    assert_error(user.get(f"/items/{name}"), 403, "FORBIDDEN")
    extra = data(admin.post("/policies", {"name": uniq("userpol"), "admin_access": False, "app_access": False}))["id"]
    data(admin.post("/access", {"user": info["user"], "policy": extra}))
    data(admin.post("/permissions", {"policy": extra, "collection": name, "action": "read", "fields": ["*"]}))
    assert data(user.get(f"/items/{name}")) == []


def test_public_policy_is_builtin_like_directus(admin):
    pid = public_policy_id(admin)
    assert pid == PUBLIC_POLICY_ID
    policy = data(admin.get(f"/policies/{pid}"))
    assert policy["name"] == PUBLIC_POLICY_NAME
    assert policy["admin_access"] is False and policy["app_access"] is False
    found = data(admin.get("/policies", params={"filter[name][_eq]": PUBLIC_POLICY_NAME}))
    assert [p["id"] for p in found] == [pid]


def test_public_read_needs_a_grant(admin, anon):
    name = owned_collection(admin)
    data(admin.post(f"/items/{name}", {"text": "public text", "secret": "s"}))
    assert_error(anon.get(f"/items/{name}"), 403, "FORBIDDEN")
    pid = public_policy_id(admin)
    data(admin.post("/permissions", {"policy": pid, "collection": name, "action": "read",
                                     "fields": ["id", "text"]}))
    rows = data(anon.get(f"/items/{name}"))
    assert rows and set(rows[0]) == {"id", "text"}
    assert_error(anon.post(f"/items/{name}", {"text": "x"}), 403, "FORBIDDEN")
    data(admin.post("/permissions", {"policy": pid, "collection": name, "action": "create",
                                     "fields": ["text"]}))
    created = anon.post(f"/items/{name}", {"text": "from public"})
    assert created.status_code in (200, 204), created.text


def test_unknown_collection_is_forbidden_for_everyone(admin, anon):
    # middleware/collection-exists.ts: createCollectionForbiddenError for admins as well
    _, user = create_user_with_policy(admin, permissions=[])
    for api in (admin, anon, user):
        assert_error(api.get("/items/does_not_exist"), 403, "FORBIDDEN")


def test_admin_bypasses_permissions(admin):
    name = owned_collection(admin)
    _, user = create_user_with_policy(admin, permissions=own_rows_perms(name))
    data(user.post(f"/items/{name}", {"text": "u"}))
    rows = data(admin.get(f"/items/{name}", params={"fields": "*"}))
    assert len(rows) == 1 and "secret" in rows[0]


def test_non_admin_cannot_manage_schema_or_users(admin):
    _, user = create_user_with_policy(admin, permissions=[])
    assert_error(user.post("/collections", {"collection": uniq("x"), "schema": {}, "meta": {}}), 403, "FORBIDDEN")
    assert_error(user.post("/users", {"email": "x@example.com", "password": "p"}), 403, "FORBIDDEN")


def test_app_access_user_reads_own_user_record(admin):
    info, user = create_user_with_policy(admin, app_access=True, permissions=[])
    me = data(user.get("/users/me"))
    assert me["id"] == info["user"] and me["email"] == info["email"]
    assert me["password"] == "**********"
