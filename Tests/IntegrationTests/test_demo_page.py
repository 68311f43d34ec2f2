"""The demo chat page over plain HTTP, and the seed it relies on (no browser: test_demo_browser.py
drives the page itself).

- DEMO_ENABLED unset: `GET /` answers as before (no page, no assets)
- DEMO_ENABLED=true: `GET /` is the page, with this server's realtime settings (path, auth mode,
  heartbeat, PUBLIC_URL) in a JSON block; its script and style come from the binary
- Config/schema.yaml (what scripts/run applies on every start) seeds Directus's "Connect to
  Realtime Data" guide: `messages` (`text`, `date_created`, `user` set from the caller), `presence`
  (`last_seen` set by the server), and a "Public Posts" policy attached to the public once,
  however often it is applied
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from websockets.asyncio.client import connect

from harness import REPO_ROOT, Api, assert_error, data

SCHEMA = str(REPO_ROOT / "Config" / "schema.yaml")


def test_root_is_not_the_page_without_demo_enabled(anon: Api) -> None:
    r = anon.get("/")
    assert r.status_code == 404, r.text[:300]
    assert "demo-settings" not in r.text
    assert anon.get("/demo/chat.js").status_code == 404


def test_root_serves_the_page_with_its_settings_when_demo_enabled(server_factory) -> None:
    srv = server_factory({"DEMO_ENABLED": "true", "WEBSOCKETS_REST_AUTH": "public",
                          "WEBSOCKETS_HEARTBEAT_PERIOD": "7", "PUBLIC_URL": "http://lb.example:8055/"}, name="demo")
    api = srv.api()
    page = api.get("/")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "http://lb.example:8055" in policy
    block = re.search(r'<script type="application/json" id="demo-settings">(.*?)</script>', page.text, re.S)
    assert block, page.text[:500]
    assert json.loads(block.group(1)) == {"realtimePath": "/websocket", "authMode": "public", "heartbeatSeconds": 7,
                                          "publicURL": "http://lb.example:8055/"}
    assert '<script src="/demo/chat.js" defer></script>' in page.text
    script = api.get("/demo/chat.js")
    assert script.status_code == 200 and script.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert '"$NOW(-5 minutes)"' in script.text and "after" in script.text
    style = api.get("/demo/chat.css")
    assert style.status_code == 200 and style.headers["Content-Type"] == "text/css; charset=utf-8"
    # REST is unchanged beside it
    assert api.get("/server/ping").text == "pong"


def test_settings_cannot_end_the_settings_block(server_factory) -> None:
    srv = server_factory({"DEMO_ENABLED": "true", "PUBLIC_URL": "http://x.example/</script><b>"}, name="demo-escape")
    text = srv.api().get("/").text
    assert "</script><b>" not in text
    block = re.search(r'id="demo-settings">(.*?)</script>', text, re.S)
    assert block and json.loads(block.group(1))["publicURL"] == "http://x.example/</script><b>"


def test_seeded_schema_lets_guests_chat_and_is_applied_once(fresh_dir_server) -> None:
    srv = fresh_dir_server
    srv.bootstrap()
    srv.cli("schema", "apply", SCHEMA)
    again = srv.cli("schema", "apply", SCHEMA)
    assert "nothing to apply" in again.stdout, again.stdout
    srv.start()
    admin, guest = srv.admin(), srv.api()

    policies = data(admin.get("/policies", params={"filter[name][_eq]": "Public Posts", "fields": "id"}))
    assert len(policies) == 1
    public_rows = data(admin.get("/access", params={"filter": json.dumps(
        {"_and": [{"policy": {"_eq": policies[0]["id"]}}, {"role": {"_null": True}}, {"user": {"_null": True}}]})}))
    assert len(public_rows) == 1

    # messages: the server sets `user` from the caller (nobody can post as someone else) and `date_created`
    me = data(admin.get("/users/me", params={"fields": "id"}))["id"]
    data(admin.post("/items/messages", {"text": "from the admin", "user": None}))
    data(guest.post("/items/messages", {"text": "from a guest"}))
    assert_error(guest.post("/items/messages", {"text": "forged", "user": me}), 403, "FORBIDDEN")
    # the seeded create rule requires a text (submitted and not null)
    assert_error(guest.post("/items/messages", {"room": None}), 400, "FAILED_VALIDATION")
    assert_error(guest.post("/items/messages", {"text": None}), 400, "FAILED_VALIDATION")
    rows = data(guest.get("/items/messages", params={
        "fields": "id,text,date_created,user.id,user.first_name,user.last_name", "sort": "id"}))
    assert [(r["text"], r["user"]) for r in rows] == [
        ("from the admin", {"id": me, "first_name": "Admin", "last_name": "User"}), ("from a guest", None)]
    assert all(r["date_created"] for r in rows)

    # presence: the server stamps last_seen on create and on every update (the page's heartbeat)
    mine = data(guest.post("/items/presence", {"name": "Guest 1234", "status": "online"}))
    assert mine["user"] is None and mine["last_seen"]
    first_seen = mine["last_seen"]
    time.sleep(1.1)
    beat = data(guest.patch(f"/items/presence/{mine['id']}", {"status": "online"}))
    assert beat["last_seen"] > first_seen
    theirs = data(admin.post("/items/presence", {"name": "Admin User"}))
    assert theirs["user"] == me
    # a guest cannot touch a signed-in user's row
    assert guest.patch(f"/items/presence/{theirs['id']}", {"name": "not you"}).status_code in (403, 404)
    window = json.dumps({"last_seen": {"_gte": "$NOW(-5 minutes)"}})
    names = {r["name"] for r in data(guest.get("/items/presence", params={"filter": window}))}
    assert names == {"Guest 1234", "Admin User"}


def test_live_presence_row_leaves_when_its_now_window_passes(fresh_dir_server) -> None:
    srv = fresh_dir_server
    srv.bootstrap()
    srv.cli("schema", "apply", SCHEMA)
    srv.env["WEBSOCKETS_REST_AUTH"] = "public"
    srv.start()
    row = data(srv.api().post("/items/presence", {"name": "soon gone"}))

    async def scenario() -> list[Any]:
        async with connect(srv.base_url.replace("http://", "ws://", 1) + "/websocket", proxy=None,
                           open_timeout=5) as ws:
            await ws.send(json.dumps({"type": "subscribe", "collection": "presence", "uid": "p", "live": True,
                                      "query": {"fields": ["id"], "filter": {"last_seen": {"_gte": "$NOW(-2 seconds)"}}}}))
            frames = [json.loads(await asyncio.wait_for(ws.recv(), 5))]
            assert frames[0]["event"] == "init" and frames[0]["data"] == [{"id": row["id"]}], frames
            try:
                frames.append(json.loads(await asyncio.wait_for(ws.recv(), 4)))
            except asyncio.TimeoutError:
                pass
            return frames

    frames = asyncio.run(asyncio.wait_for(scenario(), 15))
    assert {"type": "subscription", "event": "delete", "data": [row["id"]], "reason": "left", "uid": "p"} in [
        {k: v for k, v in f.items() if k != "seq"} for f in frames], frames
