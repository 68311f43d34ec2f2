"""Directus's logs stream at /websocket/logs (api/src/websocket/controllers/logs.ts,
handlers/logs.ts, logger/logs-stream.ts): strict authentication with an admin's token,
`subscribe` with a `log_level`, `unsubscribe`, and `{"type":"logs","data":{…},"uid":<node>}`
frames with this replica's records, never a secret."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
import requests
from websockets.exceptions import InvalidStatus

from harness import ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_TOKEN, create_user_with_policy, data, uniq
from wsclient import assert_error_frame, in_thread, open_ws, run_async

PATH = "/websocket/logs"
NO_PROXY = {"http": "", "https": ""}


@pytest.fixture(scope="module")
def debug_server(server_factory):
    # REST requests are logged at debug: let them into the stream.
    return server_factory({"WEBSOCKETS_LOGS_LEVEL": "debug"}, name="wslogs")


async def logs_ws(server, token: str | None = ADMIN_TOKEN):
    return await open_ws(server, f"access_token={token}" if token else "", path=PATH)


async def upgrade_status(server, query: str = "") -> int:
    try:
        ws = await open_ws(server, query, path=PATH)
    except InvalidStatus as exc:
        return exc.response.status_code
    await ws.close()
    return 101


async def subscribed(server, level: str):
    ws = await logs_ws(server)
    await ws.send({"type": "subscribe", "log_level": level})
    assert await ws.recv() == {"type": "logs", "event": "subscribe", "log_level": level}
    return ws


def request_line(path: str):
    return lambda f: f.get("type") == "logs" and f["data"]["msg"].startswith(f"GET {path} ")


@run_async
async def test_an_admin_sees_a_rest_request_as_directus_frames_it(debug_server):
    ws = await subscribed(debug_server, "debug")
    path = f"/items/{uniq('nothing')}"
    await in_thread(debug_server.admin().get, path)
    frame, _ = await ws.recv_until(request_line(path))
    # handlers/logs.ts: fmtMessage('logs', { data: log }, nodeId); logs-stream.ts (pretty): level, time, msg
    assert set(frame) == {"type", "data", "uid"}
    assert isinstance(frame["uid"], str) and len(frame["uid"]) == 8
    assert set(frame["data"]) == {"level", "time", "msg"}
    assert frame["data"]["level"] == 20
    assert abs(frame["data"]["time"] - time.time() * 1000) < 60_000
    # logs-stream.ts (pretty, an HTTP record): "<method> <url> <status> <responseTime>ms"
    assert re.fullmatch(rf"GET {re.escape(path)} \d{{3}} \d+ms", frame["data"]["msg"]), frame


@run_async
async def test_a_subscription_gets_its_level_and_above_only(debug_server):
    debug = await subscribed(debug_server, "debug")
    info = await subscribed(debug_server, "info")
    error = await subscribed(debug_server, "error")
    path = f"/items/{uniq('filtered')}"
    await in_thread(debug_server.admin().get, path)
    await debug.recv_until(request_line(path))
    for ws in (info, error):
        frames = await ws.collect(quiet=0.5)
        assert all(f["data"]["level"] >= (30 if ws is info else 50) for f in frames), frames
        assert not any(request_line(path)(f) for f in frames), frames


@run_async
async def test_a_new_subscribe_replaces_the_level(debug_server):
    ws = await subscribed(debug_server, "debug")
    await ws.send({"type": "subscribe", "log_level": "fatal"})
    frame, _ = await ws.recv_until(lambda f: f.get("event") == "subscribe")
    assert frame == {"type": "logs", "event": "subscribe", "log_level": "fatal"}
    path = f"/items/{uniq('replaced')}"
    await in_thread(debug_server.admin().get, path)
    assert not any(request_line(path)(f) for f in await ws.collect(quiet=0.5))


@run_async
async def test_unsubscribe_stops_the_frames(debug_server):
    ws = await subscribed(debug_server, "debug")
    await ws.send({"type": "unsubscribe"})
    _, before = await ws.recv_until(lambda f: f == {"type": "logs", "event": "unsubscribe"})
    assert all(f["type"] == "logs" for f in before)
    await in_thread(debug_server.admin().get, f"/items/{uniq('after')}")
    await ws.expect_silence(quiet=0.6)
    # Subscribing again starts them again.
    await ws.send({"type": "subscribe", "log_level": "debug"})
    await ws.recv_until(lambda f: f.get("event") == "subscribe")
    path = f"/items/{uniq('again')}"
    await in_thread(debug_server.admin().get, path)
    await ws.recv_until(request_line(path))


@run_async
async def test_only_an_admins_token_opens_the_stream(server):
    # logs.ts: strict mode; base.ts handleTokenUpgrade: no token, a bad one or a non-admin's → 401
    assert await upgrade_status(server) == 401
    assert await upgrade_status(server, "access_token=not-a-token") == 401
    _, user = await in_thread(create_user_with_policy, server.admin())
    assert await upgrade_status(server, f"access_token={user.token}") == 401
    assert await upgrade_status(server, f"access_token={ADMIN_TOKEN}") == 101
    # A password login's JWT of an admin works too.
    login = await in_thread(
        lambda: requests.post(f"{server.base_url}/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                              timeout=5, proxies=NO_PROXY).json()["data"])
    assert await upgrade_status(server, f"access_token={login['access_token']}") == 101
    # The session cookie is read like the query's token.
    ws = await open_ws(server, path=PATH, headers={"Cookie": f"directus_session_token={ADMIN_TOKEN}"})
    await ws.send({"type": "subscribe", "log_level": "info"})
    assert (await ws.recv())["event"] == "subscribe"


@run_async
async def test_an_auth_frame_with_a_non_admins_token_is_refused_and_closes(server):
    _, user = await in_thread(create_user_with_policy, server.admin())
    ws = await logs_ws(server)
    await ws.send({"type": "auth", "access_token": user.token})
    code, frames = await ws.expect_close()
    assert len(frames) == 1
    assert_error_frame(frames[0], "auth", "AUTH_FAILED", message="Unauthorized access.")
    assert code == 1008


@run_async
async def test_an_auth_frame_with_an_admins_token_is_answered(server):
    ws = await logs_ws(server)
    await ws.send({"type": "auth", "access_token": ADMIN_TOKEN, "uid": "a1"})
    assert await ws.recv() == {"type": "auth", "status": "ok", "uid": "a1"}
    await ws.send({"type": "auth", "access_token": "bad-token", "uid": "a2"})
    code, frames = await ws.expect_close()
    assert_error_frame(frames[0], "auth", "AUTH_FAILED", uid="a2", message="Authentication failed.")
    assert code == 1008


@run_async
async def test_bad_messages_get_directus_errors_and_other_types_no_answer(server):
    ws = await logs_ws(server)
    await ws.send_raw("not json")
    assert_error_frame(await ws.recv(), "server", "INVALID_PAYLOAD", message="Unable to parse the incoming message.")
    await ws.send({"type": "subscribe", "log_level": "loud"})
    assert_error_frame(await ws.recv(), "logs", "INVALID_PAYLOAD", message='Invalid "loud" log level')
    await ws.send({"type": "subscribe"})
    assert_error_frame(await ws.recv(), "logs", "INVALID_PAYLOAD")
    # logs.ts listens for subscribe and unsubscribe only: a ping (or anything else) is not answered.
    await ws.send({"type": "ping"})
    await ws.send({"type": "items", "collection": "x", "action": "read"})
    await ws.expect_silence(quiet=0.5)
    assert ws.is_open


@run_async
async def test_no_secret_ever_reaches_the_stream(server_factory):
    srv = server_factory({"WEBSOCKETS_LOGS_LEVEL": "trace", "WEBSOCKETS_LOGS_STYLE": "raw"}, name="wslogs-raw")
    ws = await subscribed(srv, "trace")
    base = srv.base_url

    def rest_with_secrets():
        login = requests.post(f"{base}/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                              timeout=5, proxies=NO_PROXY).json()["data"]
        requests.post(f"{base}/auth/login", json={"email": ADMIN_EMAIL, "password": "wrong-" + ADMIN_PASSWORD},
                      timeout=5, proxies=NO_PROXY)
        refreshed = requests.post(f"{base}/auth/refresh", json={"refresh_token": login["refresh_token"], "mode": "json"},
                                  timeout=5, proxies=NO_PROXY).json()["data"]
        requests.get(f"{base}/items/nope?access_token={ADMIN_TOKEN}", timeout=5, proxies=NO_PROXY)
        requests.get(f"{base}/users/me", headers={"Authorization": "Bearer wrong-token-xyz"}, timeout=5,
                     proxies=NO_PROXY)
        return login, refreshed

    login, refreshed = await in_thread(rest_with_secrets)
    # A realtime socket authenticating with a password, and one with a bad token.
    rt = await open_ws(srv)
    await rt.send({"type": "auth", "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    await rt.recv()
    bad = await open_ws(srv)
    await bad.send({"type": "auth", "access_token": "bad-socket-token-abc"})
    await bad.expect_close()
    frames = await ws.collect(quiet=0.8)
    assert frames, "no records streamed"
    raw = repr(frames)
    for secret in [ADMIN_PASSWORD, ADMIN_TOKEN, login["access_token"], login["refresh_token"],
                   refreshed["access_token"], refreshed["refresh_token"], "wrong-token-xyz", "bad-socket-token-abc"]:
        assert secret not in raw, f"a secret is in the stream: {secret[:6]}…"
    # raw style: the whole record, as the console's JSON lines carry it.
    assert all({"level", "time", "pid", "hostname", "label", "replica", "msg"} <= f["data"].keys() for f in frames)
    assert any("request" in f["data"] for f in frames)


@run_async
async def test_disabled_the_path_is_not_found(server_factory):
    srv = server_factory({"WEBSOCKETS_LOGS_ENABLED": "false"}, name="wslogs-off")
    assert await upgrade_status(srv, f"access_token={ADMIN_TOKEN}") == 404
    info = data(await in_thread(srv.admin().get, "/server/info"))
    assert info["websocket"]["logs"] is False


@run_async
async def test_the_connection_limit_refuses_with_403(server_factory):
    srv = server_factory({"WEBSOCKETS_LOGS_CONN_LIMIT": "1"}, name="wslogs-limit")
    first = await logs_ws(srv)
    assert await upgrade_status(srv, f"access_token={ADMIN_TOKEN}") == 403
    await first.close()
    for _ in range(50):
        if await upgrade_status(srv, f"access_token={ADMIN_TOKEN}") == 101:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the slot was not given back")


def test_server_info_names_the_levels_for_admins_only(server):
    info = data(server.admin().get("/server/info"))
    assert info["websocket"]["logs"] == {"allowedLogLevels": {"info": 30, "warn": 40, "error": 50, "fatal": 60}}
    _, user = create_user_with_policy(server.admin())
    assert data(user.get("/server/info"))["websocket"]["logs"] is False


@run_async
async def test_an_expired_token_closes_the_stream(server_factory):
    # base.ts setTokenExpireTimer: TOKEN_EXPIRED, then no time to authenticate (logs.ts: timeout 0): AUTH_TIMEOUT
    srv = server_factory({"ACCESS_TOKEN_TTL": "2s"}, name="wslogs-ttl")
    login = await in_thread(
        lambda: requests.post(f"{srv.base_url}/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                              timeout=5, proxies=NO_PROXY).json()["data"])
    ws = await logs_ws(srv, login["access_token"])
    await ws.send({"type": "subscribe", "log_level": "info"})
    code, frames = await ws.expect_close(timeout=6)
    errors = [f for f in frames if f.get("status") == "error"]
    assert [f["error"]["code"] for f in errors] == ["TOKEN_EXPIRED", "AUTH_TIMEOUT"], frames
    assert code == 1008
