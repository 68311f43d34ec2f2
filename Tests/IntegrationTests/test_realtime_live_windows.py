"""[extension] `live` and `$NOW(…)` windows (PROTOCOL.md "query on subscriptions"): a row that a
window passes by produces `delete` with `reason: "left"` for `live` subscribers without any write,
within a second of the moment the filter stops matching it; subscribers without `live` get nothing;
a row bumped before its window ends stays; every subscriber of one query class gets it once;
a subscription moved by a permission change keeps its rows' exits; rows beyond
WEBSOCKETS_LIVE_WINDOW_KEYS_MAX leave on update only (logged once). (Two replicas each telling
their own subscribers: test_cluster.py.)
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from harness import create_collection, create_user_with_policy, data, uniq
from wsclient import authed, in_thread, run_async

WINDOW_S = 2
FILTER = {"seen": {"_gte": f"$NOW(-{WINDOW_S} seconds)"}}


def stamp(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def presence_collection(admin: Any) -> str:
    name = uniq("pres")
    create_collection(admin, name, [{"field": "name", "type": "string"}, {"field": "seen", "type": "timestamp"}])
    return name


def is_left(frame: Any, uid: str) -> bool:
    return frame.get("event") == "delete" and frame.get("reason") == "left" and frame.get("uid") == uid


async def frames_for(ws: Any, seconds: float) -> list[Any]:
    """Every non-ping frame within `seconds`."""
    out: list[Any] = []
    deadline = time.monotonic() + seconds
    for _ in range(10_000):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            out.append(await ws.recv(left))
        except AssertionError:
            break
    return out


@run_async
async def test_live_subscriber_gets_left_within_a_second_and_a_plain_one_nothing(server, admin):
    name = presence_collection(admin)
    seen = time.time()
    row = data(admin.post(f"/items/{name}", {"name": "a", "seen": stamp(seen)}))
    live, plain = await authed(server), await authed(server)
    query = {"fields": ["id", "name"], "filter": FILTER}
    init = await live.subscribe(name, uid="l", live=True, query=query)
    assert init["event"] == "init" and init["data"] == [{"id": row["id"], "name": "a"}], init
    init = await plain.subscribe(name, uid="p", query=query)
    assert init["data"] == [{"id": row["id"], "name": "a"}], init
    frame, skipped = await live.recv_until(lambda f: is_left(f, "l"), WINDOW_S + 3)
    took = time.time() - (seen + WINDOW_S)
    assert frame == {"type": "subscription", "event": "delete", "data": [row["id"]], "reason": "left", "uid": "l"}
    assert skipped == [] and -0.05 < took < 1.0, (took, skipped)
    # REST agrees, and nothing more comes; the plain subscriber got nothing at all.
    assert data(admin.get(f"/items/{name}", params={"filter": json.dumps(FILTER)})) == []
    assert await frames_for(live, 1.0) == []
    assert await frames_for(plain, 0.5) == []


@run_async
async def test_row_bumped_before_its_window_ends_stays_until_its_new_exit(server, admin):
    name = presence_collection(admin)
    t0 = time.time()
    row = data(admin.post(f"/items/{name}", {"name": "a", "seen": stamp(t0)}))
    ws = await authed(server)
    await ws.subscribe(name, uid="l", live=True, query={"fields": ["id", "seen"], "filter": FILTER})
    await asyncio.sleep(1.2)
    bumped = time.time()
    await in_thread(admin.patch, f"/items/{name}/{row['id']}", {"seen": stamp(bumped)})
    update = await ws.recv()
    assert update["event"] == "update" and update["data"][0]["id"] == row["id"], update
    # The old exit (t0 + 2 s) passes with nothing; the new one (bumped + 2 s) brings the left.
    frame, skipped = await ws.recv_until(lambda f: is_left(f, "l"), WINDOW_S + 3)
    assert skipped == [], skipped
    assert time.time() >= bumped + WINDOW_S - 0.05, "left before the bumped row's window ended"
    assert frame["data"] == [row["id"]]


@run_async
async def test_every_subscriber_of_a_class_gets_the_left_once(server, admin):
    name = presence_collection(admin)
    now = time.time()
    a = data(admin.post(f"/items/{name}", {"name": "a", "seen": stamp(now)}))
    b = data(admin.post(f"/items/{name}", {"name": "b", "seen": stamp(now + 0.5)}))
    sockets = [await authed(server) for _ in range(3)]
    query = {"fields": ["id"], "filter": FILTER}
    for ws in sockets:
        await ws.subscribe(name, uid="1", live=True, query=query)
    await sockets[0].subscribe(name, uid="2", live=True, query=query)
    got = await asyncio.gather(*(frames_for(ws, WINDOW_S + 2) for ws in sockets))
    for i, frames in enumerate(got):
        lefts = [f for f in frames if f.get("reason") == "left"]
        pairs = sorted((f["uid"], k) for f in lefts for k in f["data"])
        assert pairs == sorted((u, k) for u in (["1", "2"] if i == 0 else ["1"]) for k in (a["id"], b["id"])), (i, frames)
        assert all("seq" not in f for f in lefts), lefts


@run_async
async def test_rows_shown_by_events_are_timed_and_an_update_left_is_not_repeated(server, admin):
    name = presence_collection(admin)
    ws = await authed(server)
    init = await ws.subscribe(name, uid="l", live=True, query={"fields": ["id", "name"], "filter": FILTER})
    assert init["data"] == [], init
    created = data(admin.post(f"/items/{name}", {"name": "new", "seen": stamp(time.time())}))
    moved = data(admin.post(f"/items/{name}", {"name": "moved", "seen": stamp(time.time())}))
    frames = [await ws.recv(), await ws.recv()]
    assert [f["event"] for f in frames] == ["create", "create"], frames
    # Moved out of the window by a write: the update path's left, with a seq; no timed one after it.
    await in_thread(admin.patch, f"/items/{name}/{moved['id']}", {"seen": stamp(time.time() - 60)})
    left = await ws.recv()
    assert is_left(left, "l") and left["data"] == [moved["id"]] and isinstance(left.get("seq"), int), left
    later = await frames_for(ws, WINDOW_S + 1.5)
    assert [f["data"] for f in later if is_left(f, "l")] == [[created["id"]]], later


@run_async
async def test_item_subscription_gets_the_bare_key(server, admin):
    name = presence_collection(admin)
    row = data(admin.post(f"/items/{name}", {"name": "a", "seen": stamp(time.time())}))
    ws = await authed(server)
    await ws.subscribe(name, uid="i", live=True, item=row["id"], query={"fields": ["name"], "filter": FILTER})
    frame, _ = await ws.recv_until(lambda f: is_left(f, "i"), WINDOW_S + 3)
    assert frame["data"] == row["id"], frame


@run_async
async def test_windows_under_or_are_not_timed(server, admin):
    name = presence_collection(admin)
    data(admin.post(f"/items/{name}", {"name": "a", "seen": stamp(time.time())}))
    ws = await authed(server)
    either = {"_or": [FILTER, {"name": {"_eq": "nobody"}}]}
    init = await ws.subscribe(name, uid="o", live=True, query={"fields": ["id"], "filter": either})
    assert len(init["data"]) == 1, init
    assert await frames_for(ws, WINDOW_S + 1.5) == []


@run_async
async def test_a_subscription_moved_by_a_permission_change_still_gets_the_left(server, admin):
    name = presence_collection(admin)
    info, user = create_user_with_policy(admin, permissions=[
        {"collection": name, "action": "read", "fields": ["id", "seen"]}])
    seen = time.time() + 1.5  # room for the permission change before the exit
    row = data(admin.post(f"/items/{name}", {"name": "a", "seen": stamp(seen)}))
    ws = await authed(server, user.token)
    init = await ws.subscribe(name, uid="l", live=True, query={"fields": ["id"], "filter": FILTER})
    assert init["data"] == [{"id": row["id"]}], init
    # Another field becomes readable: the subscription moves to the class of its new permissions.
    perms = data(admin.get("/permissions", params={"filter": json.dumps(
        {"policy": {"_eq": info["policy"]}, "collection": {"_eq": name}}), "fields": "id"}))
    await in_thread(admin.patch, f"/permissions/{perms[0]['id']}", {"fields": ["id", "seen", "name"]})
    frame, _ = await ws.recv_until(lambda f: is_left(f, "l"), WINDOW_S + 4)
    assert frame["data"] == [row["id"]] and time.time() >= seen + WINDOW_S - 0.05, frame


def test_rows_beyond_the_limit_leave_on_update_only_and_it_is_logged_once(server_factory):
    srv = server_factory({"WEBSOCKETS_LIVE_WINDOW_KEYS_MAX": "1"}, name="window-limit")
    admin = srv.admin()
    name = presence_collection(admin)
    now = time.time()
    rows = [data(admin.post(f"/items/{name}", {"name": n, "seen": stamp(now)})) for n in ("a", "b", "c")]

    async def scenario() -> list[Any]:
        ws = await authed(srv)
        init = await ws.subscribe(name, uid="l", live=True, query={"fields": ["id"], "filter": FILTER})
        assert len(init["data"]) == 3, init
        return await frames_for(ws, WINDOW_S + 1.5)

    frames = asyncio.run(asyncio.wait_for(scenario(), 20))
    lefts = [f["data"] for f in frames if is_left(f, "l")]
    assert lefts == [[rows[0]["id"]]], frames
    log = srv.log_path.read_text(encoding="utf-8", errors="replace")
    assert log.count("holds more rows than WEBSOCKETS_LIVE_WINDOW_KEYS_MAX") == 1, srv.log_tail()
