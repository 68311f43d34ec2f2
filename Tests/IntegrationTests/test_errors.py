"""Error responses: `{"errors":[{"message", "extensions":{"code", …}}]}` with Directus's statuses.

Directus sources checked (v11.14.1):
- api/src/app.ts: express.json({limit: MAX_PAYLOAD_SIZE}) errors (bad JSON *and* too large)
  are re-thrown as InvalidPayloadError → 400 INVALID_PAYLOAD (not 413)
- api/src/middleware/collection-exists.ts: unknown collection → 403 FORBIDDEN (admins too)
- api/src/database/errors/dialects/sqlite.ts + postgres.ts: unique violation → 400 RECORD_NOT_UNIQUE
  with extensions {collection, field, value}
- api/src/services/payload.ts processDates: unparsable date → 400 INVALID_PAYLOAD
"""

import pytest

from harness import assert_error, create_collection, data, uniq


def test_malformed_json_body_is_invalid_payload(admin):
    name = uniq("err")
    create_collection(admin, name, [{"field": "text", "type": "text"}])
    r = admin.post(f"/items/{name}", data='{"text": ', headers={"Content-Type": "application/json"})
    assert_error(r, 400, "INVALID_PAYLOAD")


def test_unknown_collection_is_forbidden(admin):
    err = assert_error(admin.get("/items/nope_nope"), 403, "FORBIDDEN")
    assert "nope_nope" in err["message"]  # reason names the collection, "or it does not exist"
    assert_error(admin.post("/items/nope_nope", {"a": 1}), 403, "FORBIDDEN")


def test_string_into_integer_is_invalid_payload(admin):
    # Directus itself has no type check here (SQLite stores the text, PostgreSQL fails with 500);
    # Switchboard rejects it like Directus rejects an unparsable date: INVALID_PAYLOAD.
    name = uniq("err")
    create_collection(admin, name, [{"field": "n", "type": "integer"}, {"field": "d", "type": "date"}])
    assert_error(admin.post(f"/items/{name}", {"n": "not a number"}), 400, "INVALID_PAYLOAD")
    assert_error(admin.post(f"/items/{name}", {"d": "not a date"}), 400, "INVALID_PAYLOAD")
    assert data(admin.get(f"/items/{name}")) == []


def test_duplicate_primary_key_is_record_not_unique(admin):
    name = uniq("err")
    create_collection(admin, name, [{"field": "text", "type": "text"}])
    item = data(admin.post(f"/items/{name}", {"text": "a"}))
    err = assert_error(admin.post(f"/items/{name}", {"id": item["id"], "text": "b"}), 400, "RECORD_NOT_UNIQUE")
    assert err["extensions"]["collection"] == name
    assert err["extensions"]["field"] == "id"


def test_duplicate_unique_field_is_record_not_unique(admin):
    name = uniq("err")
    create_collection(admin, name, [{"field": "code", "type": "string", "schema": {"is_unique": True}}])
    data(admin.post(f"/items/{name}", {"code": "x"}))
    err = assert_error(admin.post(f"/items/{name}", {"code": "x"}), 400, "RECORD_NOT_UNIQUE")
    assert err["extensions"]["field"] == "code"


def test_not_null_violation(admin):
    name = uniq("err")
    create_collection(admin, name, [{"field": "must", "type": "string", "schema": {"is_nullable": False}}])
    err = assert_error(admin.post(f"/items/{name}", {"must": None}), 400, "NOT_NULL_VIOLATION")
    assert err["extensions"]["field"] == "must"


def test_failed_multi_create_is_atomic(admin):
    name = uniq("err")
    create_collection(admin, name, [{"field": "n", "type": "integer"}])
    r = admin.post(f"/items/{name}", [{"n": 1}, {"n": 2}, {"n": "bad"}])
    assert r.status_code == 400, r.text
    assert data(admin.get(f"/items/{name}")) == []


@pytest.fixture(scope="module")
def small_payload(server_factory):
    return server_factory({"MAX_PAYLOAD_SIZE": "1kb"}, name="small-payload")


def test_body_over_max_payload_size_is_invalid_payload(small_payload):
    admin = small_payload.admin()
    name = uniq("big")
    create_collection(admin, name, [{"field": "text", "type": "text"}])
    r = admin.post(f"/items/{name}", {"text": "x" * 2048})
    err = assert_error(r, 400, "INVALID_PAYLOAD")
    assert "too large" in err["message"]  # body-parser: "request entity too large"
    assert data(admin.post(f"/items/{name}", {"text": "x" * 100}))["text"] == "x" * 100
