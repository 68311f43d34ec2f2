"""Query parameters on GET /items/:collection.

Directus: api/src/utils/sanitize-query.ts (limit/-1/QUERY_LIMIT_MAX, meta, filter JSON),
api/src/utils/validate-query.ts (INVALID_QUERY, limit > max), api/src/services/meta.ts
(total_count/filter_count are numbers), packages/utils/shared/parse-filter.ts
(`_in` accepts comma strings, $NOW/$CURRENT_USER), api/src/permissions/modules/process-ast/
utils/validate-path/validate-path-existence.ts (unknown field → FORBIDDEN, even for admins).
"""

import datetime as dt
import json

import pytest

from harness import assert_error, create_collection, data, messages_collection, uniq


@pytest.fixture(scope="module")
def people(server):
    """A collection with 6 rows: name, age, city, score (nullable), joined (timestamp)."""
    admin = server.admin()
    name = uniq("people")
    create_collection(admin, name, [
        {"field": "name", "type": "string"},
        {"field": "age", "type": "integer"},
        {"field": "city", "type": "string"},
        {"field": "score", "type": "float"},
        {"field": "joined", "type": "timestamp"},
    ])
    now = dt.datetime.now(dt.timezone.utc)

    def ago(days):
        return (now - dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.000Z")

    rows = [
        {"name": "Alice", "age": 30, "city": "Paris", "score": 1.5, "joined": ago(1)},
        {"name": "bob", "age": 25, "city": "Berlin", "score": None, "joined": ago(3)},
        {"name": "Carol", "age": 35, "city": "Paris", "score": 3.0, "joined": ago(10)},
        {"name": "dave", "age": 40, "city": "Rome", "score": None, "joined": ago(30)},
        {"name": "Eve", "age": 28, "city": "Berlin", "score": 2.0, "joined": ago(2)},
        {"name": "Frank", "age": 50, "city": "Madrid", "score": 0.5, "joined": ago(100)},
    ]
    data(admin.post(f"/items/{name}", rows))
    return name


def names(r):
    return sorted(x["name"] for x in data(r))


def q(admin, coll, **params):
    return admin.get(f"/items/{coll}", params=params)


# -- fields ----------------------------------------------------------------------------


def test_fields_star_and_subset(admin, people):
    row = data(q(admin, people, fields="*", limit=1))[0]
    assert set(row) == {"id", "name", "age", "city", "score", "joined"}
    row = data(q(admin, people, fields="name,age", limit=1))[0]
    assert set(row) == {"name", "age"}
    row = data(admin.get(f"/items/{people}", params=[("fields[]", "name"), ("fields[]", "city"), ("limit", 1)]))[0]
    assert set(row) == {"name", "city"}


def test_fields_through_m2o(admin):
    coll = messages_collection(admin)
    me = data(admin.get("/users/me"))
    data(admin.post(f"/items/{coll}", {"text": "t", "user": me["id"]}))
    row = data(q(admin, coll, fields="text,user.email"))[0]
    assert row == {"text": "t", "user": {"email": me["email"]}}
    row = data(q(admin, coll, fields="user.*"))[0]
    assert row["user"]["id"] == me["id"] and row["user"]["password"] == "**********"
    row = data(q(admin, coll, fields="*"))[0]
    assert row["user"] == me["id"]  # without a path, m2o is the bare key


# -- filter ----------------------------------------------------------------------------


def test_filter_json_and_bracket_forms_agree(admin, people):
    as_json = names(q(admin, people, filter=json.dumps({"city": {"_eq": "Paris"}})))
    as_brackets = names(admin.get(f"/items/{people}", params={"filter[city][_eq]": "Paris"}))
    assert as_json == as_brackets == ["Alice", "Carol"]


@pytest.mark.parametrize(
    "flt,expected",
    [
        ({"age": {"_eq": 25}}, ["bob"]),
        ({"age": {"_neq": 25}}, ["Alice", "Carol", "Eve", "Frank", "dave"]),
        ({"age": {"_lt": 30}}, ["Eve", "bob"]),
        ({"age": {"_lte": 30}}, ["Alice", "Eve", "bob"]),
        ({"age": {"_gt": 35}}, ["Frank", "dave"]),
        ({"age": {"_gte": 35}}, ["Carol", "Frank", "dave"]),
        ({"city": {"_in": ["Rome", "Madrid"]}}, ["Frank", "dave"]),
        ({"city": {"_nin": ["Paris", "Berlin"]}}, ["Frank", "dave"]),
        ({"score": {"_null": True}}, ["bob", "dave"]),
        ({"score": {"_nnull": True}}, ["Alice", "Carol", "Eve", "Frank"]),
        # case-sensitive like PostgreSQL (Directus on SQLite uses LIKE, which ignores ASCII case)
        ({"name": {"_contains": "a"}}, ["Carol", "Frank", "dave"]),
        ({"name": {"_icontains": "A"}}, ["Alice", "Carol", "Frank", "dave"]),
        ({"name": {"_starts_with": "C"}}, ["Carol"]),
        ({"age": {"_between": [26, 40]}}, ["Alice", "Carol", "Eve", "dave"]),
        ({"_and": [{"city": {"_eq": "Berlin"}}, {"score": {"_nnull": True}}]}, ["Eve"]),
        ({"_or": [{"city": {"_eq": "Rome"}}, {"age": {"_gte": 50}}]}, ["Frank", "dave"]),
    ],
)
def test_filter_operators(admin, people, flt, expected):
    assert names(q(admin, people, filter=json.dumps(flt))) == expected


def test_filter_in_accepts_comma_string_in_bracket_form(admin, people):
    r = admin.get(f"/items/{people}", params={"filter[age][_in]": "25,50"})
    assert names(r) == ["Frank", "bob"]


def test_filter_now_dynamic_variable(admin, people):
    r = q(admin, people, filter=json.dumps({"joined": {"_gte": "$NOW(-7 days)"}}))
    assert names(r) == ["Alice", "Eve", "bob"]


def test_filter_on_m2o_path_and_current_user(admin, server):
    coll = messages_collection(admin)
    me = data(admin.get("/users/me"))
    data(admin.post(f"/items/{coll}", [{"text": "mine", "user": me["id"]}, {"text": "nobody's"}]))
    r = admin.get(f"/items/{coll}", params={"filter[user][email][_eq]": me["email"]})
    assert [x["text"] for x in data(r)] == ["mine"]
    r = q(admin, coll, filter=json.dumps({"user": {"_eq": "$CURRENT_USER"}}))
    assert [x["text"] for x in data(r)] == ["mine"]
    r = q(admin, coll, filter=json.dumps({"user_created": {"_eq": "$CURRENT_USER"}}))
    assert len(data(r)) == 2


def test_invalid_filter_json_is_invalid_query(admin, people):
    # sanitize-query.ts: "Invalid JSON for filter object"
    assert_error(q(admin, people, filter="{not json"), 400, "INVALID_QUERY")


def test_in_operator_needs_a_list(admin, people):
    # validate-query.ts validateList: `"_in" has to be an array of values`
    assert_error(q(admin, people, filter=json.dumps({"age": {"_in": {"a": 1}}})), 400, "INVALID_QUERY")


def test_unknown_field_in_filter_is_forbidden(admin, people):
    # validate-path-existence.ts runs for admins too: FORBIDDEN, not INVALID_QUERY
    assert_error(q(admin, people, filter=json.dumps({"nope": {"_eq": 1}})), 403, "FORBIDDEN")
    assert_error(q(admin, people, fields="id,nope"), 403, "FORBIDDEN")


# -- sort / limit / offset / page --------------------------------------------------------


def test_sort_multi_and_desc(admin, people):
    rows = data(q(admin, people, sort="city,-age", fields="name"))
    assert [r["name"] for r in rows] == ["Eve", "bob", "Frank", "Carol", "Alice", "dave"]
    rows = data(admin.get(f"/items/{people}", params=[("sort[]", "-age"), ("fields", "name")]))
    assert rows[0]["name"] == "Frank"


def test_limit_offset_page(admin, people):
    rows = data(q(admin, people, sort="age", limit=2, fields="name"))
    assert [r["name"] for r in rows] == ["bob", "Eve"]
    rows = data(q(admin, people, sort="age", limit=2, offset=2, fields="name"))
    assert [r["name"] for r in rows] == ["Alice", "Carol"]
    rows = data(q(admin, people, sort="age", limit=2, page=3, fields="name"))
    assert [r["name"] for r in rows] == ["dave", "Frank"]
    assert len(data(q(admin, people, limit=-1))) == 6
    assert data(q(admin, people, limit=0)) == []


def test_meta_counts_are_numbers(admin, people):
    body = q(admin, people, meta="total_count,filter_count", filter=json.dumps({"city": {"_eq": "Paris"}})).json()
    assert body["meta"] == {"total_count": 6, "filter_count": 2}
    body = q(admin, people, meta="*", limit=1).json()
    assert body["meta"] == {"total_count": 6, "filter_count": 6}


def test_aggregate_count_star(admin, people):
    rows = data(admin.get(f"/items/{people}", params={"aggregate[count]": "*"}))
    # run-ast/lib/apply-query/aggregate.ts: `count(*) as "count"` → [{"count": N}].
    # Directus passes the driver's value through (number on SQLite, string on PostgreSQL);
    # Switchboard always returns a JSON number.
    assert rows == [{"count": 6}]


def test_aggregate_with_group_by(admin, people):
    rows = data(admin.get(f"/items/{people}", params={"aggregate[count]": "*", "groupBy[]": "city",
                                                      "sort": "city"}))
    assert rows == [{"city": "Berlin", "count": 2}, {"city": "Madrid", "count": 1},
                    {"city": "Paris", "count": 2}, {"city": "Rome", "count": 1}]


def test_aggregate_other_functions(admin, people):
    rows = data(admin.get(f"/items/{people}", params={"aggregate[max]": "age", "aggregate[min]": "age"}))
    assert rows == [{"max": {"age": 50}, "min": {"age": 25}}]


def test_search(admin, people):
    assert names(q(admin, people, search="ali")) == ["Alice"]
    assert names(q(admin, people, search="berlin")) == ["Eve", "bob"]


# -- QUERY_LIMIT_MAX (own server) -------------------------------------------------------


@pytest.fixture(scope="module")
def capped(server_factory):
    srv = server_factory({"QUERY_LIMIT_MAX": "5"}, name="limit-max")
    admin = srv.admin()
    name = uniq("many")
    create_collection(admin, name, [{"field": "n", "type": "integer"}])
    data(admin.post(f"/items/{name}", [{"n": i} for i in range(8)]))
    return srv, name


def test_query_limit_max_caps_default_and_minus_one(capped):
    srv, name = capped
    admin = srv.admin()
    assert len(data(admin.get(f"/items/{name}"))) == 5  # min(QUERY_LIMIT_DEFAULT, QUERY_LIMIT_MAX)
    assert len(data(admin.get(f"/items/{name}", params={"limit": -1}))) == 5
    assert len(data(admin.get(f"/items/{name}", params={"limit": 3}))) == 3


def test_query_limit_over_max_is_invalid_query(capped):
    srv, name = capped
    assert_error(srv.admin().get(f"/items/{name}", params={"limit": 6}), 400, "INVALID_QUERY")
