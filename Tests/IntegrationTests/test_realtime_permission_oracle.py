"""A permission oracle over the socket: for random users, policies, subscriptions and writes,
every event a subscriber receives equals what a REST read by the same user returns for those
keys right after the write (with the subscription's own filter and fields): no row and no
field more, none less. Deletes reveal exactly the keys the user could read just before.
Renaming a category (a related row) sends the subscriptions whose fields, filter or read
permission reach it through `category` an `update` without `seq` equal to the REST read of the
rows pointing at it, and nothing to the others.

Users with two read policies on the collection get Directus 11's per-policy cases (a field
only on the rows a policy granting it admits, null elsewhere), in events as in REST.

Seeded: the default seeds run in CI (about 35 s); a longer run:
    PERMISSION_ORACLE_SEEDS=1-40 PERMISSION_ORACLE_OPS=60 python3 -m pytest -q test_realtime_permission_oracle.py
A failure names the seed, the policies, the subscription and the write.
"""

from __future__ import annotations

import asyncio
import json
import os
import random

import pytest

from harness import Api, create_collection, create_field, create_user_with_policy, data, public_policy_id, uniq
from wsclient import authed, in_thread, open_ws, run_async


def seeds() -> list[int]:
    text = os.environ.get("PERMISSION_ORACLE_SEEDS", "1,2")
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            out.extend(range(int(lo), int(hi) + 1))
        elif part.strip():
            out.append(int(part))
    return out


OPS = int(os.environ.get("PERMISSION_ORACLE_OPS", "24"))

# Row filters a read permission may have; "$CURRENT_USER" and a relational one included.
PERMISSION_FILTERS = [
    None,
    {"status": {"_eq": "published"}},
    {"n": {"_gt": 5}},
    {"user_created": {"_eq": "$CURRENT_USER"}},
    {"category": {"name": {"_eq": "red"}}},
    {"_or": [{"status": {"_eq": "draft"}}, {"n": {"_lte": 2}}]},
    {"text": {"_icontains": "a"}},
    {"_and": [{"status": {"_neq": "archived"}}, {"n": {"_nnull": True}}]},
]
READABLE = ["text", "status", "n", "secret", "user_created", "category"]

# What subscribers ask for.
QUERIES = [
    None,
    {"fields": ["id", "text"]},
    {"filter": {"status": {"_neq": "archived"}}},
    {"fields": ["*"], "filter": {"n": {"_between": [2, 8]}}},
    {"fields": ["id", "status", "category.name"]},
    {"fields": ["id", "n"], "filter": {"category": {"name": {"_in": ["red", "blue"]}}}},
    # A field one policy grants under its filter and another not: filtered by its stored value.
    {"fields": ["id", "secret", "text"], "filter": {"secret": {"_nnull": True}}},
    {"fields": ["id", "secret", "n"]},
]

TEXTS = ["apple", "berry", "cherry", "date", "Banana", "kiwi", ""]
STATUSES = ["published", "draft", "archived", None]


def random_permission(rng: random.Random, name: str) -> dict:
    # Always `id`: frames and REST rows are matched by key (a key only some policies grant
    # reads as null on the other rows, as any such field).
    fields = ["id"] + sorted(rng.sample(READABLE, rng.randint(1, len(READABLE))))
    perm = {"collection": name, "action": "read", "fields": fields}
    flt = rng.choice(PERMISSION_FILTERS)
    if flt is not None:
        perm["permissions"] = flt
    return perm


def random_row(rng: random.Random, categories: list[int]) -> dict:
    row = {"text": rng.choice(TEXTS), "status": rng.choice(STATUSES), "secret": rng.choice(["s1", "s2", None])}
    row["n"] = rng.choice([None, 0, 1, 2, 3, 5, 6, 8, 10])
    row["category"] = rng.choice(categories + [None])
    return row


def rest_params(query, flt=None):
    """A REST read's parameters for a subscription's query (and an extra filter)."""
    if query and query.get("filter"):
        flt = {"_and": [flt, query["filter"]]} if flt else query["filter"]
    params = {"limit": "-1"}
    if flt:
        params["filter"] = json.dumps(flt)
    if query and query.get("fields"):
        params["fields"] = ",".join(query["fields"])
    return params


def rest_rows(api, name, keys, query):
    """What a REST read by `api` returns for these keys under the subscription's query."""
    params = {**rest_params(query, {"id": {"_in": keys}}), "sort": "id"}
    r = api.get(f"/items/{name}", params=params)
    if r.status_code == 403:
        return []
    assert r.status_code == 200, r.text
    return r.json()["data"]


@pytest.fixture(scope="module")
def oracle_server(server_factory):
    return server_factory({"WEBSOCKETS_REST_AUTH": "public"}, name="ws-oracle")


@pytest.mark.parametrize("seed", seeds())
@run_async
async def test_events_equal_rest_reads_for_random_policies(oracle_server, seed):
    rng = random.Random(seed)
    admin = oracle_server.admin()
    cats, name = uniq("ocats"), uniq("orows")
    create_collection(admin, cats, [{"field": "name", "type": "string"}])
    create_collection(admin, name, [
        {"field": "text", "type": "text"}, {"field": "status", "type": "string"}, {"field": "n", "type": "integer"},
        {"field": "secret", "type": "string"},
        {"field": "user_created", "type": "uuid", "meta": {"special": ["user-created"]}},
    ])
    create_field(admin, name, "category", "integer", meta={"special": ["m2o"]})
    data(admin.post("/relations", {"collection": name, "field": "category", "related_collection": cats}))
    categories = [data(admin.post(f"/items/{cats}", {"name": c}))["id"] for c in ["red", "blue", "green"]]

    # Users: one or two policies each, all may create. A second read policy on the same collection
    # (other fields, other filter) makes per-policy cases: its fields only on rows its filter admits.
    users: dict[str, object] = {}
    described: dict[str, list] = {}
    for i in range(4):
        perms = [random_permission(rng, name), {"collection": name, "action": "create", "fields": ["*"]}]
        cat_read = {"collection": cats, "action": "read", "fields": ["*"]}
        if rng.random() < 0.8:
            perms.append(cat_read)
        info, api = create_user_with_policy(admin, permissions=perms)
        described[f"user{i}"] = [p for p in perms if p["action"] == "read"]
        if rng.random() < 0.6:
            second = data(admin.post("/policies", {"name": uniq("p2"), "admin_access": False, "app_access": True}))["id"]
            extra = random_permission(rng, name)
            data(admin.post("/permissions", {"policy": second, **extra}))
            data(admin.post("/access", {"user": info["user"], "policy": second}))
            described[f"user{i}"].append(extra)
            api = Api(admin.base_url).login(info["email"], info["password"])  # a fresh token sees both
        users[f"user{i}"] = api
    public = random_permission(rng, name)
    data(admin.post("/permissions", {"policy": public_policy_id(admin), **public}))
    described["public"] = [public]
    users["public"] = oracle_server.api()
    users["admin"] = admin
    described["admin"] = ["admin"]

    for _ in range(6):  # rows before anyone subscribes
        data(admin.post(f"/items/{name}", random_row(rng, categories)))

    # Sockets: each user subscribes with one or two random queries.
    sockets = {}
    subs: dict[tuple[str, str], dict | None] = {}
    for who, api in users.items():
        ws = await (open_ws(oracle_server) if who == "public" else authed(oracle_server, api.token))
        sockets[who] = ws
        for j in range(rng.randint(1, 2)):
            query = rng.choice(QUERIES)
            uid = f"{who}-{j}"
            msg = {"uid": uid} if query is None else {"uid": uid, "query": query}
            init = await ws.subscribe(name, **msg)
            if init.get("status") == "error":
                # Refused as REST refuses the same read (a field the user may not read).
                r = await in_thread(users[who].get, f"/items/{name}", params=rest_params(query))
                assert r.status_code == 403 and init["error"]["code"] == "FORBIDDEN", f"seed {seed} {uid}: {init!r} vs {r.text}"
                continue
            assert init["type"] == "subscription" and init["event"] == "init", f"seed {seed} {uid}: {init!r}"
            rest = await in_thread(users[who].get, f"/items/{name}", params={**rest_params(query), "sort": "id"})
            assert sorted(init["data"], key=lambda r: r["id"]) == data(rest), f"seed {seed} {uid}: init != REST"
            subs[(who, uid)] = query

    def context(op) -> str:
        return f"seed {seed}, op {op}\npolicies: {json.dumps(described)}"

    async def collect() -> dict[str, list]:
        got = await asyncio.gather(*(ws.collect(quiet=0.5) for ws in sockets.values()))
        return dict(zip(sockets, got))

    def reaches_categories(who, query) -> bool:
        """Whether the subscription's fields, filter or effective read filter go through `category`
        (policies' filters are ORed: one without a filter leaves none)."""
        if "category" in json.dumps((query or {}).get("filter")) or "category.name" in (query or {}).get("fields", []):
            return True
        perms = [p for p in described[who] if isinstance(p, dict) and p["collection"] == name]
        return bool(perms) and all("permissions" in p for p in perms) and any(
            "category" in json.dumps(p["permissions"]) for p in perms)

    async def check(op, action, keys, expected_before=None):
        got = await collect()
        for (who, uid), query in subs.items():
            frames = [f for f in got[who] if f.get("uid") == uid]
            if action == "delete":
                expected = expected_before[(who, uid)]
            elif action == "related":
                reached = reaches_categories(who, query)
                expected = await in_thread(rest_rows, users[who], name, keys, query) if reached else []
            else:
                expected = await in_thread(rest_rows, users[who], name, keys, query)
            where = f"{context(op)}\nsubscriber {uid} query {json.dumps(query)}"
            if not expected:
                assert frames == [], f"{where}\nkeys {keys}\nmust receive nothing, got {frames!r}"
                continue
            assert len(frames) == 1, f"{where}\nexpected one {action} frame, got {frames!r}"
            frame = frames[0]
            if action == "related":
                assert "seq" not in frame, f"{where}\na related change has no seq here: {frame!r}"
            event_name = "update" if action == "related" else action
            assert frame["type"] == "subscription" and frame["event"] == event_name, f"{where}\n{frame!r}"
            if action == "delete":
                assert sorted(frame["data"]) == sorted(r["id"] for r in expected), f"{where}\n{frame!r} vs {expected!r}"
            else:
                rows = sorted(frame["data"], key=lambda r: r["id"])
                assert rows == expected, f"{where}\n{action} data {rows!r}\n!= REST {expected!r}"

    for op_index in range(OPS):
        existing = [r["id"] for r in data(admin.get(f"/items/{name}", params={"fields": "id", "limit": "-1"}))]
        roll = rng.random()
        if roll < 0.4 or len(existing) < 3:
            actor = rng.choice([k for k in users if k not in ("public",)])
            row = random_row(rng, categories)
            op = f"create by {actor}: {json.dumps(row)}"
            r = await in_thread(users[actor].post, f"/items/{name}", row)
            if r.status_code == 204:  # created, but not readable by its creator (as Directus answers)
                newest = data(admin.get(f"/items/{name}", params={"fields": "id", "sort": "-id", "limit": "1"}))
                key = newest[0]["id"]
            else:
                key = data(r)["id"]
            await check(op, "create", [key])
        elif roll < 0.65:
            keys = rng.sample(existing, rng.randint(1, min(3, len(existing))))
            change = {k: v for k, v in random_row(rng, categories).items() if rng.random() < 0.5} or {"n": 7}
            op = f"update {keys}: {json.dumps(change)}"
            r = await in_thread(admin.patch, f"/items/{name}", {"keys": keys, "data": change})
            assert r.status_code in (200, 204), r.text
            await check(op, "update", keys)
        elif roll < 0.85:
            category = rng.choice(categories)
            new_name = rng.choice(["red", "blue", "green", "teal"])
            op = f"rename category {category} to {new_name}"
            pointing = [r["id"] for r in data(admin.get(f"/items/{name}", params={
                "fields": "id", "limit": "-1", "filter": json.dumps({"category": {"_eq": category}})}))]
            r = await in_thread(admin.patch, f"/items/{cats}/{category}", {"name": new_name})
            assert r.status_code in (200, 204), r.text
            await check(op, "related", pointing)
        else:
            keys = rng.sample(existing, rng.randint(1, min(2, len(existing))))
            before = {}
            for (who, uid), query in subs.items():
                before[(who, uid)] = await in_thread(rest_rows, users[who], name, keys, query)
            op = f"delete {keys}"
            r = await in_thread(admin.delete, f"/items/{name}", keys)
            assert r.status_code in (200, 204), r.text
            await check(op, "delete", keys, expected_before=before)


@run_async
async def test_a_delete_reveals_a_key_through_an_m2o_permission_only_to_readers(oracle_server):
    """The oracle's first find: a read permission `category.name _eq "red"` must decide which
    deleted keys a subscriber learns, though the row is gone (the category is not)."""
    admin = oracle_server.admin()
    cats, name = uniq("dcats"), uniq("drows")
    create_collection(admin, cats, [{"field": "name", "type": "string"}])
    create_collection(admin, name, [{"field": "text", "type": "text"}])
    create_field(admin, name, "category", "integer", meta={"special": ["m2o"]})
    data(admin.post("/relations", {"collection": name, "field": "category", "related_collection": cats}))
    red, blue = (data(admin.post(f"/items/{cats}", {"name": c}))["id"] for c in ("red", "blue"))
    _, reader = create_user_with_policy(admin, permissions=[
        {"collection": name, "action": "read", "fields": ["*"], "permissions": {"category": {"name": {"_eq": "red"}}}},
        {"collection": cats, "action": "read", "fields": ["*"]},
    ])
    on_red = data(admin.post(f"/items/{name}", {"text": "r", "category": red}))
    on_blue = data(admin.post(f"/items/{name}", {"text": "b", "category": blue}))
    ws = await authed(oracle_server, reader.token)
    init = await ws.subscribe(name, uid="d")
    assert [r["id"] for r in init["data"]] == [on_red["id"]], init
    await in_thread(admin.delete, f"/items/{name}/{on_blue['id']}")
    await ws.expect_silence()
    await in_thread(admin.delete, f"/items/{name}/{on_red['id']}")
    frame = await ws.recv()
    assert frame["event"] == "delete" and frame["data"] == [on_red["id"]], frame
