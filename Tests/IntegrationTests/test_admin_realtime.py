"""The admin view's data over the realtime socket: the `switchboard_replicas` virtual collection,
fed by every replica's stats snapshot over Redis (SWITCHBOARD_FLEET_INTERVAL), on two replicas
sharing PostgreSQL + redis-server (clusterkit.py).

- an admin subscribed at replica 1 gets both replicas (`init`, then `create` / `update`)
- a subscription and writes made at replica 2 show in replica 2's row as seen from replica 1
- a non-admin (and a guest in public mode) gets FORBIDDEN, and the socket stays usable
- the collection is not exposed over REST
- a replica that stops is deleted from the view within a few intervals
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from clusterkit import Client, Cluster, run, running_cluster, visible_everywhere, ws_url_of
from harness import ADMIN_TOKEN, create_collection, create_user_with_policy, uniq

pytestmark = pytest.mark.cluster

INTERVAL_S = 0.5
COLLECTION = "switchboard_replicas"


@pytest.fixture(scope="module")
def fleet() -> Iterator[Cluster]:
    yield from running_cluster("admin realtime", {
        "SWITCHBOARD_FLEET_INTERVAL": f"{int(INTERVAL_S * 1000)}ms",
        "WEBSOCKETS_REST_AUTH": "public",
        "SHUTDOWN_DRAIN_WINDOW": "1s",
    }, replicas=2)


class FleetWatcher:
    """The replicas as an admin subscriber sees them: `init` rows, then every change applied."""

    def __init__(self, client: Client, uid: str) -> None:
        self.client = client
        self.uid = uid

    def rows(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for f in self.client.frames:
            if f.get("type") != "subscription" or f.get("uid") != self.uid:
                continue
            if f["event"] == "init":
                out = {row["id"]: row for row in f["data"]}
            elif f["event"] in ("create", "update"):
                assert "seq" not in f, f
                out.update({row["id"]: row for row in f["data"]})
            elif f["event"] == "delete":
                for key in f["data"]:
                    out.pop(key, None)
        return out

    async def until(self, pred: Any, timeout: float, what: str) -> dict[str, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.rows()
            if pred(rows):
                return rows
            try:
                await self.client.wait_for(lambda f: f.get("uid") == self.uid, 0.5, len(self.client.frames))
            except AssertionError:
                pass
        raise AssertionError(f"{what}: not within {timeout}s; rows: {self.rows()!r}")


async def admin_watcher(url: str, uid: str = "fleet") -> FleetWatcher:
    c = await Client.open(ws_url_of(url), "admin")
    await c.auth(ADMIN_TOKEN)
    init = await c.subscribe(COLLECTION, uid)
    assert isinstance(init["data"], list)
    return FleetWatcher(c, uid)


def both_replicas(rows: dict[str, dict[str, Any]]) -> bool:
    """Both replicas are listed, and the watcher's own subscription shows (in its replica's row)."""
    return len(rows) == 2 and any(r["subscriptions"].get(COLLECTION) == 1 for r in rows.values())


def test_an_admin_sees_every_replica_and_their_numbers_move(fleet: Cluster) -> None:
    cl = fleet
    name = uniq("adm")
    create_collection(cl.admin(0), name, [{"field": "text", "type": "string"}])
    visible_everywhere(cl, name, 5)

    async def scenario() -> None:
        watcher = await admin_watcher(cl.replicas[0].base_url)
        rows = await watcher.until(both_replicas, 10 * INTERVAL_S + 5, "both replicas")
        mine = [r for r in rows.values() if r["subscriptions"].get(COLLECTION) == 1]
        assert len(mine) == 1, rows  # the watcher's own subscription, on replica 1 only
        replica1 = mine[0]["id"]
        replica2 = next(k for k in rows if k != replica1)
        for row in rows.values():
            assert set(row["connections"]) == {"pending", "user", "public", "expired"}, row
            assert row["started_at"].endswith("Z") and row["updated_at"].endswith("Z"), row
        before = rows[replica2]

        # a subscriber and writes at replica 2
        sub = await Client.open(ws_url_of(cl.replicas[1].base_url), "sub")
        await sub.auth(ADMIN_TOKEN)
        await sub.subscribe(name, "rows")
        for i in range(5):
            await sub.request({"type": "items", "collection": name, "action": "create", "data": {"text": f"t{i}"}})
        await sub.wait_events("rows", 5, 5)
        rows = await watcher.until(
            lambda r: replica2 in r and r[replica2]["subscriptions"].get(name) == 1
            and r[replica2]["events_received"] >= before["events_received"] + 5
            and r[replica2]["events_delivered"] >= before["events_delivered"] + 5,
            10 * INTERVAL_S + 5, "replica 2's subscription and events")
        assert rows[replica2]["connections"]["user"] >= 1
        assert rows[replica2]["connections_total"] >= before["connections_total"] + 1

        await sub.close()
        await watcher.until(
            lambda r: r[replica2]["subscriptions"].get(name, 0) == 0, 10 * INTERVAL_S + 5, "the subscription gone")

        # at most one update per replica per interval (4 intervals, with one of slack for timing)
        start = len(watcher.client.frames)
        await asyncio.sleep(4 * INTERVAL_S)
        per_replica: dict[str, int] = {}
        for f in watcher.client.frames[start:]:
            if f.get("uid") == watcher.uid and f["event"] == "update":
                for row in f["data"]:
                    per_replica[row["id"]] = per_replica.get(row["id"], 0) + 1
        assert set(per_replica) == {replica1, replica2} and max(per_replica.values()) <= 5, per_replica
        await watcher.client.close()

    run(scenario(), 60)


def test_non_admins_are_refused_and_keep_their_socket(fleet: Cluster) -> None:
    cl = fleet
    _, user_api = create_user_with_policy(cl.admin(0))

    async def scenario() -> None:
        user = await Client.open(ws_url_of(cl.replicas[1].base_url), "user")
        await user.auth(user_api.token)
        reply = await user.request({"type": "subscribe", "collection": COLLECTION})
        assert reply["type"] == "subscribe" and reply["status"] == "error", reply
        assert reply["error"]["code"] == "FORBIDDEN", reply
        start = len(user.frames)
        await user.send({"type": "ping", "uid": "still-here"})
        await user.wait_for(lambda f: f == {"type": "pong", "uid": "still-here"}, 5, start)
        await user.close()

        guest = await Client.open(ws_url_of(cl.replicas[0].base_url), "guest")
        reply = await guest.request({"type": "subscribe", "collection": COLLECTION, "uid": 7})
        assert reply["error"]["code"] == "FORBIDDEN" and reply["uid"] == 7, reply
        await guest.close()

    run(scenario(), 30)


def test_the_virtual_collection_is_not_exposed_over_rest(fleet: Cluster) -> None:
    admin = fleet.admin(0)
    for path in (f"/items/{COLLECTION}", f"/collections/{COLLECTION}"):
        r = admin.get(path)
        assert r.status_code in (403, 404), (path, r.status_code, r.text[:300])
    r = admin.post(f"/items/{COLLECTION}", {"id": "x"})
    assert 400 <= r.status_code < 500, r.text[:300]


def test_a_stopped_replica_leaves_the_view(fleet: Cluster) -> None:
    cl = fleet

    async def scenario() -> None:
        watcher = await admin_watcher(cl.replicas[0].base_url)
        rows = await watcher.until(both_replicas, 10 * INTERVAL_S + 5, "both replicas")
        mine = next(k for k, r in rows.items() if r["subscriptions"].get(COLLECTION) == 1)
        other = next(k for k in rows if k != mine)
        cl.replicas[1].stop()
        await watcher.until(lambda r: list(r) == [mine], 3 * INTERVAL_S + 10, "replica 2 deleted")
        deletes = [f for f in watcher.client.frames if f.get("uid") == watcher.uid and f["event"] == "delete"]
        assert [f["data"] for f in deletes] == [[other]], deletes
        await watcher.client.close()

    run(scenario(), 60)
