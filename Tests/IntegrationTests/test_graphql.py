"""GraphQL reads over HTTP (POST/GET /graphql).

Directus sources checked (licitdev/directus fork of v11):
- api/src/middleware/graphql.ts: GET and POST only; "Must provide query string" (INVALID_PAYLOAD);
  GET `variables` that are not JSON → INVALID_QUERY; a GET that is not a query → METHOD_NOT_ALLOWED (405);
  parse errors → GRAPHQL_VALIDATION (400)
- api/src/services/graphql/index.ts + errors/validation.ts: validation errors → GRAPHQL_VALIDATION, 400
- api/src/services/graphql/schema/read.ts: `<c>(filter, sort, limit, offset, page, search)`, `<c>_by_id(id: ID!)`,
  `<c>_filter` inputs with `_eq`…, `<c>_mutated(event: EventEnum)` → {key: ID!, event, data}
- api/src/services/graphql/utils/process-error.ts: a Directus error keeps its code in `extensions.code`
- api/src/utils/get-graphql-type.ts: field types (uuid → ID, json → JSON, dates → Date, bigInteger → GraphQLBigInt)
"""

import json

from harness import assert_error, create_collection, create_field, create_user_with_policy, data, uniq


def gql(api, query, variables=None, operation=None, status=200):
    body = {"query": query}
    if variables is not None:
        body["variables"] = variables
    if operation is not None:
        body["operationName"] = operation
    r = api.post("/graphql", body)
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:1500]}"
    return r.json()


def codes(body):
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]


def make_library(admin):
    """`<a>` authors (name, born) and `<b>` books (title, pages, author → authors, secret), with rows."""
    authors, books = uniq("authors"), uniq("books")
    create_collection(admin, authors, [{"field": "name", "type": "string"}, {"field": "born", "type": "date"}])
    create_collection(admin, books, [
        {"field": "title", "type": "string"},
        {"field": "pages", "type": "integer"},
        {"field": "secret", "type": "string"},
        {"field": "meta", "type": "json"},
    ])
    create_field(admin, books, "author", "integer", meta={"special": ["m2o"]})
    data(admin.post("/relations", {"collection": books, "field": "author", "related_collection": authors}))
    ada, grace = data(admin.post(f"/items/{authors}", [{"name": "Ada", "born": "1815-12-10"}, {"name": "Grace"}]))
    data(admin.post(f"/items/{books}", [
        {"title": "Notes", "pages": 30, "author": ada["id"], "secret": "s1", "meta": {"ed": 1}},
        {"title": "Engines", "pages": 120, "author": ada["id"], "secret": "s2"},
        {"title": "Compilers", "pages": 300, "author": grace["id"], "secret": "s3"},
        {"title": "Anonymous", "pages": 5},
    ]))
    return authors, books


def test_lists_take_filter_sort_limit_offset_and_page(admin):
    _, books = make_library(admin)
    body = gql(admin, f'{{ {books}(filter: {{pages: {{_gte: 30}}}}, sort: ["-pages"], limit: 2) {{ title pages }} }}')
    assert body == {"data": {books: [{"title": "Compilers", "pages": 300}, {"title": "Engines", "pages": 120}]}}
    body = gql(admin, f'{{ {books}(sort: "title", limit: 1, offset: 1) {{ title }} }}')
    assert body["data"][books] == [{"title": "Compilers"}]
    body = gql(admin, f'{{ {books}(sort: "title", limit: 2, page: 2) {{ title }} }}')
    assert body["data"][books] == [{"title": "Engines"}, {"title": "Notes"}]


def test_search_and_or_filters(admin):
    _, books = make_library(admin)
    body = gql(admin, f'{{ {books}(search: "engi") {{ title }} }}')
    assert body["data"][books] == [{"title": "Engines"}]
    body = gql(admin, f'{{ {books}(filter: {{_or: [{{title: {{_eq: "Notes"}}}}, {{pages: {{_lt: 10}}}}]}}, '
                      f'sort: "id") {{ title }} }}')
    assert body["data"][books] == [{"title": "Notes"}, {"title": "Anonymous"}]


def test_by_id_and_m2o_nesting_with_aliases(admin):
    authors, books = make_library(admin)
    first = data(admin.get(f"/items/{books}", params={"sort": "id", "limit": 1}))[0]
    body = gql(admin, f'{{ one: {books}_by_id(id: {first["id"]}) {{ id title writer: author {{ name born __typename }} meta }} }}')
    assert body == {"data": {"one": {"id": str(first["id"]), "title": "Notes",
                                     "writer": {"name": "Ada", "born": "1815-12-10", "__typename": authors},
                                     "meta": {"ed": 1}}}}
    body = gql(admin, f'{{ {books}(filter: {{author: {{name: {{_eq: "Grace"}}}}}}) {{ title author {{ name }} }} }}')
    assert body["data"][books] == [{"title": "Compilers", "author": {"name": "Grace"}}]


def test_aggregated_counts_sums_and_groups(admin):
    authors, books = make_library(admin)
    body = gql(admin, f"{{ {books}_aggregated {{ countAll count {{ author }} sum {{ pages }} avg {{ pages }} }} }}")
    assert body == {"data": {f"{books}_aggregated": [
        {"countAll": 4, "count": {"author": 3}, "sum": {"pages": 455}, "avg": {"pages": 113.75}}]}}
    body = gql(admin, f'{{ {books}_aggregated(groupBy: ["author"], filter: {{author: {{id: {{_nnull: true}}}}}}) '
                      f'{{ group max {{ pages }} }} }}')
    rows = body["data"][f"{books}_aggregated"]
    assert [r["max"]["pages"] for r in rows] == [120, 300]
    assert all(set(r["group"]) == {"author"} for r in rows)


def test_by_id_of_a_missing_item_is_forbidden_beside_the_data(admin):
    _, books = make_library(admin)
    body = gql(admin, f"{{ {books}_by_id(id: 999999) {{ title }} }}")
    assert body["data"] == {f"{books}_by_id": None}
    assert codes(body) == ["FORBIDDEN"]
    assert body["errors"][0]["path"] == [f"{books}_by_id"]


def test_variables_and_get(admin):
    _, books = make_library(admin)
    query = f"query Q($f: {books}_filter, $n: Int) {{ {books}(filter: $f, limit: $n, sort: \"id\") {{ title }} }}"
    body = gql(admin, query, variables={"f": {"pages": {"_gt": 100}}, "n": 1}, operation="Q")
    assert body["data"][books] == [{"title": "Engines"}]
    r = admin.get("/graphql", params={"query": query, "variables": json.dumps({"n": 1}), "operationName": "Q"})
    assert r.status_code == 200, r.text
    assert r.json()["data"][books] == [{"title": "Notes"}]


def test_field_permissions_shape_the_schema_and_forbidden_collections_are_absent(admin):
    authors, books = make_library(admin)
    _, user = create_user_with_policy(admin, permissions=[
        {"collection": books, "action": "read", "fields": ["id", "title", "author"]},
    ])
    body = gql(user, f'{{ {books}(sort: "id", limit: 1) {{ title author }} }}')
    # authors is not readable: `author` is just the key
    assert body["data"][books][0]["title"] == "Notes" and isinstance(body["data"][books][0]["author"], int)
    secret = gql(user, f"{{ {books} {{ secret }} }}", status=400)
    assert codes(secret) == ["GRAPHQL_VALIDATION"] and "secret" in secret["errors"][0]["message"]
    assert secret["errors"][0]["locations"]
    forbidden = gql(user, f"{{ {authors} {{ name }} }}", status=400)
    assert codes(forbidden) == ["GRAPHQL_VALIDATION"]
    fields = gql(user, f'{{ __type(name: "{books}") {{ fields {{ name }} }} }}')
    assert sorted(f["name"] for f in fields["data"]["__type"]["fields"]) == ["author", "id", "title"]
    # the admin still sees everything (a different cached schema)
    assert "secret" in [f["name"] for f in gql(admin, f'{{ __type(name: "{books}") {{ fields {{ name }} }} }}')
                        ["data"]["__type"]["fields"]]


def test_a_permission_change_reshapes_the_schema_at_once(admin):
    _, books = make_library(admin)
    info, user = create_user_with_policy(admin, permissions=[
        {"collection": books, "action": "read", "fields": ["id", "title"]},
    ])
    assert codes(gql(user, f"{{ {books} {{ pages }} }}", status=400)) == ["GRAPHQL_VALIDATION"]
    perms = data(admin.get("/permissions", params={"filter": json.dumps({"policy": {"_eq": info["policy"]}})}))
    data(admin.patch(f"/permissions/{perms[0]['id']}", {"fields": ["id", "title", "pages"]}))
    body = gql(user, f'{{ {books}(sort: "id", limit: 1) {{ pages }} }}')
    assert body["data"][books] == [{"pages": 30}]


def test_row_permissions_apply(admin):
    _, books = make_library(admin)
    _, user = create_user_with_policy(admin, permissions=[
        {"collection": books, "action": "read", "fields": ["*"], "permissions": {"pages": {"_lt": 100}}},
    ])
    body = gql(user, f'{{ {books}(sort: "id") {{ title }} }}')
    assert body["data"][books] == [{"title": "Notes"}, {"title": "Anonymous"}]


def test_schema_changes_show_up_at_once(admin):
    _, books = make_library(admin)
    before = gql(admin, f"{{ {books} {{ isbn }} }}", status=400)
    assert codes(before) == ["GRAPHQL_VALIDATION"]
    create_field(admin, books, "isbn", "string")
    after = gql(admin, f'{{ {books}(sort: "id", limit: 1) {{ isbn }} }}')
    assert after["data"][books] == [{"isbn": None}]


def test_a_caller_who_can_read_nothing_gets_an_empty_schema(admin):
    _, user = create_user_with_policy(admin, app_access=False)
    body = gql(user, "{ _empty }")
    assert body == {"data": {"_empty": None}}


def test_syntax_errors_are_graphql_validation_with_locations(admin):
    body = gql(admin, "{ nope ", status=400)
    assert codes(body) == ["GRAPHQL_VALIDATION"]
    assert body["errors"][0]["locations"] == [{"line": 1, "column": 8}]


def test_mutations_and_subscriptions_get_clear_errors(admin):
    _, books = make_library(admin)
    body = gql(admin, f"mutation {{ create_{books}_item(data: {{}}) {{ id }} }}", status=400)
    assert codes(body) == ["GRAPHQL_VALIDATION"] and "Mutations" in body["errors"][0]["message"]
    body = gql(admin, f"subscription {{ {books}_mutated {{ key }} }}", status=400)
    assert codes(body) == ["GRAPHQL_VALIDATION"] and "WebSocket" in body["errors"][0]["message"]
    r = admin.get("/graphql", params={"query": f"mutation {{ create_{books}_item {{ id }} }}"})
    assert_error(r, 405, "METHOD_NOT_ALLOWED")


def test_bad_requests(admin):
    assert_error(admin.post("/graphql", {}), 400, "INVALID_PAYLOAD")
    assert_error(admin.post("/graphql", {"query": "{ _empty }", "variables": [1]}), 400, "INVALID_PAYLOAD")
    assert_error(admin.get("/graphql"), 400, "INVALID_PAYLOAD")
    assert_error(admin.get("/graphql", params={"query": "{ a }", "variables": "{nope"}), 400, "INVALID_QUERY")
    r = admin.post("/graphql", data="not json", headers={"Content-Type": "application/json"})
    assert_error(r, 400, "INVALID_PAYLOAD")


def test_read_errors_keep_their_directus_codes(admin):
    _, books = make_library(admin)
    body = gql(admin, f'{{ {books}(filter: {{title: {{_eq: "x"}}}}, limit: -7) {{ title }} }}')
    assert codes(body) == ["INVALID_QUERY"]
    assert body.get("data") is None


def test_oversized_and_deep_documents_answer_fast_with_the_setting(admin):
    import time
    for document, setting in [
        ("{" * 5000, "GRAPHQL_QUERY_MAX_DEPTH"),
        ("{ a }" + " " * 70_000, "GRAPHQL_QUERY_MAX_SIZE"),
        ("{ " + " ".join(f"a{i}: __typename" for i in range(1200)) + " }", "GRAPHQL_QUERY_MAX_FIELDS"),
    ]:
        start = time.monotonic()
        body = gql(admin, document, status=400)
        assert time.monotonic() - start < 2
        assert codes(body) == ["GRAPHQL_VALIDATION"] and setting in body["errors"][0]["message"], body


def make_events(admin):
    """`<e>` events (title, at: dateTime, day: date, starts: time, tags: json) with an o2m `notes`
    from `<n>` notes (text, event → events): Directus's `<field>_func` fields of each family."""
    events, notes = uniq("gqlev"), uniq("gqlnotes")
    create_collection(admin, events, [
        {"field": "title", "type": "string"}, {"field": "at", "type": "dateTime"}, {"field": "day", "type": "date"},
        {"field": "starts", "type": "time"}, {"field": "tags", "type": "json"},
    ])
    create_collection(admin, notes, [{"field": "text", "type": "string"}])
    create_field(admin, notes, "event", "integer", meta={"special": ["m2o"]})
    create_field(admin, events, "notes", "alias", meta={"special": ["o2m"], "interface": "list-o2m"})
    data(admin.post("/relations", {"collection": notes, "field": "event", "related_collection": events,
                                   "meta": {"one_field": "notes"}}))
    launch, party = data(admin.post(f"/items/{events}", [
        {"title": "launch", "at": "2026-03-05T10:20:30", "day": "2026-03-05", "starts": "10:20:30", "tags": ["a", "b"]},
        {"title": "party", "at": "2024-12-31T23:59:58", "day": "2024-12-30", "starts": "23:00", "tags": []},
    ]))
    data(admin.post(f"/items/{events}", {"title": "tbd"}))
    data(admin.post(f"/items/{notes}", [{"text": "one", "event": launch["id"]}, {"text": "two", "event": launch["id"]},
                                        {"text": "three", "event": party["id"]}]))
    return events, notes


def test_func_fields_have_directus_types(admin):
    events, _ = make_events(admin)
    body = gql(admin, f'{{ __type(name: "{events}") {{ fields {{ name type {{ name }} }} }} }}')
    types = {f["name"]: f["type"]["name"] for f in body["data"]["__type"]["fields"]}
    assert {k: v for k, v in types.items() if k.endswith("_func")} == {
        "at_func": "datetime_functions", "day_func": "date_functions", "starts_func": "time_functions",
        "tags_func": "count_functions", "notes_func": "count_functions"}, types
    body = gql(admin, '{ d: __type(name: "datetime_functions") { fields { name type { name } } } '
                      'c: __type(name: "count_functions") { fields { name } } }')
    assert sorted((f["name"], f["type"]["name"]) for f in body["data"]["d"]["fields"]) == sorted(
        (n, "Int") for n in ["year", "month", "week", "day", "weekday", "hour", "minute", "second"])
    assert [f["name"] for f in body["data"]["c"]["fields"]] == ["count"]
    body = gql(admin, f'{{ __type(name: "{events}_filter") {{ inputFields {{ name type {{ name }} }} }} }}')
    inputs = {f["name"]: f["type"]["name"] for f in body["data"]["__type"]["inputFields"]}
    assert inputs["at_func"] == "datetime_function_filter_operators", inputs
    assert inputs["notes_func"] == "count_function_filter_operators", inputs
    body = gql(admin, '{ __type(name: "date_function_filter_operators") { inputFields { name type { name } } } }')
    assert sorted((f["name"], f["type"]["name"]) for f in body["data"]["__type"]["inputFields"]) == sorted(
        (n, "number_filter_operators") for n in ["year", "month", "week", "day", "weekday"])


def test_func_fields_read_filter_sort_and_group(admin):
    events, notes = make_events(admin)
    body = gql(admin, f'{{ {events}(sort: "id") {{ title at_func {{ year month week day weekday hour minute second }} '
                      f'day_func {{ week }} starts_func {{ hour minute second }} tags_func {{ count }} '
                      f'notes_func {{ count __typename }} }} }}')
    assert "errors" not in body, body
    assert body["data"][events] == [
        {"title": "launch", "at_func": {"year": 2026, "month": 3, "week": 10, "day": 5, "weekday": 4, "hour": 10,
                                        "minute": 20, "second": 30},
         "day_func": {"week": 10}, "starts_func": {"hour": 10, "minute": 20, "second": 30}, "tags_func": {"count": 2},
         "notes_func": {"count": 2, "__typename": "count_functions"}},
        {"title": "party", "at_func": {"year": 2024, "month": 12, "week": 1, "day": 31, "weekday": 2, "hour": 23,
                                       "minute": 59, "second": 58},
         "day_func": {"week": 1}, "starts_func": {"hour": 23, "minute": 0, "second": 0}, "tags_func": {"count": 0},
         "notes_func": {"count": 1, "__typename": "count_functions"}},
        {"title": "tbd", "at_func": {k: None for k in ["year", "month", "week", "day", "weekday", "hour", "minute",
                                                       "second"]},
         "day_func": {"week": None}, "starts_func": {"hour": None, "minute": None, "second": None},
         "tags_func": {"count": None}, "notes_func": {"count": 0, "__typename": "count_functions"}},
    ], body

    def titles(args):
        body = gql(admin, f"{{ {events}({args}) {{ title }} }}")
        assert "errors" not in body, body
        return [r["title"] for r in body["data"][events]]

    assert titles('filter: {at_func: {year: {_eq: 2026}}}') == ["launch"]
    assert titles('filter: {notes_func: {count: {_gte: 1}}, tags_func: {count: {_eq: 0}}}') == ["party"]
    assert titles('filter: {_or: [{day_func: {weekday: {_eq: 1}}}, {notes_func: {count: {_eq: 0}}}]}, sort: "id"') == [
        "party", "tbd"]
    # count of an o2m sorts (and, below, groups), as Directus's
    assert titles('sort: ["-count(notes)", "title"]') == ["launch", "party", "tbd"]
    # (without the NULL row: SQLite sorts NULLs first, PostgreSQL last, as in Directus on each)
    assert titles('filter: {at: {_nnull: true}}, sort: ["month(at)", "title"]') == ["launch", "party"]
    # through the m2o, in a list's filter and in a nested o2m's own filter argument
    body = gql(admin, f'{{ {notes}(filter: {{event: {{at_func: {{year: {{_lt: 2025}}}}}}}}) {{ text event {{ at_func {{ year }} }} }} }}')
    assert body["data"][notes] == [{"text": "three", "event": {"at_func": {"year": 2024}}}], body
    body = gql(admin, f'{{ {events}(filter: {{title: {{_eq: "launch"}}}}) '
                      f'{{ notes(filter: {{event: {{notes_func: {{count: {{_eq: 2}}}}}}}}, sort: "text") {{ text }} }} }}')
    assert body["data"][events] == [{"notes": [{"text": "one"}, {"text": "two"}]}], body
    body = gql(admin, f'{{ {events}_aggregated(groupBy: ["year(at)"]) {{ group countAll }} '
                      f'by_notes: {events}_aggregated(groupBy: ["count(notes)"]) {{ group countAll }} }}')
    assert "errors" not in body, body
    # groups in no particular order (where NULL's group lands depends on the database)
    by_year = sorted(body["data"][f"{events}_aggregated"], key=lambda g: (g["group"]["at_year"] is not None,
                                                                        g["group"]["at_year"] or 0))
    assert by_year == [
        {"group": {"at_year": None}, "countAll": 1}, {"group": {"at_year": 2024}, "countAll": 1},
        {"group": {"at_year": 2026}, "countAll": 1}], body
    assert sorted(body["data"]["by_notes"], key=lambda g: g["group"]["notes_count"]) == [
        {"group": {"notes_count": 0}, "countAll": 1}, {"group": {"notes_count": 1}, "countAll": 1},
        {"group": {"notes_count": 2}, "countAll": 1}], body
    # a function the field's family doesn't have is a validation error
    body = gql(admin, f"{{ {events} {{ day_func {{ hour }} }} }}", status=400)
    assert codes(body) == ["GRAPHQL_VALIDATION"], body
    body = gql(admin, f"{{ {events}(filter: {{starts_func: {{year: {{_eq: 1}}}}}}) {{ title }} }}", status=400)
    assert codes(body) == ["GRAPHQL_VALIDATION"], body
