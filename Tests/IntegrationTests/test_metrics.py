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


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one series: `name` with exactly these labels (any order)."""
    want = {f'{k}="{v}"' for k, v in labels.items()}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        base, _, rest = series.partition("{")
        if base != name:
            continue
        have = set(rest.rstrip("}").split(",")) if rest else set()
        have.discard("")
        if have == want:
            return float(value)
    return None


def test_http_requests_are_counted_by_route_pattern_and_status(metrics_server):
    before = sample(get(metrics_server, "Metrics scrape-1").text, "switchboard_http_requests_total",
                    route="/items/{collection}", method="GET", status="403") or 0
    for _ in range(3):
        requests.get(f"{metrics_server.base_url}/items/no_such_collection_{_}", timeout=5, proxies=NO_PROXY)
    text = get(metrics_server, "Metrics scrape-1").text
    after = sample(text, "switchboard_http_requests_total", route="/items/{collection}", method="GET", status="403")
    assert after == before + 3, [l for l in text.splitlines() if "http_requests_total" in l]
    # The route is the router's pattern, never the path a client sent: bounded cardinality.
    assert "no_such_collection" not in text
    assert "# TYPE switchboard_http_request_duration_seconds histogram" in text


@run_async
async def test_connections_by_auth_state_and_fanout_latency(metrics_server):
    admin = metrics_server.admin()
    ws = await authed(metrics_server)
    await ws.send({"type": "subscribe", "collection": "directus_users", "uid": "m"})
    assert (await ws.recv_any(timeout=5))["event"] == "init"
    text = get(metrics_server, "Metrics scrape-1").text
    assert sample(text, "switchboard_websocket_connections_by_auth", auth="user") >= 1
    assert sample(text, "switchboard_websocket_connections_by_auth", auth="pending") is not None
    count_before = sample(text, "switchboard_realtime_fanout_latency_seconds_count") or 0
    me = admin.get("/users/me").json()["data"]
    admin.patch(f"/users/{me['id']}", {"title": "metrics"})
    event = await ws.recv_any(timeout=5)
    assert event["event"] == "update"
    text = get(metrics_server, "Metrics scrape-1").text
    assert sample(text, "switchboard_realtime_fanout_latency_seconds_count") > count_before
    assert sample(text, "switchboard_realtime_frames_total") >= 1
    await ws.close()


def test_database_and_outbox_levels(metrics_server):
    s = samples(get(metrics_server, "Metrics scrape-1").text)
    assert s["switchboard_db_connections_max"] >= 2  # SQLite: the writer and its readers
    assert s["switchboard_db_connections_in_use"] >= 0
    assert s["switchboard_db_connections_waiting"] == 0
    assert s["switchboard_outbox_lag_events"] == 0
