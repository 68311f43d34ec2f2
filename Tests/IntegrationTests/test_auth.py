"""Authentication REST: /auth/login, /auth/refresh, /auth/logout, token extraction.

Directus sources checked (v11.14.1):
- api/src/auth/drivers/local.ts        login modes json|cookie|session, body shapes
- api/src/controllers/auth.ts           refresh/logout mode detection, cookies
- api/src/services/authentication.ts   claims, `expires` = TTL in ms, refresh grace period
- api/src/constants.ts                  REFRESH/SESSION cookie options (httpOnly, sameSite)
- api/src/middleware/extract-token.ts   ?access_token, Bearer, session cookie; two methods → 400
- api/src/utils/get-accountability-for-token.ts + jwt.ts: error codes per token kind
- api/src/controllers/users.ts          /users/me (401 INVALID_CREDENTIALS without user)
- api/src/services/payload.ts           `conceal` special: "**********" or null
"""

import time

import pytest

from harness import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    ADMIN_TOKEN,
    Api,
    assert_error,
    assert_no_content,
    create_user_with_policy,
    data,
    jwt_claims,
    make_hs256_jwt,
    uniq,
)

MASK = "**********"


def login(api: Api, **extra):
    return api.post("/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, **extra})


def cookie_header(r, name):
    """The Set-Cookie header line for cookie `name`, or None."""
    for raw in r.raw.headers.getlist("Set-Cookie"):
        if raw.split("=", 1)[0].strip() == name:
            return raw
    return None


# -- login -----------------------------------------------------------------------------


def test_login_json_returns_tokens_and_ttl_ms(anon):
    d = data(login(anon))
    assert set(d) == {"access_token", "refresh_token", "expires"}
    assert isinstance(d["access_token"], str) and d["access_token"].count(".") == 2
    assert isinstance(d["refresh_token"], str) and len(d["refresh_token"]) >= 32
    # services/authentication.ts: expires = getMilliseconds(ACCESS_TOKEN_TTL) — the TTL, not a timestamp.
    assert isinstance(d["expires"], int) and not isinstance(d["expires"], bool)
    assert d["expires"] == 15 * 60 * 1000


def test_login_access_token_claims(anon):
    token = data(login(anon))["access_token"]
    claims = jwt_claims(token)
    for key in ("id", "role", "app_access", "admin_access", "iat", "exp", "iss"):
        assert key in claims, claims
    assert claims["iss"] == "directus"
    assert claims["admin_access"] is True and claims["app_access"] is True
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert "session" not in claims
    me = data(Api(anon.base_url, token).get("/users/me"))
    assert claims["id"] == me["id"]
    assert claims["role"] == me["role"]


def test_login_wrong_password_is_invalid_credentials(anon):
    r = anon.post("/auth/login", {"email": ADMIN_EMAIL, "password": "nope"})
    err = assert_error(r, 401, "INVALID_CREDENTIALS")
    assert err["message"] == "Invalid user credentials."


def test_login_unknown_user_is_invalid_credentials(anon):
    r = anon.post("/auth/login", {"email": "nobody@example.com", "password": "whatever"})
    assert_error(r, 401, "INVALID_CREDENTIALS")


def test_login_without_password_is_invalid_payload(anon):
    # local.ts validates {email: email().required(), password: required()} → InvalidPayloadError
    assert_error(anon.post("/auth/login", {"email": ADMIN_EMAIL}), 400, "INVALID_PAYLOAD")
    assert_error(anon.post("/auth/login", {"email": "not-an-email", "password": "x"}), 400, "INVALID_PAYLOAD")


def test_login_cookie_mode_sets_httponly_refresh_cookie(anon):
    r = login(anon, mode="cookie")
    d = data(r)
    assert set(d) == {"access_token", "expires"}, d  # no refresh_token in the body
    header = cookie_header(r, "directus_refresh_token")
    assert header is not None, r.headers
    lowered = header.lower()
    assert "httponly" in lowered
    assert "path=/" in lowered
    assert "samesite=lax" in lowered  # REFRESH_TOKEN_COOKIE_SAME_SITE default 'lax' (packages/env defaults)
    assert "max-age=604800" in lowered  # REFRESH_TOKEN_TTL 7d
    assert anon.session.cookies.get("directus_refresh_token")


def test_login_session_mode_cookie_authenticates(server):
    api = server.api()
    r = login(api, mode="session")
    d = data(r)
    assert set(d) == {"expires"}, d  # session mode: only `expires` in the body
    assert d["expires"] == 24 * 60 * 60 * 1000  # SESSION_COOKIE_TTL 1d
    header = cookie_header(r, "directus_session_token")
    assert header is not None and "httponly" in header.lower()
    session_jwt = api.session.cookies.get("directus_session_token")
    claims = jwt_claims(session_jwt)
    assert claims["iss"] == "directus" and "session" in claims
    # the cookie alone (no Authorization header) authenticates
    me = data(api.get("/users/me"))
    assert me["email"] == ADMIN_EMAIL


def test_session_cookie_stops_working_after_logout(server):
    api = server.api()
    data(login(api, mode="session"))
    jar_value = api.session.cookies.get("directus_session_token")
    assert_no_content(api.post("/auth/logout", {"mode": "session"}))
    # replay the old cookie: its session row is gone → INVALID_CREDENTIALS (utils/verify-session-jwt.ts)
    other = server.api()
    other.session.cookies.set("directus_session_token", jar_value)
    assert_error(other.get("/users/me"), 401, "INVALID_CREDENTIALS")


# -- refresh / logout ------------------------------------------------------------------


def test_refresh_json_returns_a_new_pair(anon):
    first = data(login(anon))
    r = anon.post("/auth/refresh", {"refresh_token": first["refresh_token"]})
    second = data(r)
    assert set(second) == {"access_token", "refresh_token", "expires"}
    assert second["refresh_token"] != first["refresh_token"]
    assert data(Api(anon.base_url, second["access_token"]).get("/users/me"))["email"] == ADMIN_EMAIL


def test_refresh_reuse_within_grace_period_returns_the_same_successor(anon):
    # services/authentication.ts updateStatefulSession: the old token stays valid for
    # SESSION_REFRESH_GRACE_PERIOD (10s) and maps to the same `next_token`.
    first = data(login(anon))
    second = data(anon.post("/auth/refresh", {"refresh_token": first["refresh_token"]}))
    again = data(anon.post("/auth/refresh", {"refresh_token": first["refresh_token"]}))
    assert again["refresh_token"] == second["refresh_token"]


def test_refresh_with_unknown_token_is_invalid_credentials(anon):
    assert_error(anon.post("/auth/refresh", {"refresh_token": "x" * 64}), 401, "INVALID_CREDENTIALS")


def test_refresh_without_token_is_invalid_payload(anon):
    # controllers/auth.ts: no body token and no cookie → InvalidPayloadError
    assert_error(anon.post("/auth/refresh", {}), 400, "INVALID_PAYLOAD")


def test_refresh_via_cookie(server):
    api = server.api()
    data(login(api, mode="cookie"))
    old = api.session.cookies.get("directus_refresh_token")
    r = api.post("/auth/refresh", {})  # no body token → cookie mode
    d = data(r)
    assert set(d) == {"access_token", "expires"}
    new = api.session.cookies.get("directus_refresh_token")
    assert new and new != old
    assert cookie_header(r, "directus_refresh_token") is not None


def test_logout_revokes_refresh_token(anon):
    tokens = data(login(anon))
    assert_no_content(anon.post("/auth/logout", {"refresh_token": tokens["refresh_token"]}))
    assert_error(anon.post("/auth/refresh", {"refresh_token": tokens["refresh_token"]}), 401, "INVALID_CREDENTIALS")


def test_logout_with_unknown_token_is_still_204(anon):
    # services/authentication.ts logout(): no matching session → nothing happens, no error
    assert_no_content(anon.post("/auth/logout", {"refresh_token": "y" * 64}))


def test_logout_without_token_is_invalid_payload(anon):
    assert_error(anon.post("/auth/logout", {}), 400, "INVALID_PAYLOAD")


# -- token transport -------------------------------------------------------------------


def test_users_me_with_bearer_query_and_static_token(server):
    token = data(login(server.api()))["access_token"]
    assert data(server.api(token).get("/users/me"))["email"] == ADMIN_EMAIL
    assert data(server.api().get("/users/me", params={"access_token": token}))["email"] == ADMIN_EMAIL
    assert data(server.api(ADMIN_TOKEN).get("/users/me"))["email"] == ADMIN_EMAIL


def test_changed_or_removed_static_token_stops_working_at_once(server, admin):
    # static tokens are cached after a successful lookup; any change to the user forgets them
    info, _ = create_user_with_policy(admin)
    first, second = uniq("static-a"), uniq("static-b")
    data(admin.patch(f"/users/{info['user']}", {"token": first}))
    assert data(server.api(first).get("/users/me"))["id"] == info["user"]
    assert data(server.api(first).get("/users/me"))["id"] == info["user"]  # served from the cache
    data(admin.patch(f"/users/{info['user']}", {"token": second}))
    assert_error(server.api(first).get("/users/me"), 401, "INVALID_CREDENTIALS")
    assert data(server.api(second).get("/users/me"))["id"] == info["user"]
    data(admin.patch(f"/users/{info['user']}", {"status": "suspended"}))
    assert_error(server.api(second).get("/users/me"), 401, "INVALID_CREDENTIALS")


def test_token_in_query_and_header_at_once_is_invalid_payload(server):
    token = data(login(server.api()))["access_token"]
    r = server.api(token).get("/users/me", params={"access_token": token})
    assert_error(r, 400, "INVALID_PAYLOAD")


def test_users_me_without_token_is_invalid_credentials(anon):
    assert_error(anon.get("/users/me"), 401, "INVALID_CREDENTIALS")


def test_garbage_token_is_treated_as_unknown_static_token(server):
    # get-accountability-for-token.ts: not a Directus JWT → looked up as a static token → INVALID_CREDENTIALS 401
    assert_error(server.api("garbage").get("/users/me"), 401, "INVALID_CREDENTIALS")
    assert_error(server.api("garbage").get("/server/info"), 401, "INVALID_CREDENTIALS")


def test_jwt_with_wrong_signature_is_invalid_token(server):
    real = jwt_claims(data(login(server.api()))["access_token"])
    forged = make_hs256_jwt(real, b"not-the-secret-not-the-secret-32b")
    # utils/jwt.ts: JsonWebTokenError → InvalidTokenError, whose status is 403 (errors/invalid-token.ts)
    assert_error(server.api(forged).get("/users/me"), 403, "INVALID_TOKEN")


def test_jwt_without_role_claims_is_invalid_token(server):
    now = int(time.time())
    token = make_hs256_jwt({"id": "x", "iat": now, "exp": now + 60, "iss": "directus"}, b"whatever")
    assert_error(server.api(token).get("/users/me"), 403, "INVALID_TOKEN")


def test_users_me_masks_password_and_token(server):
    me = data(server.api(ADMIN_TOKEN).get("/users/me", params={"fields": "*"}))
    # payload.ts `conceal`: read → "**********" when set, null when empty
    assert me["password"] == MASK
    assert me["token"] == MASK  # the admin has ADMIN_TOKEN set
    assert ADMIN_PASSWORD not in str(me) and ADMIN_TOKEN not in str(me)


def test_users_list_never_reveals_password_hash(admin):
    users = data(admin.get("/users", params={"fields": "id,email,password,token", "limit": -1}))
    assert users
    for u in users:
        assert u["password"] in (MASK, None)
        assert u["token"] in (MASK, None)


# -- expiry (separate server with short TTLs) ------------------------------------------


@pytest.fixture(scope="module")
def short_ttl(server_factory):
    return server_factory({"ACCESS_TOKEN_TTL": "1s", "SESSION_REFRESH_GRACE_PERIOD": "1s"}, name="short-ttl")


def test_expired_access_token_is_token_expired(short_ttl):
    d = data(short_ttl.api().post("/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
    assert d["expires"] == 1000
    time.sleep(2.2)
    err = assert_error(short_ttl.api(d["access_token"]).get("/users/me"), 401, "TOKEN_EXPIRED")
    assert err["message"] == "Token expired."


def test_old_refresh_token_rejected_after_grace_period(short_ttl):
    api = short_ttl.api()
    first = data(api.post("/auth/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
    second = data(api.post("/auth/refresh", {"refresh_token": first["refresh_token"]}))
    time.sleep(2.2)
    assert_error(api.post("/auth/refresh", {"refresh_token": first["refresh_token"]}), 401, "INVALID_CREDENTIALS")
    # the successor still works
    data(api.post("/auth/refresh", {"refresh_token": second["refresh_token"]}))
