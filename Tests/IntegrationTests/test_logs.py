"""Structured logs (LOG_STYLE=raw): one JSON object a line, with the replica, the request and the
socket they concern, and never a token or a password, even at the most verbose level."""

from __future__ import annotations

import json

import pytest
import requests

from harness import ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_TOKEN, Api
from wsclient import authed, open_ws, run_async

NO_PROXY = {"http": "", "https": ""}


@pytest.fixture(scope="module")
def traced(server_factory):
    return server_factory({"LOG_LEVEL": "trace", "LOG_STYLE": "raw"}, name="logs")


def lines(server) -> list[dict]:
    out = []
    for raw in server.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        raw = raw.strip()
        if raw.startswith("{"):
            out.append(json.loads(raw))
    return out


@run_async
async def test_raw_logs_carry_ids_and_no_secrets(traced):
    base = traced.base_url
    # A password login, a refresh, a failed login, tokens in headers and in the query string.
    login = requests.post(f"{base}/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
                          timeout=5, proxies=NO_PROXY).json()["data"]
    access, refresh = login["access_token"], login["refresh_token"]
    refreshed = requests.post(f"{base}/auth/refresh", json={"refresh_token": refresh, "mode": "json"},
                              timeout=5, proxies=NO_PROXY).json()["data"]
    wrong = "not-the-password-" + ADMIN_PASSWORD
    assert requests.post(f"{base}/auth/login", json={"email": ADMIN_EMAIL, "password": wrong},
                         timeout=5, proxies=NO_PROXY).status_code == 401
    Api(base, access).get("/users/me")
    requests.get(f"{base}/items/nope?access_token={ADMIN_TOKEN}", timeout=5, proxies=NO_PROXY)
    requests.get(f"{base}/items/nope", headers={"Authorization": "Bearer wrong-token-xyz"}, timeout=5, proxies=NO_PROXY)
    # Sockets: a good token, then one that fails, then a close.
    ws = await authed(traced, refreshed["access_token"])
    await ws.send({"type": "subscribe", "collection": "directus_users", "uid": "l"})
    await ws.recv_any(timeout=5)
    await ws.close()
    bad = await open_ws(traced)
    await bad.send({"type": "auth", "access_token": "bad-socket-token-abc"})
    await bad.recv_any(timeout=5)
    await bad.close()

    entries = lines(traced)
    assert entries, "no JSON log lines"
    text = traced.log_path.read_text(encoding="utf-8", errors="replace")
    for secret in [ADMIN_PASSWORD, ADMIN_TOKEN, access, refresh, refreshed["access_token"], refreshed["refresh_token"],
                   "wrong-token-xyz", "bad-socket-token-abc"]:
        assert secret not in text, f"a secret is in the log: {secret[:6]}…"
    # Every line names its process; the serving one's lines (a `bootstrap` run before it may
    # have written some of its own, with its own pid) all name the same replica.
    assert all(e.get("replica") for e in entries)
    (serving,) = {e["replica"] for e in entries if e["msg"] == "listening"}
    assert {e["replica"] for e in entries if "request" in e or "socket" in e} == {serving}
    assert all({"time", "level", "label", "msg"} <= e.keys() for e in entries)
    assert any("request" in e for e in entries), "no line of a request carries its id"
    assert any("socket" in e for e in entries), "no line of a socket carries its id"
