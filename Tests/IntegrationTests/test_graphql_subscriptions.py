"""GraphQL subscriptions: `graphql-transport-ws` at WEBSOCKETS_GRAPHQL_PATH (PROTOCOL.md, "GraphQL
subscriptions").

Directus sources: api/src/websocket/controllers/graphql.ts (auth modes, 4403), api/src/services/
graphql/subscription.ts (`<collection>_mutated`, one `next` per key, delete carries `data: null`).
The protocol's rules (4400/4401/4406/4408/4409/4429) are the `graphql-ws` library's. Each auth mode,
each event type, field permissions, the `filter` and `event` arguments and bad documents are
checked with raw frames; the end-to-end flow also with a real client (Python `gql`, its
graphql-transport-ws transport).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus

from harness import (
    ADMIN_TOKEN,
    create_collection,
    create_field,
    create_user_with_policy,
    data,
    messages_collection,
    public_policy_id,
    uniq,
)
from wsclient import WS, in_thread, open_ws, run_async

GQLWS = "graphql-transport-ws"
ACK = {"type": "connection_ack"}


@pytest.fixture(scope="module")
def strict_server(server_factory):
    return server_factory({"WEBSOCKETS_GRAPHQL_AUTH": "strict"}, name="gql-strict")


@pytest.fixture(scope="module")
def public_server(server_factory):
    return server_factory({"WEBSOCKETS_GRAPHQL_AUTH": "public", "WEBSOCKETS_GRAPHQL_AUTH_TIMEOUT": "1"},
                          name="gql-public")


def notes(admin) -> str:
    name = uniq("gqlnotes")
    create_collection(admin, name, [{"field": "text", "type": "string"}, {"field": "secret", "type": "string"}])
    return name


async def gql_open(server: Any, query: str = "", subprotocols: list[str] | None = None) -> WS:
    return await open_ws(server, query, path="/graphql", subprotocols=subprotocols or [GQLWS])


async def gql_ready(server: Any, token: str | None = ADMIN_TOKEN, query: str = "") -> WS:
    """Open, `connection_init` (with `token` if given), expect `connection_ack`."""
    ws = await gql_open(server, query)
    await ws.send({"type": "connection_init", "payload": {"access_token": token} if token else {}})
    assert await ws.recv() == ACK
    return ws


async def subscribe(ws: WS, op: str, document: str, variables: dict[str, Any] | None = None) -> None:
    payload: dict[str, Any] = {"query": document}
    if variables is not None:
        payload["variables"] = variables
    await ws.send({"id": op, "type": "subscribe", "payload": payload})


async def until_live(ws: WS, op: str, api: Any, collection: str, probe: dict[str, Any]) -> None:
    """Writes probe rows until the subscription `op` sees one (a subscription has no reply of its own),
    then drains what the probes caused."""
    for _ in range(50):
        await in_thread(api.post, f"/items/{collection}", probe)
        frames = await ws.collect(quiet=0.2, max_total=0.5)
        if any(f.get("id") == op and f.get("type") == "next" for f in frames):
            await ws.collect(quiet=0.3)
            return
        assert not any(f.get("type") == "error" for f in frames), frames
    raise AssertionError(f"subscription {op} never went live")


def mutated(frame: dict[str, Any], collection: str) -> dict[str, Any]:
    assert frame["type"] == "next", frame
    assert set(frame["payload"]) == {"data"}, frame
    return frame["payload"]["data"][f"{collection}_mutated"]


# -- events ----------------------------------------------------------------------------------


@run_async
async def test_create_update_delete_one_next_per_key(server, admin):
    c = notes(admin)
    ws = await gql_ready(server)
    await subscribe(ws, "s", f"subscription {{ {c}_mutated {{ key event data {{ id text }} }} }}")
    await until_live(ws, "s", admin, c, {"text": "probe"})
    a = data(admin.post(f"/items/{c}", {"text": "a"}))["id"]
    b = data(admin.post(f"/items/{c}", {"text": "b"}))["id"]
    data(admin.patch(f"/items/{c}", {"keys": [a, b], "data": {"text": "z"}}))
    assert admin.delete(f"/items/{c}", json=[a, b]).status_code == 204
    frames = await ws.collect(quiet=0.5)
    got = [mutated(f, c) for f in frames]
    # primary keys are GraphQL IDs (strings), as in Directus
    assert got == [
        {"key": str(a), "event": "create", "data": {"id": str(a), "text": "a"}},
        {"key": str(b), "event": "create", "data": {"id": str(b), "text": "b"}},
        {"key": str(a), "event": "update", "data": {"id": str(a), "text": "z"}},
        {"key": str(b), "event": "update", "data": {"id": str(b), "text": "z"}},
        {"key": str(a), "event": "delete", "data": None},
        {"key": str(b), "event": "delete", "data": None},
    ], frames
    assert {f["id"] for f in frames} == {"s"}


@run_async
async def test_event_and_filter_arguments(server, admin):
    c = notes(admin)
    ws = await gql_ready(server)
    await subscribe(ws, "all", f"subscription {{ {c}_mutated {{ key event }} }}")
    await until_live(ws, "all", admin, c, {"text": "probe"})
    await subscribe(ws, "creates", f"subscription {{ {c}_mutated(event: create) {{ key event }} }}")
    await subscribe(ws, "match", f'subscription {{ {c}_mutated(filter: {{text: {{_eq: "yes"}}}}) {{ key data {{ text }} }} }}')
    await asyncio.sleep(0.3)
    x = data(admin.post(f"/items/{c}", {"text": "yes"}))["id"]
    y = data(admin.post(f"/items/{c}", {"text": "no"}))["id"]
    data(admin.patch(f"/items/{c}/{y}", {"text": "yes"}))
    frames = await ws.collect(quiet=0.5)
    by_op: dict[str, list[Any]] = {}
    for f in frames:
        by_op.setdefault(f["id"], []).append(mutated(f, c))
    assert by_op["all"] == [{"key": str(x), "event": "create"}, {"key": str(y), "event": "create"},
                            {"key": str(y), "event": "update"}]
    assert by_op["creates"] == [{"key": str(x), "event": "create"}, {"key": str(y), "event": "create"}]
    assert by_op["match"] == [{"key": str(x), "data": {"text": "yes"}}, {"key": str(y), "data": {"text": "yes"}}]


@run_async
async def test_aliases_typename_and_variables(server, admin):
    c = notes(admin)
    ws = await gql_ready(server)
    doc = (f"subscription Live($e: EventEnum) {{ changes: {c}_mutated(event: $e) "
           f"{{ __typename k: key data {{ body: text }} }} }}")
    await subscribe(ws, "v", doc, {"e": "create"})
    await until_live(ws, "v", admin, c, {"text": "probe"})
    data(admin.post(f"/items/{c}", {"text": "hi"}))
    [frame] = await ws.collect(quiet=0.5)
    change = frame["payload"]["data"]["changes"]
    assert change["__typename"] == f"{c}_mutated" and change["data"] == {"body": "hi"}, frame


@run_async
async def test_subscribers_sharing_a_document_and_not(server, admin):
    """Frames are made once for members with the same operation id and document; others get their own."""
    c = notes(admin)
    plain = f"subscription {{ {c}_mutated(event: create) {{ key data {{ text }} }} }}"
    aliased = f"subscription {{ m: {c}_mutated(event: create) {{ k: key }} }}"
    socks = [(await gql_ready(server), op, doc) for op, doc in [("1", plain), ("1", plain), ("1", aliased), ("2", plain)]]
    for ws, op, doc in socks:
        await subscribe(ws, op, doc)
    await until_live(socks[0][0], "1", admin, c, {"text": "probe"})
    await asyncio.sleep(0.3)
    for ws, _, _ in socks[1:]:
        await ws.collect(quiet=0.3)
    k = data(admin.post(f"/items/{c}", {"text": "shared"}))["id"]
    got = [await ws.collect(quiet=0.5) for ws, _, _ in socks]
    want_plain = {"data": {f"{c}_mutated": {"key": str(k), "data": {"text": "shared"}}}}
    assert got[0] == got[1] == [{"id": "1", "type": "next", "payload": want_plain}], got
    assert got[2] == [{"id": "1", "type": "next", "payload": {"data": {"m": {"k": str(k)}}}}], got
    assert got[3] == [{"id": "2", "type": "next", "payload": want_plain}], got


@run_async
async def test_m2o_fields_are_nested(server, admin):
    c = messages_collection(admin)
    me = data(admin.get("/users/me"))["id"]
    ws = await gql_ready(server)
    await subscribe(ws, "m", f"subscription {{ {c}_mutated(event: create) {{ key data {{ text user {{ id email }} }} }} }}")
    await until_live(ws, "m", admin, c, {"text": "probe"})
    data(admin.post(f"/items/{c}", {"text": "hello", "user": me}))
    [frame] = await ws.collect(quiet=0.5)
    got = mutated(frame, c)["data"]
    assert got["text"] == "hello" and got["user"]["id"] == me and "@" in got["user"]["email"], frame


@run_async
async def test_func_fields_and_filters(server, admin):
    """`at_func { year }` and `replies_func { count }` in `data`, `at_func` in the `filter` argument."""
    c, replies = uniq("gqlfn"), uniq("gqlfnreplies")
    create_collection(admin, c, [{"field": "title", "type": "string"}, {"field": "at", "type": "dateTime"},
                                 {"field": "tags", "type": "json"}])
    create_collection(admin, replies, [{"field": "text", "type": "string"}])
    create_field(admin, replies, "post", "integer", meta={"special": ["m2o"]})
    create_field(admin, c, "replies", "alias", meta={"special": ["o2m"], "interface": "list-o2m"})
    data(admin.post("/relations", {"collection": replies, "field": "post", "related_collection": c,
                                   "meta": {"one_field": "replies"}}))
    ws = await gql_ready(server)
    await subscribe(ws, "f", f"subscription {{ {c}_mutated(filter: {{at_func: {{year: {{_gte: 2026}}}}}}) "
                             f"{{ key data {{ title at_func {{ year month __typename }} tags_func {{ count }} }} }} }}")
    await until_live(ws, "f", admin, c, {"title": "probe", "at": "2026-01-01T00:00:00"})
    await subscribe(ws, "r", f"subscription {{ {c}_mutated(event: update) {{ key data {{ title replies_func {{ count }} }} }} }}")
    await asyncio.sleep(0.3)
    old = data(admin.post(f"/items/{c}", {"title": "old", "at": "2020-05-01T00:00:00", "tags": ["x"]}))["id"]
    new = data(admin.post(f"/items/{c}", {"title": "new", "at": "2026-08-09T10:00:00", "tags": ["x", "y"]}))["id"]
    data(admin.post(f"/items/{replies}", [{"text": "a", "post": old}, {"text": "b", "post": old}]))
    frames = await ws.collect(quiet=0.5)
    assert [mutated(f, c) for f in frames if f["id"] == "f"] == [
        {"key": str(new), "data": {"title": "new", "at_func": {"year": 2026, "month": 8, "__typename": "datetime_functions"},
                                   "tags_func": {"count": 2}}}], frames
    data(admin.patch(f"/items/{c}/{old}", {"title": "older"}))
    frames = [f for f in await ws.collect(quiet=0.5) if f["id"] == "r"]
    assert [mutated(f, c) for f in frames] == [{"key": str(old), "data": {"title": "older", "replies_func": {"count": 2}}}], frames


# -- permissions -------------------------------------------------------------------------------


@run_async
async def test_field_permissions_shape_the_schema(server, admin):
    c = notes(admin)
    info, user = create_user_with_policy(admin, permissions=[
        {"collection": c, "action": "read", "fields": ["id", "text"]}])
    token = user.token
    ws = await gql_ready(server, token)
    await subscribe(ws, "secret", f"subscription {{ {c}_mutated {{ key data {{ secret }} }} }}")
    [err] = await ws.collect(quiet=0.5)
    assert err["type"] == "error" and err["id"] == "secret" and err["payload"], err
    await subscribe(ws, "ok", f"subscription {{ {c}_mutated {{ key data {{ id text }} }} }}")
    await until_live(ws, "ok", admin, c, {"text": "probe", "secret": "s"})
    k = data(admin.post(f"/items/{c}", {"text": "t", "secret": "hidden"}))["id"]
    [frame] = await ws.collect(quiet=0.5)
    assert mutated(frame, c) == {"key": str(k), "data": {"id": str(k), "text": "t"}}


@run_async
async def test_forbidden_collection_is_an_error_and_the_socket_stays(server, admin):
    c = notes(admin)
    other = notes(admin)
    _, user = create_user_with_policy(admin, permissions=[{"collection": c, "action": "read", "fields": ["*"]}])
    ws = await gql_ready(server, user.token)
    await subscribe(ws, "no", f"subscription {{ {other}_mutated {{ key }} }}")
    [err] = await ws.collect(quiet=0.5)
    assert err["type"] == "error" and err["id"] == "no", err
    await subscribe(ws, "yes", f"subscription {{ {c}_mutated {{ key }} }}")
    await until_live(ws, "yes", admin, c, {"text": "probe"})
    assert ws.is_open


@run_async
async def test_a_permission_change_replans_live_subscriptions(server, admin):
    c = notes(admin)
    info, user = create_user_with_policy(admin, permissions=[{"collection": c, "action": "read", "fields": ["*"]}])
    ws = await gql_ready(server, user.token)
    await subscribe(ws, "s", f"subscription {{ {c}_mutated {{ key data {{ text secret }} }} }}")
    await until_live(ws, "s", admin, c, {"text": "probe"})
    # the field it selects is no longer readable: the subscription ends with an error, the socket stays
    perms = data(admin.get("/permissions", params={"filter": json.dumps({"policy": {"_eq": info["policy"]}})}))
    data(admin.patch(f"/permissions/{perms[0]['id']}", {"fields": ["id", "text"]}))
    frames = await ws.collect(quiet=0.5, max_total=5)
    errors = [f for f in frames if f.get("type") == "error"]
    assert len(errors) == 1 and errors[0]["id"] == "s", frames
    await subscribe(ws, "t", f"subscription {{ {c}_mutated {{ key data {{ text }} }} }}")
    await until_live(ws, "t", admin, c, {"text": "probe"})


@run_async
async def test_bad_documents_are_errors_and_the_socket_stays(server, admin):
    c = notes(admin)
    ws = await gql_ready(server)
    for op, doc in [("syntax", "subscription { "), ("unknown", f"subscription {{ {c}_mutated {{ nope }} }}"),
                    ("nocollection", "subscription { not_a_collection_mutated { key } }"),
                    ("mutation", f"mutation {{ create_{c}_item(data: {{text: \"x\"}}) {{ id }} }}"),
                    ("two", f"subscription {{ a: {c}_mutated {{ key }} b: {c}_mutated {{ key }} }}")]:
        await subscribe(ws, op, doc)
        frames = await ws.collect(quiet=0.4)
        assert len(frames) == 1 and frames[0]["type"] == "error" and frames[0]["id"] == op, (op, frames)
        errors = frames[0]["payload"]
        assert isinstance(errors, list) and errors and all("message" in e for e in errors), (op, errors)
    await subscribe(ws, "fine", f"subscription {{ {c}_mutated {{ key }} }}")
    await until_live(ws, "fine", admin, c, {"text": "probe"})


@run_async
async def test_a_query_over_the_socket_is_next_then_complete(server, admin):
    c = notes(admin)
    k = data(admin.post(f"/items/{c}", {"text": "q"}))["id"]
    ws = await gql_ready(server)
    await ws.send({"id": "q", "type": "subscribe", "payload": {"query": f"{{ {c}_by_id(id: {k}) {{ text }} }}"}})
    frames = await ws.collect(quiet=0.5)
    assert frames == [{"id": "q", "type": "next", "payload": {"data": {f"{c}_by_id": {"text": "q"}}}},
                      {"id": "q", "type": "complete"}], frames


@run_async
async def test_complete_stops_the_subscription(server, admin):
    c = notes(admin)
    ws = await gql_ready(server)
    await subscribe(ws, "s", f"subscription {{ {c}_mutated {{ key }} }}")
    await until_live(ws, "s", admin, c, {"text": "probe"})
    await ws.send({"id": "s", "type": "complete"})
    await asyncio.sleep(0.2)
    data(admin.post(f"/items/{c}", {"text": "after"}))
    await ws.expect_silence(0.5)
    # the id is free again
    await subscribe(ws, "s", f"subscription {{ {c}_mutated {{ key }} }}")
    await until_live(ws, "s", admin, c, {"text": "probe"})


# -- the protocol's rules ---------------------------------------------------------------------


@run_async
async def test_handshake_mode_requires_a_valid_token(server):
    for payload in [{}, {"access_token": "wrong"}, None]:
        ws = await gql_open(server)
        await ws.send({"type": "connection_init", **({"payload": payload} if payload is not None else {})})
        code, frames = await ws.expect_close()
        assert code == 4403 and frames == [], (payload, code, frames)


@run_async
async def test_protocol_violations_close_with_the_protocols_codes(server, admin):
    ws = await gql_open(server)
    await subscribe(ws, "early", "subscription { x }")
    assert (await ws.expect_close())[0] == 4401
    ws = await gql_ready(server)
    await ws.send({"type": "connection_init", "payload": {"access_token": ADMIN_TOKEN}})
    assert (await ws.expect_close())[0] == 4429
    c = notes(admin)
    ws = await gql_ready(server)
    await subscribe(ws, "dup", f"subscription {{ {c}_mutated {{ key }} }}")
    await subscribe(ws, "dup", f"subscription {{ {c}_mutated {{ key }} }}")
    assert (await ws.expect_close())[0] == 4409
    for bad in ['{"type":"next","id":"1","payload":{}}', "not json", '{"type":"subscribe","id":"x"}']:
        ws = await gql_ready(server)
        await ws.send_raw(bad)
        assert (await ws.expect_close())[0] == 4400, bad
    ws = await gql_open(server, subprotocols=["graphql-ws"])
    assert (await ws.expect_close())[0] == 4406


@run_async
async def test_ping_pong(server):
    ws = await gql_open(server)
    await ws.send({"type": "ping"})
    # `recv` skips server pings; a pong is what we want here
    assert await ws.recv_any() == {"type": "pong"}


@run_async
async def test_init_timeout_closes_with_4408(public_server):
    ws = await gql_open(public_server)
    started = time.monotonic()
    code, _ = await ws.expect_close(timeout=5)
    assert code == 4408 and time.monotonic() - started < 4


@run_async
async def test_strict_mode_takes_the_upgrade_token(strict_server):
    admin = strict_server.admin()
    c = notes(admin)
    with pytest.raises(InvalidStatus) as refused:
        await gql_open(strict_server)
    assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus):
        await gql_open(strict_server, "access_token=wrong")
    ws = await gql_open(strict_server, f"access_token={ADMIN_TOKEN}")
    await ws.send({"type": "connection_init"})
    assert await ws.recv() == ACK
    await subscribe(ws, "s", f"subscription {{ {c}_mutated {{ key event }} }}")
    await until_live(ws, "s", admin, c, {"text": "probe"})


@run_async
async def test_public_mode_acts_as_the_public_role(public_server):
    admin = public_server.admin()
    readable, hidden = notes(admin), notes(admin)
    data(admin.post("/permissions", {"policy": public_policy_id(admin), "collection": readable, "action": "read",
                                     "fields": ["id", "text"]}))
    ws = await gql_ready(public_server, token=None)
    await subscribe(ws, "hidden", f"subscription {{ {hidden}_mutated {{ key }} }}")
    [err] = await ws.collect(quiet=0.5)
    assert err["type"] == "error" and err["id"] == "hidden", err
    await subscribe(ws, "pub", f"subscription {{ {readable}_mutated {{ key data {{ text }} }} }}")
    await until_live(ws, "pub", admin, readable, {"text": "probe"})
    k = data(admin.post(f"/items/{readable}", {"text": "open"}))["id"]
    [frame] = await ws.collect(quiet=0.5)
    assert mutated(frame, readable) == {"key": str(k), "data": {"text": "open"}}
    # a token in connection_init acts as its user
    ws2 = await gql_ready(public_server, ADMIN_TOKEN)
    await subscribe(ws2, "admin", f"subscription {{ {hidden}_mutated {{ key }} }}")
    await until_live(ws2, "admin", admin, hidden, {"text": "probe"})


# -- a real client ------------------------------------------------------------------------------


def test_gql_client_runs_a_query_over_the_socket(server, admin):
    """The Python `gql` client's `execute` over graphql-transport-ws: one `next`, then `complete`."""
    from gql import Client, gql
    from gql.transport.websockets import WebsocketsTransport

    c = notes(admin)
    data(admin.post(f"/items/{c}", {"text": "probe"}))

    async def main() -> Any:
        transport = WebsocketsTransport(
            url=f"ws://127.0.0.1:{server.port}/graphql", init_payload={"access_token": ADMIN_TOKEN},
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL], connect_args={"proxy": None})
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            return await session.execute(gql(f"{{ {c}(filter: {{text: {{_eq: \"probe\"}}}}, limit: 1) {{ text }} }}"))

    assert asyncio.run(asyncio.wait_for(main(), 20)) == {c: [{"text": "probe"}]}


@run_async
async def test_connection_limit_refuses_the_upgrade_and_frees_on_close(server_factory):
    limited = server_factory({"WEBSOCKETS_GRAPHQL_CONN_LIMIT": "2"}, name="gql-connlimit")
    first = await gql_ready(limited)
    await gql_ready(limited)
    with pytest.raises(InvalidStatus) as refused:
        await gql_open(limited)
    assert refused.value.response.status_code == 403
    await first.close()
    for _ in range(50):  # the server sees the close a moment later
        try:
            await gql_ready(limited)
            return
        except InvalidStatus:
            await asyncio.sleep(0.05)
    raise AssertionError("a slot was not given back")


def gql_events(url: str, init_payload: dict[str, Any] | None, collection: str, admin: Any) -> list[dict[str, Any]]:
    """With the `gql` client at `url`: subscribe to `collection`, write create/update/delete over REST
    once live, and return the `<collection>_mutated` values seen (probes left out)."""
    from gql import Client, gql
    from gql.transport.websockets import WebsocketsTransport

    async def main() -> list[dict[str, Any]]:
        transport = WebsocketsTransport(url=url, init_payload=init_payload or {},
                                        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
                                        connect_args={"proxy": None})
        got: list[dict[str, Any]] = []
        async with Client(transport=transport, fetch_schema_from_transport=False) as session:
            doc = gql(f"subscription {{ {collection}_mutated {{ key event data {{ text }} }} }}")

            async def consume() -> None:
                async for result in session.subscribe(doc):
                    got.append(result[f"{collection}_mutated"])
                    if result[f"{collection}_mutated"]["event"] == "delete":
                        return

            task = asyncio.create_task(consume())
            for _ in range(50):
                await in_thread(admin.post, f"/items/{collection}", {"text": "probe"})
                await asyncio.sleep(0.2)
                if got:
                    break
            k = data(await in_thread(admin.post, f"/items/{collection}", {"text": "one"}))["id"]
            await in_thread(admin.patch, f"/items/{collection}/{k}", {"text": "two"})
            await in_thread(admin.delete, f"/items/{collection}/{k}")
            await asyncio.wait_for(task, 10)
        return [g for g in got if g["data"] is None or g["data"]["text"] != "probe"]

    return asyncio.run(asyncio.wait_for(main(), 40))


@pytest.mark.parametrize("mode", ["handshake", "strict", "public"])
def test_gql_client_in_each_auth_mode(mode, request):
    srv = request.getfixturevalue({"handshake": "server", "strict": "strict_server", "public": "public_server"}[mode])
    admin = srv.admin()
    c = notes(admin)
    url = f"ws://127.0.0.1:{srv.port}/graphql"
    init: dict[str, Any] | None = {"access_token": ADMIN_TOKEN}
    if mode == "strict":
        url, init = f"{url}?access_token={ADMIN_TOKEN}", None
    elif mode == "public":
        data(admin.post("/permissions", {"policy": public_policy_id(admin), "collection": c, "action": "read",
                                         "fields": ["*"]}))
        init = None
    got = gql_events(url, init, c, admin)
    assert [(g["event"], g["data"]) for g in got] == [
        ("create", {"text": "one"}), ("update", {"text": "two"}), ("delete", None)], (mode, got)
