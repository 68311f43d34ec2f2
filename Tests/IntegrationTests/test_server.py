"""/server/* endpoints and the not-found route.

Directus: api/src/app.ts (`/server/ping` → plain `pong`, before authentication),
api/src/controllers/server.ts + api/src/services/server.ts (health/info),
api/src/controllers/not-found.ts (ROUTE_NOT_FOUND, 404).
"""

from harness import assert_error, data


def test_ping_answers_plain_pong(anon):
    r = anon.get("/server/ping")
    assert r.status_code == 200
    assert r.text == "pong"


def test_ping_ignores_a_bad_token(server):
    # /server/ping is registered before the authenticate middleware in Directus.
    r = server.api("garbage-token").get("/server/ping")
    assert r.status_code == 200 and r.text == "pong"


def test_health_is_ok_for_the_public(anon):
    r = anon.get("/server/health")
    assert r.status_code == 200
    # services/server.ts health(): non-admins only get {status}; no "data" wrapper.
    assert r.json() == {"status": "ok"}
    # controllers/server.ts sets Content-Type: application/health+json
    assert r.headers["Content-Type"].startswith("application/health+json")


def test_health_for_admin_has_status_ok(admin):
    body = admin.get("/server/health").json()
    assert body["status"] == "ok"


def test_info_is_wrapped_in_data(anon, admin):
    public = data(anon.get("/server/info"))
    assert isinstance(public, dict)
    assert "project" in public
    full = data(admin.get("/server/info"))
    # services/server.ts: version and queryLimit only for authenticated users
    assert isinstance(full.get("version"), str)
    assert full["queryLimit"]["default"] == 100
    assert full["queryLimit"]["max"] == -1  # QUERY_LIMIT_MAX = Infinity → -1
    # the realtime endpoints as configured (the SDK and the Data Studio read these)
    # services/server.ts: `logs` (the logs stream's levels) for admins, false for everyone else
    assert full["websocket"] == {"rest": {"authentication": "handshake", "path": "/websocket"},
                                 "graphql": {"authentication": "handshake", "path": "/graphql"}, "heartbeat": 30,
                                 "logs": {"allowedLogLevels": {"info": 30, "warn": 40, "error": 50, "fatal": 60}}}
    assert "websocket" not in public


def test_unknown_route_is_route_not_found(anon):
    r = anon.get("/definitely/not/a/route")
    err = assert_error(r, 404, "ROUTE_NOT_FOUND")
    # errors/route-not-found.ts: "Route <path> doesn't exist."
    assert err["message"] == "Route /definitely/not/a/route doesn't exist."
