"""Payload validation as Directus 11 does it, over REST and the socket alike.

Directus sources checked:
- api/src/permissions/modules/process-payload/process-payload.ts: every field's `validation`
  (for admins too) and every permission's `validation` are ANDed and checked on the payload with
  its presets (create and update; an update checks what it writes, not the stored row)
- packages/utils/shared/generate-joi.ts, validate-payload.ts: Joi; a field the payload leaves out
  passes (only `_submitted` requires it); `_regex` is a JS regular expression found in a string,
  `/…/` stripped; `_submitted` / `_regex` are validation operators (packages/types filter.ts)
- packages/validation/src/errors/failed-validation.ts: FAILED_VALIDATION, message
  `Validation failed for field "f". Value doesn't have the correct format.`, extensions
  {field, path, type}
"""

import json

from harness import assert_error, create_collection, create_user_with_policy, data, uniq
from wsclient import assert_error_frame, authed, run_async

EMAIL = {"email": {"_regex": "^[^@\\s]+@[^@\\s]+\\.[a-z]+$"}}


def contacts(admin) -> str:
    name = uniq("contacts")
    create_collection(admin, name, [
        {"field": "email", "type": "string", "meta": {"validation": EMAIL, "validation_message": "an e-mail"}},
        {"field": "note", "type": "text"},
    ])
    return name


def test_a_field_rule_with_regex_checks_creates_and_updates_for_everyone(admin):
    name = contacts(admin)
    err = assert_error(admin.post(f"/items/{name}", {"email": "not an address"}), 400, "FAILED_VALIDATION")
    assert err["extensions"] == {"code": "FAILED_VALIDATION", "field": "email", "path": [], "type": "regex"}, err
    assert err["message"] == 'Validation failed for field "email". Value doesn\'t have the correct format.'
    row = data(admin.post(f"/items/{name}", {"email": "ada@example.com"}))
    # a field the payload leaves out is not checked, on create and on update
    other = data(admin.post(f"/items/{name}", {"note": "no e-mail yet"}))
    assert data(admin.patch(f"/items/{name}/{other['id']}", {"note": "still none"}))["note"] == "still none"
    assert_error(admin.patch(f"/items/{name}/{row['id']}", {"email": "ada@"}), 400, "FAILED_VALIDATION")
    # Joi's string(): null is not a string
    assert_error(admin.patch(f"/items/{name}/{row['id']}", {"email": None}), 400, "FAILED_VALIDATION")
    assert data(admin.get(f"/items/{name}/{row['id']}"))["email"] == "ada@example.com"
    # batch: one bad item refuses the whole request
    assert_error(admin.post(f"/items/{name}", [{"email": "a@b.co"}, {"email": "nope"}]), 400, "FAILED_VALIDATION")
    assert len(data(admin.get(f"/items/{name}"))) == 2


def test_changing_the_field_rule_applies_to_the_next_write(admin):
    name = contacts(admin)
    data(admin.patch(f"/fields/{name}/email", {"meta": {"validation": {"email": {"_regex": "/^x/"}}}}))
    assert_error(admin.post(f"/items/{name}", {"email": "ada@example.com"}), 400, "FAILED_VALIDATION")
    assert data(admin.post(f"/items/{name}", {"email": "xyz"}))["email"] == "xyz"
    data(admin.patch(f"/fields/{name}/email", {"meta": {"validation": None}}))
    assert data(admin.post(f"/items/{name}", {"email": "anything"}))["email"] == "anything"


def test_submitted_in_a_permission_requires_the_field_and_rules_add_up(admin):
    name = contacts(admin)
    _, user = create_user_with_policy(admin, permissions=[
        {"collection": name, "action": "read", "fields": ["*"]},
        {"collection": name, "action": "create", "fields": ["email", "note"],
         "validation": {"note": {"_submitted": True}}},
        {"collection": name, "action": "update", "fields": ["email", "note"],
         "validation": {"note": {"_nempty": True}}},
    ])
    err = assert_error(user.post(f"/items/{name}", {"email": "ada@example.com"}), 400, "FAILED_VALIDATION")
    assert err["extensions"] == {"code": "FAILED_VALIDATION", "field": "note", "path": [], "type": "required"}, err
    assert err["message"] == 'Validation failed for field "note". Value is required.'
    # the permission's rule and the field's rule both hold
    assert_error(user.post(f"/items/{name}", {"email": "bad", "note": "n"}), 400, "FAILED_VALIDATION")
    row = data(user.post(f"/items/{name}", {"email": "ada@example.com", "note": None}))
    assert_error(user.patch(f"/items/{name}/{row['id']}", {"note": ""}), 400, "FAILED_VALIDATION")
    assert data(user.patch(f"/items/{name}/{row['id']}", {"email": "b@example.org"}))["email"] == "b@example.org"


def test_validation_operators_are_refused_in_read_filters(admin):
    name = contacts(admin)
    for op in ("_regex", "_submitted"):
        err = assert_error(admin.get(f"/items/{name}", params={"filter": json.dumps({"email": {op: "x"}})}),
                           400, "INVALID_QUERY")
        assert "validation operator" in err["message"], err
    assert_error(admin.get(f"/items/{name}", params={"filter": json.dumps({"email": {"_regex": "("}})}),
                 400, "INVALID_QUERY")


def test_a_bad_rule_in_a_field_is_a_clear_error_not_a_500(admin):
    name = uniq("badrule")
    create_collection(admin, name, [{"field": "code", "type": "string",
                                     "meta": {"validation": {"code": {"_regex": "(unclosed"}}}}])
    err = assert_error(admin.post(f"/items/{name}", {"code": "x"}), 400, "INVALID_PAYLOAD")
    assert "code" in err["message"] and "regular expression" in err["message"], err


@run_async
async def test_the_socket_validates_like_rest(server, admin):
    name = contacts(admin)
    ws = await authed(server)
    err = await ws.items(name, "create", uid="v", data={"email": "nope"})
    assert_error_frame(err, "items", "FAILED_VALIDATION", uid="v",
                       message='Validation failed for field "email". Value doesn\'t have the correct format.')
    ok = await ws.items(name, "create", uid="ok", data={"email": "ada@example.com"})
    assert ok.get("type") == "items" and ok["data"]["email"] == "ada@example.com", ok
    err = await ws.items(name, "update", uid="u", id=ok["data"]["id"], data={"email": "x"})
    assert_error_frame(err, "items", "FAILED_VALIDATION", uid="u")
    sub = await ws.subscribe(name, uid="s", query={"filter": {"email": {"_regex": "a"}}})
    assert_error_frame(sub, "subscribe", "INVALID_QUERY", uid="s")
    await ws.close()
