"""Schema over REST: /collections, /fields, /relations, primary key kinds, field types.

Directus sources checked (v11.14.1):
- api/src/controllers/collections.ts, fields.ts, relations.ts   `{"data": …}` bodies
- api/src/services/payload.ts  read formats: processDates() and the cast-* transformers
- api/src/database/helpers/date/dialects/*.ts  timestamp = Date.toISOString() → `YYYY-MM-DDTHH:MM:SS.sssZ`
"""

import re
import uuid

from harness import INT_PK, create_collection, create_field, data, messages_collection, uniq


def test_create_collection_with_directus_payload(admin):
    name = uniq("messages")
    created = create_collection(
        admin,
        name,
        [
            {"field": "text", "type": "text"},
            {"field": "date_created", "type": "timestamp", "meta": {"special": ["date-created"]}},
            {"field": "user_created", "type": "uuid", "meta": {"special": ["user-created"]}},
        ],
    )
    assert created["collection"] == name
    assert "meta" in created and "schema" in created
    listed = data(admin.get("/collections"))
    assert name in [c["collection"] for c in listed]
    one = data(admin.get(f"/collections/{name}"))
    assert one["collection"] == name
    fields = data(admin.get(f"/fields/{name}"))
    by_name = {f["field"]: f for f in fields}
    assert set(by_name) >= {"id", "text", "date_created", "user_created"}
    assert by_name["id"]["type"] == "integer"
    assert by_name["id"]["schema"]["is_primary_key"] is True
    assert by_name["id"]["schema"]["has_auto_increment"] is True
    assert by_name["date_created"]["meta"]["special"] == ["date-created"]
    assert by_name["user_created"]["type"] == "uuid"


def test_add_field_without_restart(admin):
    name = uniq("coll")
    create_collection(admin, name, [{"field": "text", "type": "text"}])
    field = create_field(admin, name, "score", "integer")
    assert field["field"] == "score" and field["collection"] == name and field["type"] == "integer"
    assert "score" in [f["field"] for f in data(admin.get(f"/fields/{name}"))]
    item = data(admin.post(f"/items/{name}", {"text": "a", "score": 7}))
    assert item["score"] == 7
    assert data(admin.get(f"/fields/{name}/score"))["type"] == "integer"


def test_m2o_relation_to_users(admin):
    name = messages_collection(admin)
    relations = data(admin.get(f"/relations/{name}"))
    rel = [r for r in relations if r["field"] == "user"]
    assert rel and rel[0]["related_collection"] == "directus_users"
    me = data(admin.get("/users/me"))
    created = data(admin.post(f"/items/{name}", {"text": "hi", "user": me["id"]},
                              params={"fields": "id,text,user.email"}))
    assert created["user"] == {"email": me["email"]}


def test_o2m_alias_field(admin):
    rooms = uniq("rooms")
    msgs = uniq("msgs")
    create_collection(admin, rooms, [{"field": "name", "type": "string"}])
    create_collection(admin, msgs, [{"field": "text", "type": "text"}])
    create_field(admin, msgs, "room", "integer", meta={"special": ["m2o"]})
    create_field(admin, rooms, "messages", "alias", meta={"special": ["o2m"], "interface": "list-o2m"})
    data(admin.post("/relations", {"collection": msgs, "field": "room", "related_collection": rooms,
                                   "meta": {"one_field": "messages"}}))
    room = data(admin.post(f"/items/{rooms}", {"name": "lobby"}))
    m1 = data(admin.post(f"/items/{msgs}", {"text": "one", "room": room["id"]}))
    m2 = data(admin.post(f"/items/{msgs}", {"text": "two", "room": room["id"]}))
    # default `*`: an o2m alias comes back as the list of related primary keys
    got = data(admin.get(f"/items/{rooms}/{room['id']}"))
    assert sorted(got["messages"]) == sorted([m1["id"], m2["id"]])
    got = data(admin.get(f"/items/{rooms}/{room['id']}", params={"fields": "id,messages.text"}))
    assert sorted(m["text"] for m in got["messages"]) == ["one", "two"]


def test_uuid_primary_key_is_generated(admin):
    name = uniq("uuidpk")
    pk = {"field": "id", "type": "uuid", "meta": {"special": ["uuid"], "hidden": True, "readonly": True},
          "schema": {"is_primary_key": True, "length": 36, "has_auto_increment": False}}
    create_collection(admin, name, [{"field": "title", "type": "string"}], pk=pk)
    item = data(admin.post(f"/items/{name}", {"title": "x"}))
    uuid.UUID(item["id"])  # raises if not a UUID
    assert data(admin.get(f"/items/{name}/{item['id']}"))["title"] == "x"


def test_string_primary_key(admin):
    name = uniq("strpk")
    pk = {"field": "slug", "type": "string", "schema": {"is_primary_key": True, "length": 255,
                                                        "has_auto_increment": False}, "meta": {}}
    create_collection(admin, name, [{"field": "title", "type": "string"}], pk=pk)
    item = data(admin.post(f"/items/{name}", {"slug": "hello-world", "title": "Hello"}))
    assert item["slug"] == "hello-world"
    assert data(admin.get(f"/items/{name}/hello-world"))["title"] == "Hello"


ISO_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def test_every_field_type_round_trips_with_directus_json_types(admin):
    name = uniq("types")
    kinds = ["integer", "bigInteger", "float", "decimal", "string", "text", "boolean", "uuid",
             "json", "csv", "date", "time", "dateTime", "timestamp"]
    fields = []
    for kind in kinds:
        f = {"field": f"f_{kind.lower()}", "type": kind}
        if kind == "json":
            f["meta"] = {"special": ["cast-json"]}
        elif kind == "csv":
            f["meta"] = {"special": ["cast-csv"]}
        elif kind == "boolean":
            f["meta"] = {"special": ["cast-boolean"]}
        fields.append(f)
    create_collection(admin, name, fields)
    some_uuid = str(uuid.uuid4())
    payload = {
        "f_integer": 42,
        "f_biginteger": 9007199254740991,
        "f_float": 1.5,
        "f_decimal": "3.14",
        "f_string": "hello",
        "f_text": "long text",
        "f_boolean": True,
        "f_uuid": some_uuid,
        "f_json": {"a": [1, 2, {"b": None}], "c": "d"},
        "f_csv": ["red", "green", "blue"],
        "f_date": "2024-03-04",
        "f_time": "05:06:07",
        "f_datetime": "2024-03-04T05:06:07",
        "f_timestamp": "2024-03-04T05:06:07+02:00",
    }
    created = data(admin.post(f"/items/{name}", payload))
    got = data(admin.get(f"/items/{name}/{created['id']}"))
    for item in (created, got):
        assert item["f_integer"] == 42 and isinstance(item["f_integer"], int)
        # bigInteger: Directus returns whatever the driver gives (number on SQLite, string on PostgreSQL).
        assert int(item["f_biginteger"]) == 9007199254740991
        assert item["f_float"] == 1.5
        # decimal: Directus on PostgreSQL returns numerics as strings (pg driver, no type parser set);
        # Switchboard returns strings everywhere. Scale may be padded ("3.14000").
        assert isinstance(item["f_decimal"], str) and float(item["f_decimal"]) == 3.14
        assert item["f_string"] == "hello" and item["f_text"] == "long text"
        assert item["f_boolean"] is True  # cast-boolean → real JSON booleans
        assert item["f_uuid"] == some_uuid
        assert item["f_json"] == {"a": [1, 2, {"b": None}], "c": "d"}  # cast-json → objects
        assert item["f_csv"] == ["red", "green", "blue"]  # cast-csv → arrays
        assert item["f_date"] == "2024-03-04"  # processDates: YYYY-MM-DD
        assert item["f_time"] == "05:06:07"  # HH:mm:ss
        assert item["f_datetime"] == "2024-03-04T05:06:07"  # no zone, no millis
        # timestamp: Date.toISOString(), normalised to UTC with milliseconds
        assert item["f_timestamp"] == "2024-03-04T03:06:07.000Z"
        assert ISO_TIMESTAMP.match(item["f_timestamp"])


def test_boolean_false_and_nulls_round_trip(admin):
    name = uniq("nulls")
    create_collection(admin, name, [
        {"field": "flag", "type": "boolean", "meta": {"special": ["cast-boolean"]}},
        {"field": "tags", "type": "csv", "meta": {"special": ["cast-csv"]}},
        {"field": "doc", "type": "json", "meta": {"special": ["cast-json"]}},
        {"field": "when", "type": "timestamp"},
    ])
    item = data(admin.post(f"/items/{name}", {"flag": False, "tags": [], "doc": None, "when": None}))
    got = data(admin.get(f"/items/{name}/{item['id']}"))
    assert got["flag"] is False
    assert got["tags"] == []  # cast-csv: '' → []
    assert got["doc"] is None and got["when"] is None


def test_date_created_and_user_created_are_filled(admin):
    name = messages_collection(admin)
    me = data(admin.get("/users/me"))
    item = data(admin.post(f"/items/{name}", {"text": "stamped"}))
    assert item["user_created"] == me["id"]
    assert ISO_TIMESTAMP.match(item["date_created"]), item["date_created"]


def test_primary_key_field_shape_in_fields_listing(admin):
    name = uniq("pkshape")
    create_collection(admin, name, [], pk=INT_PK)
    pk = data(admin.get(f"/fields/{name}/id"))
    assert pk["collection"] == name and pk["field"] == "id"
    assert pk["meta"]["hidden"] is True and pk["meta"]["readonly"] is True
