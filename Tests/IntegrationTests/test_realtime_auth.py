"""Realtime endpoint: connection and authentication (PROTOCOL.md "Endpoint and settings", "Authentication").

Directus sources: api/src/websocket/controllers/base.ts (auth modes, handshake timeout, connection
limit), api/src/websocket/authenticate.ts, api/src/websocket/messages.ts (auth frames),
sdk/src/realtime (handshake on open).
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from harness import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    ADMIN_TOKEN,
    create_collection,
    create_user_with_policy,
    data,
    public_policy_id,
    uniq,
)
from wsclient import assert_error_frame, authed, in_thread, open_ws, run_async, upgrade_status

HANDSHAKE_FAILED = {"type": "auth", "status": "error",
                    "error": {"code": "AUTH_FAILED", "message": "Authentication handshake failed."}}
AUTH_FAILED = {"type": "auth", "status": "error", "error": {"code": "AUTH_FAILED", "message": "Authentication failed."}}
TOKEN_EXPIRED = {"type": "auth", "status": "error", "error": {"code": "TOKEN_EXPIRED", "message": "Token expired."}}
AUTH_TIMEOUT = {"type": "auth", "status": "error", "error": {"code": "AUTH_TIMEOUT", "message": "Authentication timed out."}}


@pytest.fixture(scope="module")
def hs_server(server_factory):
    return server_factory({"WEBSOCKETS_REST_AUTH": "handshake", "WEBSOCKETS_REST_AUTH_TIMEOUT": "2"}, name="ws-handshake")


@pytest.fixture(scope="module")
def strict_server(server_factory):
    return server_factory({"WEBSOCKETS_REST_AUTH": "strict", "WEBSOCKETS_REST_AUTH_TIMEOUT": "2"}, name="ws-strict")


@pytest.fixture(scope="module")
def public_server(server_factory):
    return server_factory({"WEBSOCKETS_REST_AUTH": "public", "WEBSOCKETS_REST_AUTH_TIMEOUT": "2"}, name="ws-public")


@pytest.fixture(scope="module")
def expiry_server(server_factory):
    return server_factory({"WEBSOCKETS_REST_AUTH": "handshake", "WEBSOCKETS_REST_AUTH_TIMEOUT": "2",
                           "ACCESS_TOKEN_TTL": "2s"}, name="ws-expiry")


@pytest.fixture(scope="module")
def limited_server(server_factory):
    return server_factory({"WEBSOCKETS_REST_CONN_LIMIT": "2"}, name="ws-connlimit")


@pytest.fixture(scope="module")
def rate_server(server_factory):
    return server_factory({"RATE_LIMITER_ENABLED": "true", "RATE_LIMITER_POINTS": "5", "RATE_LIMITER_DURATION": "1",
                           "CORS_ORIGIN": "http://allowed.example"}, name="ws-ratelimit")


def text_collection(admin):
    name = uniq("rt")
    create_collection(admin, name, [{"field": "text", "type": "text"}, {"field": "secret", "type": "string"}])
    return name


async def assert_alive(ws, uid="alive"):
    await ws.send({"type": "ping", "uid": uid})
    assert await ws.recv() == {"type": "pong", "uid": uid}


# -- handshake mode ------------------------------------------------------------------------


@run_async
async def test_handshake_static_token_ok_exact(hs_server):
    ws = await open_ws(hs_server)
    await ws.send({"type": "auth", "access_token": ADMIN_TOKEN})
    assert await ws.recv() == {"type": "auth", "status": "ok"}
    await assert_alive(ws)
    await ws.close()


@run_async
async def test_handshake_uid_is_echoed(hs_server):
    ws = await open_ws(hs_server)
    await ws.send({"type": "auth", "access_token": ADMIN_TOKEN, "uid": "auth-1"})
    assert await ws.recv() == {"type": "auth", "status": "ok", "uid": "auth-1"}
    await ws.close()


@run_async
async def test_handshake_email_password_returns_refresh_token_and_refresh_auth_works(hs_server):
    ws = await open_ws(hs_server)
    await ws.send({"type": "auth", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    reply = await ws.recv()
    assert set(reply) == {"type", "status", "refresh_token"}, reply
    assert reply["type"] == "auth" and reply["status"] == "ok"
    assert isinstance(reply["refresh_token"], str) and reply["refresh_token"]
    await assert_alive(ws)
    await ws.close()

    ws2 = await open_ws(hs_server)
    await ws2.send({"type": "auth", "refresh_token": reply["refresh_token"], "uid": "r"})
    reply2 = await ws2.recv()
    assert set(reply2) == {"type", "status", "refresh_token", "uid"}, reply2
    assert reply2["status"] == "ok" and reply2["uid"] == "r"
    assert isinstance(reply2["refresh_token"], str) and reply2["refresh_token"] != reply["refresh_token"]
    # the socket now acts as the admin
    await ws2.send({"type": "subscribe", "collection": "directus_users", "uid": "u",
                    "query": {"fields": ["email"], "filter": {"email": {"_eq": ADMIN_EMAIL}}}})
    assert await ws2.recv() == {"type": "subscription", "event": "init", "data": [{"email": ADMIN_EMAIL}], "uid": "u"}
    await ws2.close()


@run_async
async def test_handshake_wrong_token_fails_and_closes_1008(hs_server):
    ws = await open_ws(hs_server)
    await ws.send({"type": "auth", "access_token": "not-a-valid-token"})
    code, frames = await ws.expect_close()
    assert frames == [HANDSHAKE_FAILED]
    assert code == 1008


@run_async
async def test_handshake_wrong_password_fails_and_closes_1008(hs_server):
    ws = await open_ws(hs_server)
    await ws.send({"type": "auth", "email": ADMIN_EMAIL, "password": "wrong"})
    code, frames = await ws.expect_close()
    assert frames == [HANDSHAKE_FAILED]
    assert code == 1008


@run_async
async def test_handshake_no_auth_within_timeout(hs_server):
    ws = await open_ws(hs_server)
    started = time.monotonic()
    code, frames = await ws.expect_close(timeout=6)
    elapsed = time.monotonic() - started
    assert frames == [HANDSHAKE_FAILED]
    assert code == 1008
    assert 1.5 <= elapsed <= 4.5, f"closed after {elapsed:.2f}s with WEBSOCKETS_REST_AUTH_TIMEOUT=2"


@pytest.mark.parametrize("first", [
    {"type": "ping"},
    {"type": "subscribe", "collection": "directus_users"},
    {"type": "items", "collection": "x", "action": "read"},
])
@run_async
async def test_handshake_first_frame_not_auth(hs_server, first):
    ws = await open_ws(hs_server)
    await ws.send(first)
    code, frames = await ws.expect_close()
    assert frames == [HANDSHAKE_FAILED]
    assert code == 1008


@run_async
async def test_handshake_failed_reauth_on_open_connection_closes(hs_server):
    ws = await authed(hs_server)
    await ws.send({"type": "auth", "access_token": "bogus", "uid": "again"})
    code, frames = await ws.expect_close()
    assert frames == [{**AUTH_FAILED, "uid": "again"}]
    assert code is not None and code != 1000, code


@run_async
async def test_token_in_upgrade_url_honoured_in_handshake_mode(hs_server):
    ws = await open_ws(hs_server, f"access_token={ADMIN_TOKEN}")
    init = await ws.subscribe("directus_users", uid="u", query={"fields": ["email"],
                                                               "filter": {"email": {"_eq": ADMIN_EMAIL}}})
    assert init == {"type": "subscription", "event": "init", "data": [{"email": ADMIN_EMAIL}], "uid": "u"}
    # no handshake is expected: the auth timeout (2 s) must not close it
    await asyncio.sleep(2.6)
    await assert_alive(ws)
    await ws.close()


@run_async
async def test_invalid_token_in_upgrade_url_is_401_in_handshake_mode(hs_server):
    assert await upgrade_status(hs_server, "access_token=bogus") == 401


# -- Origin --------------------------------------------------------------------------------


@run_async
async def test_foreign_origin_is_refused_with_403(hs_server):
    assert await upgrade_status(hs_server, origin="http://evil.example.com") == 403


@run_async
async def test_matching_origin_is_accepted(hs_server):
    for origin in (hs_server.base_url, f"http://127.0.0.1:{hs_server.port}"):
        ws = await upgrade_status(hs_server, origin=origin)
        assert not isinstance(ws, int), f"origin {origin}: HTTP {ws}"
        assert await ws.auth() == {"type": "auth", "status": "ok"}
        await ws.close()


@run_async
async def test_cors_origin_is_accepted_other_origin_refused(rate_server):
    ws = await upgrade_status(rate_server, origin="http://allowed.example")
    assert not isinstance(ws, int), f"CORS_ORIGIN origin refused: HTTP {ws}"
    await ws.close()
    assert await upgrade_status(rate_server, origin="http://other.example") == 403


# -- strict mode ---------------------------------------------------------------------------


@run_async
async def test_strict_without_token_is_http_401(strict_server):
    assert await upgrade_status(strict_server) == 401


@run_async
async def test_strict_invalid_token_is_http_401(strict_server):
    assert await upgrade_status(strict_server, "access_token=bogus") == 401


@run_async
async def test_strict_with_token_needs_no_auth_message(strict_server):
    ws = await open_ws(strict_server, f"access_token={ADMIN_TOKEN}")
    init = await ws.subscribe("directus_users", uid=1, query={"fields": ["email"],
                                                             "filter": {"email": {"_eq": ADMIN_EMAIL}}})
    assert init == {"type": "subscription", "event": "init", "data": [{"email": ADMIN_EMAIL}], "uid": "1"}
    await asyncio.sleep(2.5)  # longer than the auth timeout: still open
    await assert_alive(ws)
    await ws.close()


@run_async
async def test_strict_session_cookie_is_accepted(strict_server):
    api = strict_server.api()
    r = await in_thread(api.post, "/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "mode": "session"})
    assert r.status_code == 200, r.text
    cookie = api.session.cookies.get("directus_session_token")
    assert cookie
    ws = await upgrade_status(strict_server, headers={"Cookie": f"directus_session_token={cookie}"})
    assert not isinstance(ws, int), f"session cookie refused: HTTP {ws}"
    await assert_alive(ws)
    await ws.close()


# -- public mode ---------------------------------------------------------------------------


@run_async
async def test_public_subscribe_without_auth_then_auth_upgrades_identity(public_server):
    admin = public_server.admin()
    name = text_collection(admin)
    row = data(admin.post(f"/items/{name}", {"text": "hello", "secret": "s1"}))
    pid = public_policy_id(admin)
    data(admin.post("/permissions", {"policy": pid, "collection": name, "action": "read", "fields": ["id", "text"]}))

    ws = await open_ws(public_server)
    init = await ws.subscribe(name, uid="p")
    assert init == {"type": "subscription", "event": "init", "data": [{"id": row["id"], "text": "hello"}], "uid": "p"}
    r2 = await in_thread(admin.post, f"/items/{name}", {"text": "second", "secret": "s2"})
    row2 = data(r2)
    ev = await ws.recv()
    assert ev["event"] == "create" and ev["uid"] == "p"
    assert ev["data"] == [{"id": row2["id"], "text": "second"}], ev

    assert await ws.auth(uid="up") == {"type": "auth", "status": "ok", "uid": "up"}
    # events now use the admin identity
    row3 = data(await in_thread(admin.post, f"/items/{name}", {"text": "third", "secret": "s3"}))
    ev = await ws.recv()
    assert ev["event"] == "create" and ev["uid"] == "p"
    assert ev["data"] == [{"id": row3["id"], "text": "third", "secret": "s3"}], ev
    # and so does a fresh subscription
    init = await ws.subscribe(name, uid="p2", query={"fields": ["secret"], "sort": ["id"]})
    assert init["data"] == [{"secret": "s1"}, {"secret": "s2"}, {"secret": "s3"}], init
    await ws.close()


@run_async
async def test_public_unreadable_collection_is_invalid_collection(public_server):
    admin = public_server.admin()
    name = text_collection(admin)
    ws = await open_ws(public_server)
    err = await ws.subscribe(name, uid="x")
    assert_error_frame(err, "subscribe", "INVALID_COLLECTION", uid="x")
    await ws.close()


@run_async
async def test_public_failed_auth_does_not_close(public_server):
    ws = await open_ws(public_server)
    await ws.send({"type": "auth", "access_token": "bogus", "uid": "a"})
    assert await ws.recv() == {**AUTH_FAILED, "uid": "a"}
    await asyncio.sleep(0.3)
    await assert_alive(ws)
    # a later good auth still works
    assert await ws.auth() == {"type": "auth", "status": "ok"}
    await ws.close()


@run_async
async def test_public_failed_auth_drops_previous_identity(public_server):
    admin = public_server.admin()
    name = text_collection(admin)
    ws = await authed(public_server)
    await ws.send({"type": "auth", "access_token": "bogus"})
    assert await ws.recv() == AUTH_FAILED
    err = await ws.subscribe(name, uid="after")  # public: no permission on this collection
    assert_error_frame(err, "subscribe", "INVALID_COLLECTION", uid="after")
    await ws.close()


# -- token expiry --------------------------------------------------------------------------


def reader_user(admin, name):
    return create_user_with_policy(admin, permissions=[
        {"collection": name, "action": "read", "fields": ["id", "text"]}])


@run_async(timeout=30)
async def test_token_expiry_without_new_auth_times_out(expiry_server):
    admin = expiry_server.admin()
    name = text_collection(admin)
    info, _ = reader_user(admin, name)
    user = await in_thread(expiry_server.api().login, info["email"], info["password"])  # fresh 2 s JWT
    ws = await authed(expiry_server, user.token)
    assert (await ws.subscribe(name, uid="s"))["event"] == "init"
    frame = await ws.recv(timeout=5)
    expired_at = time.monotonic()
    assert frame == TOKEN_EXPIRED
    code, frames = await ws.expect_close(timeout=5)
    elapsed = time.monotonic() - expired_at
    assert frames == [AUTH_TIMEOUT], frames
    assert code is not None and code != 1000, code
    assert 1.5 <= elapsed <= 4.5, f"AUTH_TIMEOUT after {elapsed:.2f}s, AUTH_TIMEOUT=2"


@run_async(timeout=30)
async def test_token_expiry_with_new_auth_keeps_subscriptions(expiry_server):
    admin = expiry_server.admin()
    name = text_collection(admin)
    info, _ = reader_user(admin, name)
    user = await in_thread(expiry_server.api().login, info["email"], info["password"])  # fresh 2 s JWT
    ws = await authed(expiry_server, user.token)
    assert (await ws.subscribe(name, uid="s")) == {"type": "subscription", "event": "init", "data": [], "uid": "s"}
    assert await ws.recv(timeout=5) == TOKEN_EXPIRED
    # while public (no permission on the collection), nothing is delivered
    data(await in_thread(admin.post, f"/items/{name}", {"text": "while expired", "secret": "x"}))
    await ws.expect_silence(0.4)
    fresh = await in_thread(expiry_server.api().login, info["email"], info["password"])
    assert await ws.auth(fresh.token, uid="re") == {"type": "auth", "status": "ok", "uid": "re"}
    row = data(await in_thread(admin.post, f"/items/{name}", {"text": "after reauth", "secret": "y"}))
    ev = await ws.recv()
    assert {k: ev[k] for k in ("type", "event", "uid", "data")} == {
        "type": "subscription", "event": "create", "uid": "s", "data": [{"id": row["id"], "text": "after reauth"}]}, ev
    await ws.close()


@run_async(timeout=30)
async def test_reauth_at_once_on_token_expired_keeps_subscriptions(expiry_server):
    """The SDK answers TOKEN_EXPIRED with its `auth` at once (it refreshed before): the move to the
    public classes and the move back are both still on their way to the socket's shard, and the
    subscription must survive them."""
    admin = expiry_server.admin()
    name = text_collection(admin)
    info, _ = reader_user(admin, name)
    user = await in_thread(expiry_server.api().login, info["email"], info["password"])  # fresh 2 s JWT
    ws = await authed(expiry_server, user.token)
    assert (await ws.subscribe(name, uid="s"))["event"] == "init"
    await asyncio.sleep(1.1)
    fresh = await in_thread(expiry_server.api().login, info["email"], info["password"])  # expires ~1 s later
    assert fresh.token != user.token
    assert await ws.recv(timeout=5) == TOKEN_EXPIRED
    await ws.send({"type": "auth", "access_token": fresh.token})
    assert await ws.recv() == {"type": "auth", "status": "ok"}
    row = data(await in_thread(admin.post, f"/items/{name}", {"text": "after reauth", "secret": "y"}))
    ev = await ws.recv(timeout=5)
    assert (ev.get("event"), ev.get("data")) == ("create", [{"id": row["id"], "text": "after reauth"}]), ev
    await ws.close()


# -- connection limit ----------------------------------------------------------------------


@run_async
async def test_connection_limit_refuses_third_upgrade_with_403(limited_server):
    a = await open_ws(limited_server)
    b = await open_ws(limited_server)
    assert await upgrade_status(limited_server) == 403
    # the two admitted sockets work
    for ws in (a, b):
        assert await ws.auth() == {"type": "auth", "status": "ok"}
    await a.close()
    # a slot frees up once a socket is gone (bounded retry: the server notices the close asynchronously)
    got = None
    for _ in range(20):
        got = await upgrade_status(limited_server)
        if not isinstance(got, int):
            break
        await asyncio.sleep(0.1)
    assert not isinstance(got, int), f"still refused after close: HTTP {got}"
    await got.close()
    await b.close()


# -- rate limiter --------------------------------------------------------------------------


@run_async
async def test_rate_limiter_rejects_burst_but_keeps_socket(rate_server):
    ws = await open_ws(rate_server, f"access_token={ADMIN_TOKEN}")
    for i in range(10):
        await ws.send({"type": "ping", "uid": str(i)})
    frames = await ws.collect(quiet=0.4, max_total=3)
    pongs = [f for f in frames if f.get("type") == "pong"]
    errors = [f for f in frames if f.get("type") == "server"]
    assert len(pongs) + len(errors) == 10, frames
    assert errors, f"no REQUESTS_EXCEEDED in {frames!r}"
    for e in errors:
        assert set(e) == {"type", "status", "error"}, e
        assert e["status"] == "error" and e["error"]["code"] == "REQUESTS_EXCEEDED", e
        assert re.fullmatch(r"Too many messages, retry after \d+ms\.", e["error"]["message"]), e
    assert len(pongs) <= 5 * 2, frames
    await asyncio.sleep(1.2)
    await assert_alive(ws)
    await ws.close()
