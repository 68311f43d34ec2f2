"""Start and talk to a real `switchboard` process on 127.0.0.1.

Used by conftest.py fixtures and directly by tests that need a server with
special settings. Every wait here is bounded in time and in iterations, and
all traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 15.0
CLI_TIMEOUT_S = 120.0
LOG_TAIL_LINES = 60

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password"
ADMIN_TOKEN = "admin-static-token"

# Directus 11's built-in public policy (api/src/database/migrations/20240806A-permissions-policies.ts).
PUBLIC_POLICY_ID = "abf8a154-5b1c-4a46-ac9c-7300570f4f17"
PUBLIC_POLICY_NAME = "$t:public_label"

#: every server started by this process and not yet stopped (for log tails on failure)
LIVE_SERVERS: list["SwitchboardServer"] = []


def binary_path() -> Path:
    raw = os.environ.get("SWITCHBOARD_BIN", ".build/debug/switchboard")
    path = Path(raw)
    if not path.is_absolute():
        path = REPO_ROOT / path
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def uniq(prefix: str) -> str:
    """A fresh lowercase identifier, so tests never collide on names."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:  # pragma: no cover - diagnostic only
        return f"<no log: {exc}>"
    return "\n".join(text.splitlines()[-lines:])


class SwitchboardServer:
    """One `switchboard serve` process with its own temp dir and SQLite file."""

    def __init__(self, extra_env: dict[str, str] | None = None, name: str = "server"):
        self.name = name
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"switchboard-{name}-"))
        self.log_path = self.dir / "server.log"
        self.env = {
            k: v
            for k, v in os.environ.items()
            # never leak a developer's own switchboard/directus settings into the test server
            if not k.startswith(("DB_", "REDIS", "WEBSOCKETS_", "MESSENGER_", "CACHE_", "RATE_LIMITER_"))
        }
        self.env.update(
            {
                "HOST": "127.0.0.1",
                "PORT": str(self.port),
                "PUBLIC_URL": self.base_url,
                "DB_CLIENT": "sqlite3",
                "DB_FILENAME": str(self.dir / "data.db"),
                "SECRET": "test-secret",
                "ADMIN_EMAIL": ADMIN_EMAIL,
                "ADMIN_PASSWORD": ADMIN_PASSWORD,
                "ADMIN_TOKEN": ADMIN_TOKEN,
                "LOG_LEVEL": "warn",
                "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost",
            }
        )
        pg = os.environ.get("SWITCHBOARD_TEST_PG")  # "host:port" of a PostgreSQL the tests may create databases in
        if pg:
            host, port = pg.rsplit(":", 1)
            database = f"sb_{uuid.uuid4().hex[:12]}"
            subprocess.run(
                ["createdb", "-h", host, "-p", port, "-U", "postgres", database], check=True, capture_output=True, timeout=30
            )
            self.env.update(
                {"DB_CLIENT": "pg", "DB_HOST": host, "DB_PORT": port, "DB_USER": "postgres", "DB_DATABASE": database}
            )
            self.env.pop("DB_FILENAME", None)
        self.env.update(extra_env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file = None

    # -- lifecycle -----------------------------------------------------------------

    def cli(self, *args: str, check: bool = True, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """Run `switchboard <args>` with this server's environment, cwd = its temp dir."""
        result = subprocess.run(
            [str(binary_path()), *args],
            cwd=self.dir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"--- switchboard {' '.join(args)} (exit {result.returncode})\n")
            log.write(result.stdout)
            log.write(result.stderr)
        if check and result.returncode != 0:
            raise AssertionError(
                f"`switchboard {' '.join(args)}` exited {result.returncode}\n"
                f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
            )
        return result

    def bootstrap(self) -> None:
        self.cli("bootstrap")

    def start(self) -> "SwitchboardServer":
        """Start `switchboard serve` and wait (≤ 30 s) for GET /server/ping → pong."""
        binary = binary_path()
        if not binary.exists():
            raise AssertionError(f"switchboard binary not found at {binary}; build it or set SWITCHBOARD_BIN")
        self._log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(binary), "serve"],
            cwd=self.dir,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        LIVE_SERVERS.append(self)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        last_error = "no attempt"
        for _ in range(int(STARTUP_TIMEOUT_S / 0.1) + 1):
            if self.proc.poll() is not None:
                self.stop()
                raise AssertionError(
                    f"switchboard serve exited with {self.proc.returncode} before answering /server/ping\n"
                    f"--- log tail ({self.log_path}):\n{tail(self.log_path)}"
                )
            try:
                r = requests.get(f"{self.base_url}/server/ping", timeout=1, proxies={"http": "", "https": ""})
                if r.status_code == 200 and r.text == "pong":
                    return self
                last_error = f"HTTP {r.status_code}: {r.text[:200]!r}"
            except requests.RequestException as exc:
                last_error = repr(exc)
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.stop()
        raise AssertionError(
            f"switchboard did not answer /server/ping within {STARTUP_TIMEOUT_S}s (last: {last_error})\n"
            f"--- log tail ({self.log_path}):\n{tail(self.log_path)}"
        )

    def stop(self) -> None:
        """Stop our own process only: SIGTERM, then SIGKILL after 10 s."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self in LIVE_SERVERS:
            LIVE_SERVERS.remove(self)

    def cleanup(self) -> None:
        self.stop()
        if os.environ.get("SWITCHBOARD_KEEP_TMP") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- clients -------------------------------------------------------------------

    def api(self, token: str | None = None) -> "Api":
        return Api(self.base_url, token)

    def admin(self) -> "Api":
        """An Api authenticated with the static ADMIN_TOKEN."""
        return Api(self.base_url, ADMIN_TOKEN)

    def log_tail(self) -> str:
        return tail(self.log_path)


class Api:
    """Minimal REST client: base URL + optional bearer token; returns `requests.Response`."""

    def __init__(self, base_url: str, token: str | None = None):
        self.base_url = base_url
        self.token = token
        self.session = requests.Session()
        self.session.trust_env = False  # never route 127.0.0.1 through a proxy

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out = dict(headers or {})
        if self.token and "Authorization" not in out:
            out["Authorization"] = f"Bearer {self.token}"
        return out

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", REQUEST_TIMEOUT_S)
        kw["headers"] = self._headers(kw.get("headers"))
        return self.session.request(method, self.base_url + path, **kw)

    def get(self, path: str, params: Any = None, **kw: Any) -> requests.Response:
        return self.request("GET", path, params=params, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> requests.Response:  # noqa: A002
        return self.request("POST", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> requests.Response:  # noqa: A002
        return self.request("PATCH", path, json=json, **kw)

    def delete(self, path: str, json: Any = None, **kw: Any) -> requests.Response:  # noqa: A002
        return self.request("DELETE", path, json=json, **kw)

    def as_token(self, token: str | None) -> "Api":
        return Api(self.base_url, token)

    def login(self, email: str, password: str) -> "Api":
        """Log in (json mode) and return an Api carrying the access token."""
        r = self.post("/auth/login", {"email": email, "password": password})
        assert r.status_code == 200, f"login {email}: {r.status_code} {r.text[:500]}"
        return Api(self.base_url, r.json()["data"]["access_token"])


# -- assertions ------------------------------------------------------------------------


def data(r: requests.Response, status: int = 200) -> Any:
    """Assert a Directus success response `{"data": …}` and return `data`."""
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:1500]}"
    body = r.json()
    assert isinstance(body, dict) and "data" in body, f"no data key: {body!r}"
    return body["data"]


def assert_error(r: requests.Response, status: int, code: str) -> dict[str, Any]:
    """Assert a Directus error response (api/src/middleware/error-handler.ts):
    `{"errors":[{"message": str, "extensions": {"code": CODE, …}}]}` with HTTP `status`."""
    assert r.status_code == status, f"expected {status} {code}, got {r.status_code}: {r.text[:1500]}"
    body = r.json()
    assert isinstance(body, dict) and isinstance(body.get("errors"), list) and body["errors"], body
    first = body["errors"][0]
    assert isinstance(first.get("message"), str) and first["message"], first
    assert first.get("extensions", {}).get("code") == code, f"expected code {code}: {body!r}"
    return first


def assert_no_content(r: requests.Response) -> None:
    assert r.status_code == 204, f"expected 204, got {r.status_code}: {r.text[:1000]}"
    assert r.content == b"", r.content[:200]


def jwt_claims(token: str) -> dict[str, Any]:
    """Decode (without verifying) a JWT's payload."""
    parts = token.split(".")
    assert len(parts) == 3, f"not a JWT: {token[:40]}…"
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))


def make_hs256_jwt(claims: dict[str, Any], secret: bytes) -> str:
    """Build an HS256 JWT (used to forge tokens with a wrong signature)."""
    import hashlib
    import hmac

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(sig)}"


# -- schema helpers --------------------------------------------------------------------

INT_PK = {
    "field": "id",
    "type": "integer",
    "meta": {"hidden": True, "readonly": True, "interface": "input"},
    "schema": {"is_primary_key": True, "has_auto_increment": True},
}


def create_collection(api: Api, name: str, fields: list[dict[str, Any]] | None = None,
                      pk: dict[str, Any] | None = None) -> dict[str, Any]:
    """POST /collections with Directus's payload shape; returns `data`."""
    payload = {
        "collection": name,
        "meta": {"icon": "chat", "note": None, "hidden": False, "singleton": False},
        "schema": {},
        "fields": [pk or INT_PK, *(fields or [])],
    }
    return data(api.post("/collections", payload))


def create_field(api: Api, collection: str, field: str, type_: str, **extra: Any) -> dict[str, Any]:
    body = {"field": field, "type": type_, **extra}
    return data(api.post(f"/fields/{collection}", body))


def owned_collection(admin: Api) -> str:
    """text, secret, status and user_created (special user-created): rows owned by their creator."""
    name = uniq("owned")
    create_collection(admin, name, [
        {"field": "text", "type": "text"},
        {"field": "secret", "type": "string"},
        {"field": "status", "type": "string"},
        {"field": "user_created", "type": "uuid", "meta": {"special": ["user-created"]}},
    ])
    return name


def messages_collection(api: Api, name: str | None = None) -> str:
    """The seeds' `messages` shape: id, text, date_created, user_created, user (m2o users)."""
    name = name or uniq("messages")
    create_collection(
        api,
        name,
        [
            {"field": "text", "type": "text"},
            {"field": "status", "type": "string"},
            {"field": "date_created", "type": "timestamp", "meta": {"special": ["date-created"]}},
            {"field": "user_created", "type": "uuid", "meta": {"special": ["user-created"]}},
        ],
    )
    create_field(api, name, "user", "uuid", meta={"special": ["m2o"], "interface": "select-dropdown-m2o"})
    data(api.post("/relations", {"collection": name, "field": "user", "related_collection": "directus_users"}))
    return name


def create_user_with_policy(admin: Api, *, app_access: bool = True,
                            permissions: list[dict[str, Any]] | None = None) -> tuple[dict[str, str], Api]:
    """Role + policy (+ permissions) + user; returns ({role, policy, user, email, password}, logged-in Api)."""
    role = data(admin.post("/roles", {"name": uniq("role")}))["id"]
    policy = data(admin.post("/policies", {"name": uniq("policy"), "admin_access": False,
                                           "app_access": app_access}))["id"]
    data(admin.post("/access", {"role": role, "policy": policy}))
    for perm in permissions or []:
        data(admin.post("/permissions", {"policy": policy, **perm}))
    email = f"{uniq('user')}@example.com"
    password = "pw-" + uuid.uuid4().hex[:12]
    user = data(admin.post("/users", {"email": email, "password": password, "role": role}))["id"]
    info = {"role": role, "policy": policy, "user": user, "email": email, "password": password}
    return info, Api(admin.base_url).login(email, password)


def public_policy_id(admin: Api) -> str:
    """The policy attached through a `directus_access` row with role = null and user = null
    (api/src/permissions/lib/fetch-policies.ts: that is how Directus 11 finds the public policy)."""
    rows = data(admin.get("/access", params={"filter": json.dumps(
        {"_and": [{"role": {"_null": True}}, {"user": {"_null": True}}]}), "fields": "policy"}))
    assert len(rows) == 1, f"expected exactly one public access row, got {rows!r}"
    policy = rows[0]["policy"]
    return policy["id"] if isinstance(policy, dict) else policy
