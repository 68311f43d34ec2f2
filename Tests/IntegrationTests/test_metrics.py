"""GET /metrics (Prometheus text format), off unless METRICS_ENABLED.

Directus: api/src/controllers/metrics.ts: admins, or `Authorization: Metrics <token>` with a
token from METRICS_TOKENS; anything else is FORBIDDEN.
"""

from __future__ import annotations

import pytest
import requests

from harness import ADMIN_TOKEN, assert_error
from wsclient import authed, run_async

NO_PROXY = {"http": "", "https": ""}


@pytest.fixture(scope="module")
def metrics_server(server_factory):
    return server_factory({"METRICS_ENABLED": "true", "METRICS_TOKENS": "scrape-1,scrape-2"}, name="metrics")


def get(server, auth: str | None) -> requests.Response:
    headers = {"Authorization": auth} if auth else {}
    return requests.get(f"{server.base_url}/metrics", headers=headers, timeout=5, proxies=NO_PROXY)


def samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_metrics_is_not_served_by_default(anon):
    r = anon.get("/metrics")
    assert r.status_code == 404


def test_metrics_token_reads_prometheus_text(metrics_server):
    r = get(metrics_server, "Metrics scrape-2")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    s = samples(r.text)
    assert s["process_resident_memory_bytes"] > 1_000_000
    assert s["process_open_fds"] > 0
    assert s["switchboard_ready"] == 1
    assert "# TYPE switchboard_realtime_events_total counter" in r.text
    assert "switchboard_messenger_connected" not in s  # single node: no Redis


@pytest.mark.parametrize("auth", [None, "Metrics wrong", "Bearer not-a-token-at-all", "Metrics"])
def test_metrics_refuses_others(metrics_server, auth):
    r = get(metrics_server, auth)
    if auth == "Bearer not-a-token-at-all":
        assert r.status_code == 401  # a bad bearer token is a bad token before it is a bad scrape
    else:
        assert_error(r, 403, "FORBIDDEN")


def test_admin_reads_metrics(metrics_server):
    assert get(metrics_server, f"Bearer {ADMIN_TOKEN}").status_code == 200


@run_async
async def test_gauges_follow_sockets_and_events(metrics_server):
    ws = await authed(metrics_server)
    await ws.send({"type": "subscribe", "collection": "directus_users", "uid": "m"})
    init = await ws.recv_any(timeout=5)
    assert init["event"] == "init"
    s = samples(get(metrics_server, "Metrics scrape-1").text)
    assert s["switchboard_websocket_connections"] >= 1
    assert s["switchboard_websocket_subscriptions"] >= 1
    assert s["switchboard_realtime_query_classes"] >= 1
    await ws.close()
