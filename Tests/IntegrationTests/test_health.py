"""Health probes and Directus 11 Redis settings, on real processes.

/server/health/live (the process answers), /server/health/ready (503 while draining, with
the database unreachable, or before the Redis messenger's first subscribe) and
/server/health in Directus's shape (api/src/services/server.ts health(): {status} for the
public, releaseId/serviceId/checks for admins; application/health+json).

The cluster cases start their own PostgreSQL and redis-server (clusterkit.py), so that Redis
can be absent at a replica's start and killed later.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any, Iterator

import pytest
import requests

from clusterkit import Client, Postgres, Redis, make_replica, missing_tools, run, wait_until, ws_url_of
from harness import ADMIN_TOKEN, SwitchboardServer, create_collection, data, uniq

HEALTH_TYPE = "application/health+json"


def get(srv: SwitchboardServer, path: str, token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(srv.base_url + path, headers=headers, timeout=5, proxies={"http": "", "https": ""})


def status_of(srv: SwitchboardServer, path: str) -> int:
    try:
        return get(srv, path).status_code
    except requests.RequestException:
        return 0


# -- single node ---------------------------------------------------------------------------------


def test_live_and_ready_answer_200_on_a_normal_node(server: SwitchboardServer) -> None:
    for path in ("/server/health/live", "/server/health/ready"):
        r = get(server, path)
        assert r.status_code == 200, (path, r.text)
        assert r.headers["Content-Type"].startswith(HEALTH_TYPE)
        assert r.json() == {"status": "ok"}


def test_health_checks_are_for_admins_only(server: SwitchboardServer) -> None:
    public = get(server, "/server/health")
    assert public.status_code == 200
    assert public.json() == {"status": "ok"}
    body = get(server, "/server/health", ADMIN_TOKEN).json()
    assert body["status"] == "ok"
    assert isinstance(body["releaseId"], str)
    assert body["serviceId"] == server.base_url  # PUBLIC_URL, as Directus
    checks = body["checks"]
    # `<DB_CLIENT>:responseTime`: sqlite3 here, pg in scripts/test's PostgreSQL stage
    (name,) = [k for k in checks if k.endswith(":responseTime")]
    assert name in ("sqlite3:responseTime", "pg:responseTime")
    db = checks[name][0]
    assert db["status"] == "ok" and db["observedUnit"] == "ms" and db["componentType"] == "datastore"
    assert isinstance(db["observedValue"], (int, float)) and db["threshold"] == 150
    client = name.split(":")[0]
    for pool in ("connectionsAvailable", "connectionsUsed"):  # Directus's pool checks
        (check,) = checks[f"{client}:{pool}"]
        assert check["status"] == "ok" and check["componentType"] == "datastore"
        assert isinstance(check["observedValue"], int) and check["observedValue"] >= 0
    assert checks[f"{client}:connectionsAvailable"][0]["observedValue"] >= 1
    assert checks["outbox:lag"][0]["observedValue"] == 0
    assert "messenger:redis" not in checks  # a single node has no messenger
    # an invalid token is refused, as on every Directus route
    assert get(server, "/server/health", "not-a-token").status_code == 401


def test_ready_turns_503_while_draining_and_live_stays_200(server_factory: Any) -> None:
    srv = server_factory({"SHUTDOWN_DRAIN_WINDOW": "3s", "WEBSOCKETS_HEARTBEAT_ENABLED": "false"}, name="drain")

    async def scenario() -> dict[str, Any]:
        # an open socket keeps the drain window going (its close is spread over the window)
        clients = [await Client.open(ws_url_of(srv.base_url), f"c{k}") for k in range(4)]
        for c in clients:
            await c.auth(ADMIN_TOKEN)
        assert srv.proc is not None
        srv.proc.send_signal(signal.SIGTERM)
        # (a requests.Response is falsy for a 5xx: keep its body instead)
        ready = await asyncio.to_thread(
            wait_until, lambda: (r := get(srv, "/server/health/ready")).status_code == 503 and [r.json()], 2, 0.02,
            "ready 503 after SIGTERM")
        live = await asyncio.to_thread(get, srv, "/server/health/live")
        health = await asyncio.to_thread(get, srv, "/server/health")
        for c in clients:
            await c.close()
        return {"ready": ready[0], "live": live.status_code, "health": (health.status_code, health.json())}

    res = run(scenario(), 30)
    assert res["ready"] == {"status": "error", "output": "draining"}
    assert res["live"] == 200
    assert res["health"] == (503, {"status": "error"})
    assert srv.proc is not None and srv.proc.wait(15) == 0


# -- cluster mode --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg() -> Iterator[Postgres]:
    missing = missing_tools()
    if missing:
        message = f"health cluster tests need: {', '.join(missing)} (scripts/test installs them)"
        if os.environ.get("SWITCHBOARD_REQUIRE_CLUSTER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    p = Postgres().start()
    try:
        yield p
    finally:
        p.stop()


def pg_env(pg: Postgres, database: str) -> dict[str, str]:
    return {"DB_CLIENT": "pg", "DB_HOST": pg.host, "DB_PORT": str(pg.port), "DB_USER": "postgres",
            "DB_DATABASE": database, "SECRET": "health-test-secret", "LOG_LEVEL": "info", "LOG_STYLE": "raw"}


def admin_health(srv: SwitchboardServer) -> tuple[int, Any]:
    try:
        r = get(srv, "/server/health", ADMIN_TOKEN)
        return r.status_code, r.json()
    except (requests.RequestException, ValueError) as exc:
        return 0, repr(exc)


def test_ready_waits_for_the_first_redis_subscribe_and_survives_a_later_outage(pg: Postgres) -> None:
    database = f"sbhealth_{uniq('a')}"
    pg.createdb(database)
    redis = Redis()  # its port is chosen; nothing listens there yet
    srv = make_replica("redis-late", {**pg_env(pg, database), "WEBSOCKETS_BROKER_URL": redis.url,
                                      "MESSENGER_NAMESPACE": uniq("ns")})
    try:
        srv.bootstrap()
        srv.start()
        # up and answering, but not ready: it would miss other replicas' events
        assert get(srv, "/server/health/live").status_code == 200
        r = get(srv, "/server/health/ready")
        assert r.status_code == 503
        assert r.json() == {"status": "error", "output": "messenger not subscribed yet"}
        code, body = admin_health(srv)
        assert code == 200 and body["status"] == "warn"
        assert body["checks"]["messenger:redis"][0]["observedValue"] == "connecting"
        assert body["checks"]["pg:responseTime"][0]["status"] == "ok"

        redis.start()
        wait_until(lambda: status_of(srv, "/server/health/ready") == 200, 15, 0.1, "ready after Redis started")
        code, body = admin_health(srv)
        assert code == 200 and body["status"] == "ok"
        assert body["checks"]["messenger:redis"][0] == {"componentType": "datastore", "observedValue": "connected",
                                                        "status": "ok"}
        assert get(srv, "/server/health").json() == {"status": "ok"}  # the public sees no checks

        # Redis goes away later: still ready (local delivery goes on), but /server/health warns
        redis.kill()
        wait_until(lambda: admin_health(srv)[1].get("status") == "warn", 10, 0.1, "health warn after Redis died")
        assert get(srv, "/server/health/ready").status_code == 200
        code, body = admin_health(srv)
        assert code == 200
        assert body["checks"]["messenger:redis"][0]["observedValue"] != "connected"
        assert get(srv, "/server/health").json() == {"status": "warn"}
    finally:
        srv.cleanup()
        redis.stop()


def test_ready_turns_503_while_the_database_is_down_and_back_after(pg: Postgres) -> None:
    if not pg.owned:
        pytest.skip("needs a PostgreSQL started here (SWITCHBOARD_TEST_PG is shared)")
    own = Postgres().start()  # stopped and restarted below: not the module's shared one
    try:
        database = f"sbhealth_{uniq('c')}"
        own.createdb(database)
        srv = make_replica("db-down", pg_env(own, database))
        try:
            srv.bootstrap()
            srv.start()
            assert status_of(srv, "/server/health/ready") == 200
            own.stop_immediate()
            t0 = time.monotonic()
            r = get(srv, "/server/health/ready")
            # bounded by the probe's own 1 s ping timeout, well inside a k8s timeoutSeconds of 2
            assert time.monotonic() - t0 < 2.5
            assert r.status_code == 503
            assert r.json() == {"status": "error", "output": "database unreachable"}
            assert get(srv, "/server/health/live").status_code == 200
            h = get(srv, "/server/health", ADMIN_TOKEN)  # the token cannot be checked: no checks, still an answer
            assert h.status_code == 503 and h.json() == {"status": "error"}
            own.start_again()
            wait_until(lambda: status_of(srv, "/server/health/ready") == 200, 20, 0.2, "ready after PostgreSQL is back")
        finally:
            srv.cleanup()
    finally:
        own.stop()


def test_a_directus_11_env_configures_a_cluster(pg: Postgres) -> None:
    database = f"sbhealth_{uniq('b')}"
    pg.createdb(database)
    redis = Redis().start()
    namespace = uniq("x")
    env = {**pg_env(pg, database), "REDIS": f"redis://127.0.0.1:{redis.port}", "REDIS_ENABLED": "true",
           "SYNCHRONIZATION_STORE": "redis", "REDIS_BUS_NAMESPACE": namespace,
           "CACHE_ENABLED": "true", "CACHE_STORE": "redis", "CACHE_TTL": "5m", "CACHE_AUTO_PURGE": "true"}
    replicas = [make_replica(f"d11-{i}", dict(env)) for i in range(2)]
    try:
        replicas[0].bootstrap()
        for srv in replicas:
            srv.start()
        for srv in replicas:
            wait_until(lambda s=srv: status_of(s, "/server/health/ready") == 200, 15, 0.1, f"{srv.name} ready")
        col = uniq("d11")
        create_collection(replicas[0].admin(), col, [{"field": "text", "type": "string"}])
        wait_until(lambda: replicas[1].admin().get(f"/items/{col}").status_code == 200, 10, 0.05,
                   "collection on replica 2")

        async def scenario() -> Any:
            c = await Client.open(ws_url_of(replicas[1].base_url), "d11-sub")
            await c.auth(ADMIN_TOKEN)
            await c.subscribe(col, "s")
            row = data(await asyncio.to_thread(replicas[0].admin().post, f"/items/{col}", {"text": "across"}))
            ev = await c.wait_for(lambda f: f.get("uid") == "s" and f.get("event") == "create", 5)
            await c.close()
            return row, ev

        row, ev = run(scenario(), 30)
        assert ev["data"][0]["id"] == row["id"] and ev["data"][0]["text"] == "across"
        # the channels carry Directus 11's bus namespace
        assert f"{namespace}:col:{col}" in redis.channels(f"{namespace}:*")
    finally:
        for srv in replicas:
            srv.cleanup()
        redis.stop()


@pytest.mark.parametrize("env, first, second", [
    ({"MESSENGER_STORE": "memory", "REDIS_ENABLED": "true", "REDIS": "redis://127.0.0.1:6399"},
     "REDIS_ENABLED", "MESSENGER_STORE"),
    ({"WEBSOCKETS_BROKER_URL": "redis://10.0.0.1:6379", "REDIS": "redis://:pw@10.0.0.2:6379", "REDIS_ENABLED": "true"},
     "WEBSOCKETS_BROKER_URL", "REDIS"),
    ({"MESSENGER_NAMESPACE": "a", "REDIS_BUS_NAMESPACE": "b"}, "REDIS_BUS_NAMESPACE", "MESSENGER_NAMESPACE"),
    ({"SYNCHRONIZATION_STORE": "redis", "REDIS_ENABLED": "false", "REDIS": "redis://127.0.0.1:6399"},
     "SYNCHRONIZATION_STORE", "REDIS_ENABLED"),
])
def test_conflicting_settings_exit_78_naming_both(env: dict[str, str], first: str, second: str) -> None:
    srv = SwitchboardServer(env, name="conflict")
    try:
        t0 = time.monotonic()
        result = srv.cli("serve", check=False, timeout=30)
        assert result.returncode == 78, result.stderr
        assert time.monotonic() - t0 < 10
        line = result.stderr.strip()
        assert f"Conflicting settings {first} and {second}: " in line, line
        assert "pw@" not in line  # no credentials in the message
    finally:
        srv.cleanup()
