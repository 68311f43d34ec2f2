"""Realtime subscriptions (PROTOCOL.md "Subscriptions"), against the shared server (handshake mode).

Directus sources: api/src/websocket/handlers/subscribe.ts (init, event option, item option,
unsubscribe reply), api/src/websocket/utils/items.ts (getPayload: query per event),
sdk/src/realtime/ (fields sent as a comma-joined string).
"""

from __future__ import annotations

import json

import requests
from harness import create_collection, create_user_with_policy, data, messages_collection, uniq
from wsclient import assert_error_frame, authed, in_thread, run_async

INIT_KEYS = {"type", "event", "data", "uid"}
EVENT_KEYS = {"type", "event", "data", "uid", "seq"}


def numbers_collection(admin, rows=()):
    name = uniq("nums")
    create_collection(admin, name, [
        {"field": "text", "type": "text"},
        {"field": "status", "type": "string"},
        {"field": "n", "type": "integer"},
    ])
    created = []
    for row in rows:
        created.append(data(admin.post(f"/items/{name}", row)))
    return name, created


def rest_read(api, name, **params):
    out = {}
    for k, v in params.items():
        out[k] = json.dumps(v) if isinstance(v, (dict, list)) and k != "fields" else v
        if k == "fields" and isinstance(v, list):
            out[k] = ",".join(v)
        if k == "sort" and isinstance(v, list):
            out[k] = ",".join(v)
    return data(api.get(f"/items/{name}", params=out))


def assert_init(frame, uid, data_=None, *, has_data=True):
    expected_keys = INIT_KEYS if has_data else {"type", "event", "uid"}
    assert set(frame) == expected_keys, f"init keys {sorted(frame)} != {sorted(expected_keys)}: {frame!r}"
    assert frame["type"] == "subscription" and frame["event"] == "init", frame
    assert frame["uid"] == uid, frame
    if has_data and data_ is not None:
        assert frame["data"] == data_, f"init data {frame['data']!r} != REST {data_!r}"


def assert_event(frame, event, uid, data_=None):
    assert set(frame) == EVENT_KEYS, f"event keys {sorted(frame)} != {sorted(EVENT_KEYS)}: {frame!r}"
    assert frame["type"] == "subscription" and frame["event"] == event, frame
    assert frame["uid"] == uid and isinstance(frame["uid"], str), frame
    assert isinstance(frame["seq"], int), frame
    if data_ is not None:
        assert frame["data"] == data_, f"{event} data {frame['data']!r} != {data_!r}"


SEED = [{"text": "a", "status": "published", "n": 1}, {"text": "b", "status": "draft", "n": 2},
        {"text": "c", "status": "published", "n": 3}]


@run_async
async def test_init_honours_fields_array_and_comma_string(server, admin):
    name, _ = numbers_collection(admin, SEED)
    expected = rest_read(admin, name, fields=["id", "text"])
    ws = await authed(server)
    assert_init(await ws.subscribe(name, uid="arr", query={"fields": ["id", "text"]}), "arr", expected)
    assert_init(await ws.subscribe(name, uid="str", query={"fields": "id,text"}), "str", expected)
    assert all(set(r) == {"id", "text"} for r in expected) and len(expected) == 3


@run_async
async def test_init_without_query_is_rest_default(server, admin):
    name, _ = numbers_collection(admin, SEED)
    ws = await authed(server)
    assert_init(await ws.subscribe(name, uid="all"), "all", rest_read(admin, name))


@run_async
async def test_init_honours_filter_sort_limit(server, admin):
    name, _ = numbers_collection(admin, SEED + [{"text": "d", "status": "published", "n": 4}])
    query = {"fields": ["id", "n"], "filter": {"status": {"_eq": "published"}}, "sort": ["-n"], "limit": 2}
    expected = rest_read(admin, name, **query)
    assert [r["n"] for r in expected] == [4, 3]
    ws = await authed(server)
    assert_init(await ws.subscribe(name, uid="q", query=query), "q", expected)
    assert_init(await ws.subscribe(name, uid="q2", query={**query, "sort": "-n"}), "q2", expected)


@run_async
async def test_item_subscription_init_is_object_and_events_for_that_key_only(server, admin):
    name, rows = numbers_collection(admin, SEED)
    key, other = rows[0]["id"], rows[1]["id"]
    ws = await authed(server)
    init = await ws.subscribe(name, uid="it", item=key, query={"fields": ["id", "text"]})
    assert_init(init, "it", {"id": key, "text": "a"})
    await in_thread(admin.patch, f"/items/{name}/{other}", {"text": "other"})
    await ws.expect_silence()
    await in_thread(admin.patch, f"/items/{name}/{key}", {"text": "changed"})
    assert_event(await ws.recv(), "update", "it", {"id": key, "text": "changed"})
    r = await in_thread(admin.delete, f"/items/{name}/{key}")
    assert r.status_code == 204
    assert_event(await ws.recv(), "delete", "it", key)
    await ws.expect_silence()


@run_async
async def test_event_option_init_without_data_and_only_that_action(server, admin):
    name, rows = numbers_collection(admin, SEED)
    ws = await authed(server)
    assert_init(await ws.subscribe(name, uid="c", event="create", query={"fields": ["id", "text"]}), "c",
                has_data=False)
    await in_thread(admin.patch, f"/items/{name}/{rows[0]['id']}", {"text": "x"})
    await in_thread(admin.delete, f"/items/{name}/{rows[1]['id']}")
    await ws.expect_silence()
    created = data(await in_thread(admin.post, f"/items/{name}", {"text": "new"}))
    assert_event(await ws.recv(), "create", "c", [{"id": created["id"], "text": "new"}])
    await ws.expect_silence()


@run_async
async def test_rest_writes_produce_create_update_delete_with_seq_and_string_uid(server, admin):
    name, _ = numbers_collection(admin)
    ws = await authed(server)
    assert_init(await ws.subscribe(name, uid=5), "5", [])
    row = data(await in_thread(admin.post, f"/items/{name}", {"text": "one", "n": 1}))
    ev1 = await ws.recv()
    assert_event(ev1, "create", "5", rest_read(admin, name))
    await in_thread(admin.patch, f"/items/{name}/{row['id']}", {"text": "two"})
    ev2 = await ws.recv()
    assert_event(ev2, "update", "5", rest_read(admin, name))
    assert ev2["data"][0]["text"] == "two"
    assert (await in_thread(admin.delete, f"/items/{name}/{row['id']}")).status_code == 204
    ev3 = await ws.recv()
    assert_event(ev3, "delete", "5", [row["id"]])
    assert ev1["seq"] < ev2["seq"] < ev3["seq"], (ev1, ev2, ev3)
    await ws.expect_silence()


@run_async
async def test_socket_items_writes_produce_events(server, admin):
    name, _ = numbers_collection(admin)
    sub = await authed(server)
    writer = await authed(server)
    assert_init(await sub.subscribe(name, uid="s", query={"fields": ["id", "text"]}), "s", [])
    created = await writer.items(name, "create", uid="w1", data={"text": "sock"})
    key = created["data"]["id"]
    assert_event(await sub.recv(), "create", "s", [{"id": key, "text": "sock"}])
    await writer.items(name, "update", uid="w2", id=key, data={"text": "sock2"})
    assert_event(await sub.recv(), "update", "s", [{"id": key, "text": "sock2"}])
    await writer.items(name, "delete", uid="w3", id=key)
    assert_event(await sub.recv(), "delete", "s", [key])


@run_async
async def test_seq_strictly_increasing_across_rest_and_socket_writes(server, admin):
    name, _ = numbers_collection(admin)
    sub = await authed(server)
    writer = await authed(server)
    assert_init(await sub.subscribe(name, uid="s", query={"fields": ["id"]}), "s", [])
    for i in range(4):
        data(await in_thread(admin.post, f"/items/{name}", {"n": i}))
        assert (await writer.items(name, "create", data={"n": 100 + i}))["type"] == "items"
    frames = await sub.collect(quiet=0.5)
    assert len(frames) == 8, frames
    seqs = [f["seq"] for f in frames]
    assert all(a < b for a, b in zip(seqs, seqs[1:])), seqs


@run_async
async def test_batch_delete_sends_array_of_keys(server, admin):
    name, rows = numbers_collection(admin, SEED)
    ws = await authed(server)
    assert_init(await ws.subscribe(name, uid="d"), "d")
    keys = [r["id"] for r in rows[:2]]
    assert (await in_thread(admin.delete, f"/items/{name}", keys)).status_code == 204
    ev = await ws.recv()
    assert_event(ev, "delete", "d")
    assert sorted(ev["data"]) == sorted(keys), ev


@run_async
async def test_same_uid_replaces_subscription(server, admin):
    name, _ = numbers_collection(admin)
    ws = await authed(server)
    assert_init(await ws.subscribe(name, uid="r", query={"fields": ["id"]}), "r", [])
    assert_init(await ws.subscribe(name, uid="r", query={"fields": ["id", "text"]}), "r", [])
    row = data(await in_thread(admin.post, f"/items/{name}", {"text": "once"}))
    frames = await ws.collect()
    assert len(frames) == 1, f"expected one event stream, got {frames!r}"
    assert_event(frames[0], "create", "r", [{"id": row["id"], "text": "once"}])


@run_async
async def test_unsubscribe_by_uid_and_all(server, admin):
    name, _ = numbers_collection(admin)
    ws = await authed(server)
    assert_init(await ws.subscribe(name, uid="a"), "a")
    assert_init(await ws.subscribe(name, uid="b"), "b")
    await ws.send({"type": "unsubscribe", "uid": "a"})
    assert await ws.recv() == {"type": "subscription", "event": "unsubscribe", "uid": "a"}
    data(await in_thread(admin.post, f"/items/{name}", {"text": "x"}))
    frames = await ws.collect()
    assert [f["uid"] for f in frames] == ["b"], frames
    await ws.send({"type": "unsubscribe"})
    assert await ws.recv() == {"type": "subscription", "event": "unsubscribe"}
    data(await in_thread(admin.post, f"/items/{name}", {"text": "y"}))
    await ws.expect_silence()


@run_async
async def test_numeric_uid_unsubscribe(server, admin):
    name, _ = numbers_collection(admin)
    ws = await authed(server)
    assert_init(await ws.subscribe(name, uid=7), "7")
    await ws.send({"type": "unsubscribe", "uid": 7})
    reply = await ws.recv()
    assert reply["type"] == "subscription" and reply["event"] == "unsubscribe" and str(reply["uid"]) == "7", reply
    data(await in_thread(admin.post, f"/items/{name}", {"text": "x"}))
    await ws.expect_silence()


@run_async
async def test_filter_excludes_rows_and_sends_nothing_when_empty(server, admin):
    name, _ = numbers_collection(admin)
    ws = await authed(server)
    q = {"fields": ["id", "status"], "filter": {"status": {"_eq": "published"}}}
    assert_init(await ws.subscribe(name, uid="f", query=q), "f", [])
    draft = data(await in_thread(admin.post, f"/items/{name}", {"status": "draft"}))
    await ws.expect_silence()
    pub = data(await in_thread(admin.post, f"/items/{name}", {"status": "published"}))
    assert_event(await ws.recv(), "create", "f", [{"id": pub["id"], "status": "published"}])
    # a batch update touching both rows: only the matching one is sent
    await in_thread(admin.patch, f"/items/{name}", {"keys": [draft["id"], pub["id"]], "data": {"n": 9}})
    assert_event(await ws.recv(), "update", "f", [{"id": pub["id"], "status": "published"}])
    # an update of the non-matching row only: nothing
    await in_thread(admin.patch, f"/items/{name}/{draft['id']}", {"n": 10})
    await ws.expect_silence()


@run_async
async def test_limit_one_on_batch_update_sends_one_row(server, admin):
    name, rows = numbers_collection(admin, SEED)
    ws = await authed(server)
    init = await ws.subscribe(name, uid="l", query={"fields": ["id", "n"], "limit": 1})
    assert_init(init, "l", rest_read(admin, name, fields=["id", "n"], limit=1))
    await in_thread(admin.patch, f"/items/{name}", {"keys": [r["id"] for r in rows], "data": {"text": "all"}})
    ev = await ws.recv()
    assert_event(ev, "update", "l")
    assert len(ev["data"]) == 1 and set(ev["data"][0]) == {"id", "n"}, ev
    await ws.expect_silence()


@run_async
async def test_aggregate_count_is_recomputed_over_whole_collection(server, admin):
    name, rows = numbers_collection(admin, SEED)
    ws = await authed(server)
    agg = {"aggregate": {"count": "*"}}
    rest = data(admin.get(f"/items/{name}", params={"aggregate[count]": "*"}))
    assert rest == [{"count": 3}]
    assert_init(await ws.subscribe(name, uid="agg", query=agg), "agg", rest)
    data(await in_thread(admin.post, f"/items/{name}", {"text": "d"}))
    assert_event(await ws.recv(), "create", "agg", [{"count": 4}])
    await in_thread(admin.patch, f"/items/{name}/{rows[0]['id']}", {"text": "z"})
    assert_event(await ws.recv(), "update", "agg", [{"count": 4}])
    await in_thread(admin.delete, f"/items/{name}", [rows[0]["id"], rows[1]["id"]])
    assert_event(await ws.recv(), "delete", "agg", [{"count": 2}])


@run_async
async def test_aggregate_count_with_filter(server, admin):
    name, rows = numbers_collection(admin, SEED)
    ws = await authed(server)
    q = {"aggregate": {"count": "*"}, "filter": {"status": {"_eq": "published"}}}
    assert_init(await ws.subscribe(name, uid="aggf", query=q), "aggf", [{"count": 2}])
    data(await in_thread(admin.post, f"/items/{name}", {"status": "published"}))
    assert_event(await ws.recv(), "create", "aggf", [{"count": 3}])


def aggregate_read(api, name, query):
    """The REST aggregate read a subscription with `query` mirrors."""
    params = {}
    for fn, fields in query["aggregate"].items():
        params[f"aggregate[{fn}]"] = fields if isinstance(fields, str) else ",".join(fields)
    if "groupBy" in query:
        params["groupBy"] = ",".join(query["groupBy"])
    if "filter" in query:
        params["filter"] = json.dumps(query["filter"])
    return data(api.get(f"/items/{name}", params=params))


AGGREGATE_QUERIES = {
    "all": {"aggregate": {"count": "*"}},
    # pinned by the equality index: changes to other rows never reach the class
    "pub": {"aggregate": {"count": "*"}, "filter": {"status": {"_eq": "published"}}},
    "grp": {"aggregate": {"countAll": "*", "count": ["n"]}, "groupBy": ["status"]},
    "grpf": {"aggregate": {"count": "*"}, "groupBy": ["status"], "filter": {"n": {"_gte": 2}}},
    # read from the database on every change (not counted in memory)
    "sum": {"aggregate": {"sum": "n", "max": "n"}, "groupBy": ["status"]},
}


PINNED = {"pub"}


def aggregate_writes(admin, name, rows):
    """Creates, updates moving rows in and out of the filters and groups, and deletes."""
    a, b, c = (r["id"] for r in rows)
    return [
        ("create", lambda: admin.post(f"/items/{name}", {"status": "published", "n": 4})),
        ("create", lambda: admin.post(f"/items/{name}", [{"status": "draft"}, {"status": "archived", "n": 7}])),
        ("update", lambda: admin.patch(f"/items/{name}/{a}", {"status": "draft"})),
        ("update", lambda: admin.patch(f"/items/{name}/{b}", {"status": "published", "n": 9})),
        ("update", lambda: admin.patch(f"/items/{name}/{c}", {"n": None})),
        ("update", lambda: admin.patch(f"/items/{name}/{c}", {"text": "unrelated"})),
        ("create", lambda: admin.post(f"/items/{name}", {"status": "zzz", "n": 1})),
        ("update", lambda: admin.patch(f"/items/{name}", {"keys": [a, b], "data": {"status": "zzz", "n": 3}})),
        ("delete", lambda: admin.delete(f"/items/{name}/{c}")),
        ("delete", lambda: admin.delete(f"/items/{name}", [a, b])),
    ]


async def assert_frames_equal_rest(server, admin, api, token, name, rows, queries):
    socks = {}
    for uid, q in queries.items():
        socks[uid] = await authed(server, token)
        assert_init(await socks[uid].subscribe(name, uid=uid, query=q), uid, aggregate_read(api, name, q))
    last = {uid: aggregate_read(api, name, q) for uid, q in queries.items()}
    for action, write in aggregate_writes(admin, name, rows):
        r = await in_thread(write)
        assert r.status_code in (200, 204), r.text
        for uid, q in queries.items():
            expected = aggregate_read(api, name, q)
            if uid in PINNED:
                # Changes to rows outside a pinned filter send nothing: then the count did not move.
                try:
                    frame = await socks[uid].recv(timeout=0.4)
                except AssertionError:
                    assert expected == last[uid], f"{uid}: no frame after {action}, but REST moved"
                    continue
                assert_event(frame, action, uid, expected)
            else:
                assert_event(await socks[uid].recv(), action, uid, expected)
            last[uid] = expected
    for ws in socks.values():
        await ws.close()


@run_async
async def test_aggregate_frames_equal_a_rest_read_after_every_write(server, admin):
    name, rows = numbers_collection(admin, SEED)
    await assert_frames_equal_rest(server, admin, admin, "admin-static-token", name, rows, AGGREGATE_QUERIES)


@run_async
async def test_aggregate_frames_apply_the_read_permission_filter(server, admin):
    name, rows = numbers_collection(admin, SEED)
    _, user = create_user_with_policy(admin, permissions=[
        {"collection": name, "action": "read", "fields": ["*"], "permissions": {"status": {"_neq": "archived"}}}])
    queries = {k: AGGREGATE_QUERIES[k] for k in ("all", "grp", "grpf")}
    await assert_frames_equal_rest(server, admin, user, user.token, name, rows, queries)


@run_async
async def test_aggregate_counts_are_kept_in_memory_not_read_per_event(server_factory):
    srv = server_factory({"METRICS_ENABLED": "true", "METRICS_TOKENS": "agg-scrape"}, name="aggmetrics")
    admin = srv.admin()

    def counters():
        text = requests.get(f"{srv.base_url}/metrics", headers={"Authorization": "Metrics agg-scrape"},
                            timeout=5, proxies={"http": None, "https": None}).text
        out = {}
        for line in text.splitlines():
            for key in ("realtime_aggregate_reads", "realtime_aggregate_in_memory"):
                if line.startswith("switchboard_" + key) and not line.startswith("#"):
                    out[key] = float(line.rsplit(" ", 1)[1])
        return out

    name, _ = numbers_collection(admin, SEED)
    ws = await authed(srv)
    q = AGGREGATE_QUERIES["grp"]
    assert_init(await ws.subscribe(name, uid="g", query=q), "g", aggregate_read(admin, name, q))
    before = counters()
    for i in range(10):
        await in_thread(admin.post, f"/items/{name}", {"status": "published", "n": i})
        assert_event(await ws.recv(), "create", "g", aggregate_read(admin, name, q))
    after = counters()
    reads = after["realtime_aggregate_reads"] - before.get("realtime_aggregate_reads", 0)
    in_memory = after["realtime_aggregate_in_memory"] - before.get("realtime_aggregate_in_memory", 0)
    assert reads == 1 and in_memory == 9, (reads, in_memory)


@run_async
async def test_m2o_fields_in_init_and_events(server, admin):
    name = messages_collection(admin)
    me = data(admin.get("/users/me"))
    ws = await authed(server)
    q = {"fields": ["id", "text", "user.email"]}
    first = data(admin.post(f"/items/{name}", {"text": "first", "user": me["id"]}))
    assert_init(await ws.subscribe(name, uid="m", query=q), "m", rest_read(admin, name, **q))
    row = data(await in_thread(admin.post, f"/items/{name}", {"text": "hello", "user": me["id"]}))
    ev = await ws.recv()
    assert_event(ev, "create", "m", [{"id": row["id"], "text": "hello", "user": {"email": me["email"]}}])
    await in_thread(admin.patch, f"/items/{name}/{first['id']}", {"text": "edited"})
    assert_event(await ws.recv(), "update", "m", [{"id": first["id"], "text": "edited", "user": {"email": me["email"]}}])
    # comma string form, as the SDK sends it
    assert_init(await ws.subscribe(name, uid="m2", query={"fields": "id,user.email"}), "m2",
                rest_read(admin, name, fields=["id", "user.email"]))


@run_async
async def test_unknown_collection_is_invalid_collection(server):
    ws = await authed(server)
    err = await ws.subscribe("does_not_exist_here", uid="x")
    assert_error_frame(err, "subscribe", "INVALID_COLLECTION", uid="x")
    # the socket keeps working
    await ws.send({"type": "ping", "uid": "p"})
    assert await ws.recv() == {"type": "pong", "uid": "p"}


@run_async
async def test_bad_query_is_invalid_query(server, admin):
    name, _ = numbers_collection(admin, SEED)
    ws = await authed(server)
    for i, q in enumerate([{"limit": "abc"}, {"filter": {"text": {"_bogus": 1}}}, "not-an-object"]):
        err = await ws.subscribe(name, uid=f"q{i}", query=q)
        assert_error_frame(err, "subscribe", "INVALID_QUERY", uid=f"q{i}")
    await ws.expect_silence()


@run_async
async def test_filter_value_of_the_wrong_type_is_refused_with_or_without_init(server, admin):
    """`n` is an integer: "abc" is refused as Directus refuses it, also when the subscribe
    reads no rows (`event` given) and so would otherwise evaluate the filter in memory only."""
    name, _ = numbers_collection(admin, SEED)
    bad = {"filter": {"n": {"_lt": "abc"}}}
    assert admin.get(f"/items/{name}", params={"filter": json.dumps(bad["filter"])}).status_code == 400
    ws = await authed(server)
    err = await ws.subscribe(name, uid="w1", query=bad)
    assert_error_frame(err, "subscribe", "INVALID_QUERY", uid="w1")
    assert "Invalid numeric value" in err["error"]["message"]
    err = await ws.subscribe(name, uid="w2", query=bad, event="create")
    assert_error_frame(err, "subscribe", "INVALID_QUERY", uid="w2")
    await ws.expect_silence()


@run_async
async def test_event_subscriptions_of_a_class_check_their_filter_once_per_schema(server, admin):
    """The second `event` subscribe of a class is answered without reading (its filter was
    checked once); a refused one is refused every time, and a schema change checks again."""
    name, _ = numbers_collection(admin, SEED)
    ws = await authed(server)
    good = {"filter": {"n": {"_gte": 2}}}
    for uid in ("g1", "g2"):
        assert_init(await ws.subscribe(name, uid=uid, query=good, event="create"), uid, has_data=False)
    bad = {"filter": {"n": {"_lt": "abc"}}}
    for uid in ("b1", "b2"):
        assert_error_frame(await ws.subscribe(name, uid=uid, query=bad, event="create"), "subscribe", "INVALID_QUERY", uid=uid)
    created = data(admin.post(f"/items/{name}", {"text": "late", "n": 5}))
    frames = await ws.collect(max_frames=2)
    assert sorted(f["uid"] for f in frames) == ["g1", "g2"]
    assert all(f["event"] == "create" and f["data"][0]["id"] == created["id"] for f in frames)
    # `n` dropped: the class's earlier check no longer holds
    assert admin.delete(f"/fields/{name}/n").status_code == 204
    err = await ws.subscribe(name, uid="g3", query=good, event="create")
    assert_error_frame(err, "subscribe", "FORBIDDEN", uid="g3")
    assert admin.get(f"/items/{name}", params={"filter": json.dumps(good["filter"])}).status_code == 403


@run_async
async def test_unknown_field_error_code_matches_rest(server, admin):
    """A query naming a field that doesn't exist: REST answers 403 FORBIDDEN
    (validate-path); the subscribe error carries the same code, not INVALID_COLLECTION
    (the collection exists and is readable)."""
    name, _ = numbers_collection(admin, SEED)
    r = admin.get(f"/items/{name}", params={"filter": json.dumps({"zzz": {"_eq": 1}})})
    rest_code = r.json()["errors"][0]["extensions"]["code"]
    assert rest_code == "FORBIDDEN"
    ws = await authed(server)
    err = await ws.subscribe(name, uid="uf", query={"filter": {"zzz": {"_eq": 1}}})
    assert_error_frame(err, "subscribe", rest_code, uid="uf")
    err = await ws.subscribe(name, uid="uf2", query={"fields": ["id", "zzz"]})
    assert_error_frame(err, "subscribe", rest_code, uid="uf2")


@run_async
async def test_subscribe_schema_violation_is_invalid_payload(server):
    ws = await authed(server)
    await ws.send({"type": "subscribe", "uid": "nc"})
    assert_error_frame(await ws.recv(), "subscribe", "INVALID_PAYLOAD", uid="nc")
    await ws.send({"type": "subscribe", "collection": "directus_users", "event": "explode", "uid": "ev"})
    assert_error_frame(await ws.recv(), "subscribe", "INVALID_PAYLOAD", uid="ev")


@run_async
async def test_rows_changed_by_a_cascading_delete_send_their_events(server, admin):
    """Deleting a room deletes its messages (`on_delete: CASCADE`) and nulls its pins
    (`SET NULL`): subscribers of those collections get the delete and the update, with `seq`."""
    rooms, msgs, pins = uniq("crooms"), uniq("cmsgs"), uniq("cpins")
    create_collection(admin, rooms, [{"field": "name", "type": "string"}])
    create_collection(admin, msgs, [{"field": "text", "type": "text"}, {"field": "room", "type": "integer"}])
    create_collection(admin, pins, [{"field": "label", "type": "string"}, {"field": "room", "type": "integer"}])
    data(admin.post("/relations", {"collection": msgs, "field": "room", "related_collection": rooms,
                                   "schema": {"on_delete": "CASCADE"}}))
    data(admin.post("/relations", {"collection": pins, "field": "room", "related_collection": rooms,
                                   "schema": {"on_delete": "SET NULL"}}))
    room = data(admin.post(f"/items/{rooms}", {"name": "lobby"}))
    other = data(admin.post(f"/items/{rooms}", {"name": "other"}))
    m1 = data(admin.post(f"/items/{msgs}", {"text": "a", "room": room["id"]}))
    m2 = data(admin.post(f"/items/{msgs}", {"text": "b", "room": room["id"]}))
    data(admin.post(f"/items/{msgs}", {"text": "c", "room": other["id"]}))
    pin = data(admin.post(f"/items/{pins}", {"label": "p", "room": room["id"]}))
    ws = await authed(server)
    await ws.subscribe(msgs, uid="m", query={"fields": ["id", "room"]})
    await ws.subscribe(pins, uid="p", query={"fields": ["id", "room"]})
    await in_thread(admin.delete, f"/items/{rooms}/{room['id']}")
    frames = [await ws.recv(), await ws.recv()]
    by_uid = {f["uid"]: f for f in frames}
    assert_event(by_uid["m"], "delete", "m")
    assert sorted(by_uid["m"]["data"]) == sorted([m1["id"], m2["id"]]), by_uid["m"]
    assert_event(by_uid["p"], "update", "p", [{"id": pin["id"], "room": None}])
    await ws.expect_silence()
    assert [r["text"] for r in data(admin.get(f"/items/{msgs}"))] == ["c"]
