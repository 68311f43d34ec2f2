"""The admin view on a single node (SQLite, no Redis): the page over plain HTTP, and the
`switchboard_replicas` virtual collection holding this replica only (no browser here:
test_admin_browser.py drives the page; test_admin_realtime.py covers two replicas).

- `GET /admin/realtime` is the page, with the realtime path and auth mode in a JSON block and a
  strict Content-Security-Policy; its script and style come from the binary
- with the realtime socket off there is no page
- an admin's subscription gets this replica in `init`, then an `update` per interval; `event`
  and `item` narrow it; unsubscribing stops it
"""

from __future__ import annotations

import json
import re

from harness import Api
from wsclient import authed, run_async

INTERVAL_MS = 300


def test_the_page_is_served_with_its_settings(server_factory) -> None:
    srv = server_factory({"WEBSOCKETS_REST_AUTH": "strict", "WEBSOCKETS_REST_PATH": "/rt"}, name="admin-page")
    api = srv.api()
    page = api.get("/admin/realtime")
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    block = re.search(r'<script type="application/json" id="admin-settings">(.*?)</script>', page.text, re.S)
    assert block, page.text[:500]
    assert json.loads(block.group(1)) == {"realtimePath": "/rt", "authMode": "strict"}
    script = api.get("/admin/realtime.js")
    assert script.status_code == 200 and script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert "switchboard_replicas" in script.text
    style = api.get("/admin/realtime.css")
    assert style.status_code == 200 and style.headers["Content-Type"] == "text/css; charset=utf-8"
    assert "http://" not in page.text and "https://" not in page.text  # nothing from elsewhere


def test_no_page_without_the_realtime_socket(server_factory) -> None:
    srv = server_factory({"WEBSOCKETS_ENABLED": "false"}, name="admin-page-off")
    assert srv.api().get("/admin/realtime").status_code == 404


def test_a_single_node_lists_itself_and_updates_every_interval(server_factory) -> None:
    srv = server_factory({"SWITCHBOARD_FLEET_INTERVAL": f"{INTERVAL_MS}ms"}, name="admin-fleet")

    @run_async
    async def scenario() -> None:
        ws = await authed(srv)
        await ws.send({"type": "subscribe", "collection": "switchboard_replicas", "uid": "all"})
        init = await ws.recv()
        assert init["type"] == "subscription" and init["event"] == "init" and init["uid"] == "all", init
        # the first snapshot may be taken before the subscribe: an update with it follows at once
        update, _ = await ws.recv_until(lambda f: f.get("event") == "update" and f.get("uid") == "all", 3)
        (row,) = update["data"]
        assert "seq" not in update
        assert row["connections"]["user"] == 1 and row["connections_total"] == 1, row
        assert row["subscriptions"] == {"switchboard_replicas": 1}, row
        me = row["id"]

        # `item` gets the bare row; `event: delete` gets an `init` without data and nothing while all live
        await ws.send({"type": "subscribe", "collection": "switchboard_replicas", "uid": "one", "item": me})
        one, _ = await ws.recv_until(lambda f: f.get("uid") == "one", 3)
        assert one["event"] == "init" and one["data"]["id"] == me, one
        await ws.send({"type": "subscribe", "collection": "switchboard_replicas", "uid": "gone", "event": "delete"})
        gone, _ = await ws.recv_until(lambda f: f.get("uid") == "gone", 3)
        assert gone["event"] == "init" and "data" not in gone, gone
        single, _ = await ws.recv_until(
            lambda f: f.get("uid") == "one" and f.get("event") == "update"
            and f["data"]["subscriptions"]["switchboard_replicas"] == 3, 3)
        assert single["data"]["id"] == me, single

        await ws.send({"type": "unsubscribe"})
        await ws.recv_until(lambda f: f.get("event") == "unsubscribe", 3)
        quiet = await ws.collect(quiet=3 * INTERVAL_MS / 1000, max_total=2)
        assert not [f for f in quiet if f.get("type") == "subscription"], quiet

    scenario()


def test_rest_does_not_offer_the_virtual_collection_and_its_name_is_reserved(admin: Api) -> None:
    assert admin.get("/items/switchboard_replicas").status_code in (403, 404)
    r = admin.post("/collections", {"collection": "switchboard_replicas", "schema": {}, "fields": []})
    assert r.status_code == 400 and "reserved" in r.text, r.text[:300]
