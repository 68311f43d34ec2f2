"""Directus field functions in filters (`year(at)`, `count(tags)`, `count(messages)`) over REST
and the realtime socket: the same rows in a REST read, a subscription's `init` and its events.

Directus sources: packages/utils/shared/get-functions-for-type.ts (which functions a type
takes), api/src/database/run-ast/utils/get-column.ts ("Invalid function specified").
"""

from __future__ import annotations

import json

from harness import assert_error, create_collection, create_field, create_user_with_policy, data, uniq
from wsclient import assert_error_frame, authed, in_thread, run_async


def events_collection(admin):
    name = uniq("fnev")
    create_collection(admin, name, [
        {"field": "title", "type": "string"},
        {"field": "at", "type": "dateTime"},
        {"field": "tags", "type": "json"},
    ])
    return name


def rooms_with_messages(admin):
    rooms, msgs = uniq("fnrooms"), uniq("fnmsgs")
    create_collection(admin, rooms, [{"field": "name", "type": "string"}])
    create_collection(admin, msgs, [{"field": "text", "type": "text"}])
    create_field(admin, msgs, "room", "integer", meta={"special": ["m2o"]})
    create_field(admin, rooms, "messages", "alias", meta={"special": ["o2m"], "interface": "list-o2m"})
    data(admin.post("/relations", {"collection": msgs, "field": "room", "related_collection": rooms,
                                   "meta": {"one_field": "messages"}}))
    return rooms, msgs


def ids(admin, name, flt):
    rows = data(admin.get(f"/items/{name}", params={"filter": json.dumps(flt), "fields": "id", "sort": "id"}))
    return [r["id"] for r in rows]


def test_date_parts_and_json_count_over_rest(admin):
    name = events_collection(admin)
    a = data(admin.post(f"/items/{name}", {"title": "a", "at": "2024-12-30T23:59:58", "tags": ["x", "y"]}))
    b = data(admin.post(f"/items/{name}", {"title": "b", "at": "2026-06-15T08:00:00", "tags": []}))
    c = data(admin.post(f"/items/{name}", {"title": "c"}))
    assert ids(admin, name, {"year(at)": {"_eq": 2024}}) == [a["id"]]
    assert ids(admin, name, {"week(at)": {"_eq": 1}}) == [a["id"]]  # ISO week 1 of 2025
    assert ids(admin, name, {"weekday(at)": {"_eq": 1}}) == [a["id"], b["id"]]  # both Mondays
    assert ids(admin, name, {"hour(at)": {"_lt": 12}}) == [b["id"]]
    assert ids(admin, name, {"count(tags)": {"_gt": 0}}) == [a["id"]]
    assert ids(admin, name, {"count(tags)": {"_null": True}}) == [c["id"]]
    # the bracket form of the query string, as the SDK and browsers send it
    rows = data(admin.get(f"/items/{name}", params={"filter[year(at)][_eq]": "2026", "fields": "id"}))
    assert [r["id"] for r in rows] == [b["id"]]


def test_functions_on_the_wrong_type_are_invalid_query(admin):
    name = events_collection(admin)
    for flt in [{"year(title)": {"_eq": 1}}, {"count(at)": {"_eq": 1}}, {"year(at)": {"_eq": "soon"}},
                {"decade(at)": {"_eq": 1}}, {"year(at)": 2024}]:
        err = assert_error(admin.get(f"/items/{name}", params={"filter": json.dumps(flt)}), 400, "INVALID_QUERY")
        assert err["message"], flt
    err = assert_error(admin.get(f"/items/{name}", params={"filter": json.dumps({"year(title)": {"_eq": 1}})}),
                       400, "INVALID_QUERY")
    assert 'Invalid function specified "year"' in err["message"], err


def test_count_of_an_o2m_over_rest(admin):
    rooms, msgs = rooms_with_messages(admin)
    busy = data(admin.post(f"/items/{rooms}", {"name": "busy"}))
    quiet = data(admin.post(f"/items/{rooms}", {"name": "quiet"}))
    for text in ["one", "two"]:
        data(admin.post(f"/items/{msgs}", {"text": text, "room": busy["id"]}))
    assert ids(admin, rooms, {"count(messages)": {"_eq": 2}}) == [busy["id"]]
    assert ids(admin, rooms, {"count(messages)": {"_eq": 0}}) == [quiet["id"]]
    assert len(ids(admin, msgs, {"room": {"count(messages)": {"_gte": 2}}})) == 2


@run_async
async def test_subscriptions_filter_on_functions_as_rest_does(server, admin):
    name = events_collection(admin)
    old = data(admin.post(f"/items/{name}", {"title": "old", "at": "2024-03-01T10:00:00", "tags": ["a"]}))
    ws = await authed(server)
    q = {"fields": ["id", "title"], "filter": {"year(at)": {"_eq": 2026}, "count(tags)": {"_gte": 1}}}
    init = await ws.subscribe(name, uid="fn", query=q)
    assert init["event"] == "init" and init["data"] == [], init
    data(await in_thread(admin.post, f"/items/{name}", {"title": "no tags", "at": "2026-01-01T00:00:00", "tags": []}))
    data(await in_thread(admin.post, f"/items/{name}", {"title": "last year", "at": "2025-12-31T23:59:59", "tags": [1]}))
    await ws.expect_silence()
    new = data(await in_thread(admin.post, f"/items/{name}", {"title": "new", "at": "2026-01-01T00:00:00", "tags": [1]}))
    ev = await ws.recv()
    assert ev["event"] == "create" and ev["data"] == [{"id": new["id"], "title": "new"}], ev
    # moving the old row into 2026 makes it match: an update event with it
    await in_thread(admin.patch, f"/items/{name}/{old['id']}", {"at": "2026-02-02T02:02:02"})
    ev = await ws.recv()
    assert ev["event"] == "update" and ev["data"] == [{"id": old["id"], "title": "old"}], ev
    # a fresh subscriber's init is the REST read
    ws2 = await authed(server)
    init = await ws2.subscribe(name, uid="fn2", query=q)
    rest = data(admin.get(f"/items/{name}", params={"filter": json.dumps(q["filter"]), "fields": "id,title"}))
    assert sorted(r["id"] for r in init["data"]) == sorted(r["id"] for r in rest) == sorted([old["id"], new["id"]])


@run_async
async def test_subscriptions_count_an_o2m_from_the_database(server, admin):
    rooms, msgs = rooms_with_messages(admin)
    room = data(admin.post(f"/items/{rooms}", {"name": "r"}))
    ws = await authed(server)
    q = {"fields": ["id", "name"], "filter": {"count(messages)": {"_gte": 1}}}
    init = await ws.subscribe(rooms, uid="busy", query=q)
    assert init["data"] == [], init
    await in_thread(admin.patch, f"/items/{rooms}/{room['id']}", {"name": "still empty"})
    await ws.expect_silence()
    data(await in_thread(admin.post, f"/items/{msgs}", {"text": "hi", "room": room["id"]}))
    # the message alone brings the room into the filter: an `update` without seq (README "Related rows")
    ev = await ws.recv()
    assert ev["event"] == "update" and ev["data"] == [{"id": room["id"], "name": "still empty"}], ev
    assert "seq" not in ev, ev
    await in_thread(admin.patch, f"/items/{rooms}/{room['id']}", {"name": "busy"})
    ev = await ws.recv()
    assert ev["event"] == "update" and ev["data"] == [{"id": room["id"], "name": "busy"}] and "seq" in ev, ev


@run_async
async def test_subscribe_with_a_function_on_the_wrong_type_is_invalid_query(server, admin):
    name = events_collection(admin)
    ws = await authed(server)
    err = await ws.subscribe(name, uid="bad", query={"filter": {"year(title)": {"_eq": 2026}}})
    assert_error_frame(err, "subscribe", "INVALID_QUERY", uid="bad")
    err = await ws.subscribe(name, uid="bad2", query={"filter": {"year(title)": {"_eq": 2026}}}, event="create")
    assert_error_frame(err, "subscribe", "INVALID_QUERY", uid="bad2")
    await ws.expect_silence()


def test_functions_in_fields_over_rest(admin):
    name = events_collection(admin)
    data(admin.post(f"/items/{name}", {"title": "a", "at": "2024-12-30T23:59:58", "tags": ["x", "y"]}))
    rows = data(admin.get(f"/items/{name}", params={"fields": "title,year(at),weekday(at),count(tags)"}))
    assert rows == [{"title": "a", "at_year": 2024, "at_weekday": 1, "tags_count": 2}], rows
    assert_error(admin.get(f"/items/{name}", params={"fields": "id,year(title)"}), 400, "INVALID_QUERY")
    rooms, msgs = rooms_with_messages(admin)
    room = data(admin.post(f"/items/{rooms}", {"name": "r"}))
    data(admin.post(f"/items/{msgs}", {"text": "one", "room": room["id"]}))
    rows = data(admin.get(f"/items/{rooms}", params={"fields": "name,count(messages)"}))
    assert rows == [{"name": "r", "messages_count": 1}], rows


@run_async
async def test_events_carry_functions_in_fields(server, admin):
    name = events_collection(admin)
    ws = await authed(server)
    init = await ws.subscribe(name, uid="f", query={"fields": ["id", "month(at)", "count(tags)"]})
    assert init["data"] == [], init
    row = data(await in_thread(admin.post, f"/items/{name}", {"at": "2026-07-04T12:00:00", "tags": [1, 2, 3]}))
    ev = await ws.recv()
    assert ev["event"] == "create" and ev["data"] == [{"id": row["id"], "at_month": 7, "tags_count": 3}], ev
    # the o2m count is read from the database for the changed rows
    rooms, msgs = rooms_with_messages(admin)
    room = data(admin.post(f"/items/{rooms}", {"name": "r"}))
    data(admin.post(f"/items/{msgs}", {"text": "one", "room": room["id"]}))
    await ws.subscribe(rooms, uid="c", query={"fields": ["id", "count(messages)"]})
    await in_thread(admin.patch, f"/items/{rooms}/{room['id']}", {"name": "renamed"})
    ev = await ws.recv()
    assert ev["uid"] == "c" and ev["data"] == [{"id": room["id"], "messages_count": 1}], ev
    # with `event` (no init read) a function on the wrong type is still refused
    err = await ws.subscribe(name, uid="bad", query={"fields": ["id", "year(title)"]}, event="create")
    assert_error_frame(err, "subscribe", "INVALID_QUERY", uid="bad")


def test_functions_in_sort_and_group_by(admin):
    name = events_collection(admin)
    data(admin.post(f"/items/{name}", [
        {"title": "a", "at": "2024-03-05T10:00:00", "tags": ["x"]},
        {"title": "b", "at": "2026-01-20T08:30:00", "tags": ["x", "y", "z"]},
        {"title": "c", "at": "2025-11-02T23:59:00", "tags": []},
        {"title": "d", "at": "2026-07-14T12:00:00", "tags": ["x", "y"]},
    ]))

    def titles(sort):
        return [r["title"] for r in data(admin.get(f"/items/{name}", params={"sort": sort, "fields": "title"}))]

    assert titles("-year(at),title") == ["b", "d", "c", "a"]
    assert titles("month(at),title") == ["b", "a", "d", "c"]
    assert titles("-count(tags)") == ["b", "d", "a", "c"]
    groups = data(admin.get(f"/items/{name}", params={"aggregate[count]": "*", "groupBy": "year(at)"}))
    assert groups == [{"at_year": 2024, "count": 1}, {"at_year": 2025, "count": 1}, {"at_year": 2026, "count": 2}], groups
    groups = data(admin.get(f"/items/{name}", params={"aggregate[count]": "*", "groupBy": "year(at),count(tags)"}))
    assert {(g["at_year"], g["tags_count"], g["count"]) for g in groups} == {
        (2024, 1, 1), (2025, 0, 1), (2026, 3, 1), (2026, 2, 1)}, groups
    assert_error(admin.get(f"/items/{name}", params={"sort": "decade(at)"}), 400, "INVALID_QUERY")
    assert_error(admin.get(f"/items/{name}", params={"sort": "year(title)"}), 400, "INVALID_QUERY")
    assert_error(admin.get(f"/items/{name}", params={"aggregate[count]": "*", "groupBy": "year(nope)"}),
                 400, "INVALID_QUERY")


@run_async
async def test_an_event_sorts_its_rows_by_a_function(server, admin):
    name = events_collection(admin)
    ws = await authed(server)
    init = await ws.subscribe(name, uid="s", query={"fields": ["title"], "sort": ["-year(at)"]})
    assert init["event"] == "init", init
    await in_thread(admin.post, f"/items/{name}", [
        {"title": "old", "at": "2020-01-01T00:00:00"}, {"title": "new", "at": "2026-01-01T00:00:00"},
        {"title": "mid", "at": "2023-01-01T00:00:00"}])
    frame = await ws.recv(timeout=5)
    assert frame["event"] == "create" and [r["title"] for r in frame["data"]] == ["new", "mid", "old"], frame
    await ws.close()


def test_count_of_an_o2m_sorts_and_groups(admin):
    """Directus sorts and groups by `count(o2m)` (get-column.ts: the count helper's subquery); here
    the count is of the related rows the caller may read, as in `fields`."""
    rooms, msgs = rooms_with_messages(admin)
    made = data(admin.post(f"/items/{rooms}", [{"name": "two"}, {"name": "none"}, {"name": "three"}, {"name": "one"}]))
    room = {r["name"]: r["id"] for r in made}
    for name, n in [("two", 2), ("three", 3), ("one", 1)]:
        data(admin.post(f"/items/{msgs}", [{"text": f"{name} {i}", "room": room[name]} for i in range(n)]))

    def names(api, sort):
        return [r["name"] for r in data(api.get(f"/items/{rooms}", params={"sort": sort, "fields": "name"}))]

    assert names(admin, "-count(messages)") == ["three", "two", "one", "none"]
    assert names(admin, "count(messages),name") == ["none", "one", "two", "three"]
    rows = data(admin.get(f"/items/{msgs}", params={"sort": "-room.count(messages),text", "fields": "text",
                                                    "limit": 4}))
    assert [r["text"] for r in rows] == ["three 0", "three 1", "three 2", "two 0"], rows
    groups = data(admin.get(f"/items/{rooms}", params={"aggregate[count]": "*", "groupBy": "count(messages)"}))
    assert groups == [{"messages_count": n, "count": 1} for n in range(4)], groups
    # a reader who sees only the messages ending in "0" counts one per room that has any
    _, reader = create_user_with_policy(admin, permissions=[
        {"collection": rooms, "action": "read", "fields": ["*"]},
        {"collection": msgs, "action": "read", "fields": ["*"], "permissions": {"text": {"_ends_with": "0"}}},
    ])
    assert names(reader, "-count(messages),-name") == ["two", "three", "one", "none"]
    groups = data(reader.get(f"/items/{rooms}", params={"aggregate[count]": "*", "groupBy": "count(messages)"}))
    assert groups == [{"messages_count": 0, "count": 1}, {"messages_count": 1, "count": 3}], groups
    # without read access to the messages, sorting or grouping by their count is refused
    _, blind = create_user_with_policy(admin, permissions=[{"collection": rooms, "action": "read", "fields": ["*"]}])
    assert_error(blind.get(f"/items/{rooms}", params={"sort": "count(messages)"}), 403, "FORBIDDEN")
    assert_error(blind.get(f"/items/{rooms}", params={"aggregate[count]": "*", "groupBy": "count(messages)"}),
                 403, "FORBIDDEN")


@run_async
async def test_events_sort_and_group_by_count_of_an_o2m(server, admin):
    rooms, msgs = rooms_with_messages(admin)
    made = data(await in_thread(admin.post, f"/items/{rooms}", [{"name": "a"}, {"name": "b"}, {"name": "c"}]))
    ids = [r["id"] for r in made]
    await in_thread(admin.post, f"/items/{msgs}", [{"text": "x", "room": ids[1]}, {"text": "y", "room": ids[1]},
                                                   {"text": "z", "room": ids[2]}])
    ws = await authed(server)
    init = await ws.subscribe(rooms, uid="s", query={"fields": ["id", "name"], "sort": ["-count(messages)", "name"]})
    assert [r["name"] for r in init["data"]] == ["b", "c", "a"], init
    groups = await ws.subscribe(rooms, uid="g", query={"aggregate": {"count": "*"}, "groupBy": ["count(messages)"]})
    assert groups["data"] == [{"messages_count": n, "count": 1} for n in range(3)], groups
    # one update of all three rooms: the event's rows come in the order of their counts
    await in_thread(admin.patch, f"/items/{rooms}", {"keys": ids, "data": {"name": "renamed"}})
    frames = {f["uid"]: f for f in await ws.collect(quiet=0.5)}
    assert [r["id"] for r in frames["s"]["data"]] == [ids[1], ids[2], ids[0]], frames
    assert frames["g"]["data"] == groups["data"], frames
    # a new message regroups the aggregate subscription
    await in_thread(admin.post, f"/items/{msgs}", {"text": "w", "room": ids[0]})
    frames = {f["uid"]: f for f in await ws.collect(quiet=0.5)}
    assert frames["g"]["data"] == [{"messages_count": 1, "count": 2}, {"messages_count": 2, "count": 1}], frames
    await ws.close()


@run_async
async def test_a_subscribe_without_init_checks_its_sort_functions(server, admin):
    """With `event` (no `init` read) a sort by a function still runs once: the errors REST gives."""
    rooms, _ = rooms_with_messages(admin)
    _, blind = create_user_with_policy(admin, permissions=[{"collection": rooms, "action": "read", "fields": ["*"]}])
    ws = await authed(server, blind.token)
    err = await ws.subscribe(rooms, uid="c", query={"sort": ["-count(messages)"]}, event="create")
    assert_error_frame(err, "subscribe", "FORBIDDEN", uid="c")
    err = await ws.subscribe(rooms, uid="y", query={"sort": ["year(name)"]}, event="create")
    assert_error_frame(err, "subscribe", "INVALID_QUERY", uid="y")
    await ws.close()
