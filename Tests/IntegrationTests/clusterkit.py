"""Real processes for the cluster tests (test_cluster.py): a throwaway PostgreSQL, a
redis-server that can be SIGKILLed and restarted, N `switchboard serve` replicas sharing
both, and an nginx load balancer rendered from deploy/nginx.conf.

Everything listens on 127.0.0.1 only; every wait is bounded in time and iterations, and
only processes started here are ever signalled (by their own pid).
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from collections.abc import Iterator
from typing import Any, Callable

import pytest
import requests
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from consistency import keys_of, stream_faults  # noqa: F401 - re-exported for older callers
from harness import ADMIN_TOKEN, REPO_ROOT, Api, SwitchboardServer, free_port, tail
from waits import wait_until  # noqa: F401 - the tests import it from here

#: lines printed in pytest's terminal summary (conftest.py) — counts worth seeing on green runs
REPORT: list[str] = []

WAIT_S = 30.0


def report(line: str) -> None:
    REPORT.append(line)
    print(line)


def missing_tools() -> list[str]:
    """The system programs these tests need and that are not installed."""
    out = [t for t in ("redis-server", "redis-cli", "nginx") if shutil.which(t) is None]
    if not os.environ.get("SWITCHBOARD_TEST_PG") and not pg_bindir():
        out.append("postgresql (initdb)")
    if shutil.which("createdb") is None and not pg_bindir():
        out.append("createdb")
    return out


def pg_bindir() -> str | None:
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name.split(".")[0]))
    return dirs[-1] if dirs else None


# -- PostgreSQL ------------------------------------------------------------------------------


class Postgres:
    """A PostgreSQL the tests may create databases in: SWITCHBOARD_TEST_PG=host:port when set,
    otherwise a throwaway cluster (initdb) in a temp dir, run as `postgres` when we are root."""

    def __init__(self, durable_commits: bool = False) -> None:
        """`durable_commits`: synchronous_commit=on, so that a commit acknowledged to a client survives
        the server process dying (the chaos suite kills it); the other tests trade that for speed.
        fsync stays off either way: only processes die here, never the machine."""
        self.dir: Path | None = None
        self.owned = False
        self.durable_commits = durable_commits
        given = os.environ.get("SWITCHBOARD_TEST_PG")
        if given:
            self.host, port = given.rsplit(":", 1)
            self.port = int(port)
        else:
            self.host, self.port = "127.0.0.1", free_port()

    @staticmethod
    def _as_pg(cmd: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd

    def start(self) -> "Postgres":
        if os.environ.get("SWITCHBOARD_TEST_PG"):
            return self
        bindir = pg_bindir()
        assert bindir, "PostgreSQL binaries not found under /usr/lib/postgresql/*/bin"
        self.dir = Path(tempfile.mkdtemp(prefix="switchboard-pg-"))
        os.chmod(self.dir, 0o755)
        data = self.dir / "data"
        data.mkdir(mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            shutil.chown(data, "postgres")
        subprocess.run(self._as_pg([f"{bindir}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust",
                                    "-E", "UTF8", "--no-locale"]), check=True, capture_output=True, timeout=120)
        self.owned = True
        self._opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=200 "
                      f"-c fsync=off -c synchronous_commit={'on' if self.durable_commits else 'off'} "
                      f"-c full_page_writes=off")
        self._pg_ctl("start", "-o", self._opts)
        return self

    def _pg_ctl(self, *args: str) -> None:
        assert self.dir is not None
        subprocess.run(self._as_pg([f"{pg_bindir()}/pg_ctl", "-D", str(self.dir / "data"), "-l", str(self.dir / "pg.log"),
                                    "-w", "-t", "60", *args]), check=True, capture_output=True, timeout=90)

    def stop_immediate(self) -> None:
        """`pg_ctl stop -m immediate`: every backend dies at once, as in a crash (owned clusters only)."""
        assert self.owned, "only a PostgreSQL started here can be stopped"
        self._pg_ctl("stop", "-m", "immediate")

    def start_again(self) -> None:
        """Starts the stopped cluster on the same port and data (crash recovery runs first)."""
        assert self.owned
        self._pg_ctl("start", "-o", self._opts)

    def createdb(self, name: str) -> None:
        tool = shutil.which("createdb") or f"{pg_bindir()}/createdb"
        subprocess.run([tool, "-h", self.host, "-p", str(self.port), "-U", "postgres", name],
                       check=True, capture_output=True, timeout=30)

    def stop(self) -> None:
        if not self.owned or self.dir is None:
            return
        self.owned = False
        try:
            subprocess.run(self._as_pg([f"{pg_bindir()}/pg_ctl", "-D", str(self.dir / "data"), "-m", "fast", "-w",
                                        "-t", "30", "stop"]), capture_output=True, timeout=45)
        finally:
            if os.environ.get("SWITCHBOARD_KEEP_TMP") != "1":
                shutil.rmtree(self.dir, ignore_errors=True)


def stop_process(proc: subprocess.Popen[bytes] | None, workdir: Path) -> None:
    """SIGTERM a process started here (SIGKILL after 10 s), then remove its directory."""
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    if os.environ.get("SWITCHBOARD_KEEP_TMP") != "1":
        shutil.rmtree(workdir, ignore_errors=True)


# -- Redis -----------------------------------------------------------------------------------


class Redis:
    """Our own redis-server (no persistence). `kill()` is SIGKILL; `start()` again reuses the port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="switchboard-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}"

    def start(self) -> "Redis":
        log = open(self.dir / "redis.log", "ab")
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.dir), "--pidfile", str(self.dir / "redis.pid")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        wait_until(lambda: self.cli("PING", check=False) == "PONG", 15, 0.05, "redis PING")
        return self

    def cli(self, *args: str, check: bool = True) -> str:
        r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *args],
                           capture_output=True, text=True, timeout=10)
        if check:
            assert r.returncode == 0, f"redis-cli {args}: {r.returncode} {r.stderr}"
        return r.stdout.strip()

    def channels(self, pattern: str = "*") -> set[str]:
        out = self.cli("PUBSUB", "CHANNELS", pattern)
        return {line for line in out.splitlines() if line}

    def numsub(self, channel: str) -> int:
        lines = self.cli("PUBSUB", "NUMSUB", channel).splitlines()
        return int(lines[1]) if len(lines) >= 2 else 0

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def freeze(self) -> None:
        """SIGSTOP: connections stay open and nothing answers (a partition, a stuck failover)."""
        assert self.proc is not None and self.proc.poll() is None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        self.thaw()
        stop_process(self.proc, self.dir)


# -- nginx -----------------------------------------------------------------------------------


def render_nginx(template: str, listen: str, upstreams: list[str]) -> str:
    """deploy/nginx.conf with {{LISTEN}} / {{UPSTREAM_SERVERS}} filled in (not in comments)."""
    servers = "\n        ".join(f"server {u} max_fails=1 fail_timeout=5s;" for u in upstreams)
    out = []
    for line in template.splitlines(keepends=True):
        if not line.lstrip().startswith("#"):
            line = line.replace("{{UPSTREAM_SERVERS}}", servers).replace("{{LISTEN}}", listen)
        out.append(line)
    return "".join(out)


class Nginx:
    def __init__(self, upstream_ports: list[int], port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="switchboard-nginx-"))
        os.chmod(self.dir, 0o755)
        (self.dir / "logs").mkdir()
        (self.dir / "temp").mkdir()
        template = (REPO_ROOT / "deploy" / "nginx.conf").read_text()
        (self.dir / "nginx.conf").write_text(
            render_nginx(template, f"127.0.0.1:{self.port}", [f"127.0.0.1:{p}" for p in upstream_ports]))
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "Nginx":
        args = ["nginx", "-p", f"{self.dir}/", "-e", "logs/error.log", "-c", "nginx.conf"]
        check = subprocess.run([*args, "-t", "-q"], capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, f"nginx -t: {check.stderr}"
        self.proc = subprocess.Popen([*args, "-g", "daemon off;"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

        def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, \
                f"nginx exited: {tail(self.dir / 'logs' / 'error.log')}"
            try:
                return requests.get(f"{self.base_url}/lb/health", timeout=1,
                                    proxies={"http": "", "https": ""}).status_code == 200
            except requests.RequestException:
                return False

        wait_until(up, 15, 0.05, "nginx /lb/health")
        return self

    def stop(self) -> None:
        stop_process(self.proc, self.dir)


# -- replicas ----------------------------------------------------------------------------------


def make_replica(name: str, env: dict[str, str]) -> SwitchboardServer:
    """A SwitchboardServer on the shared database in `env` (never a database of its own)."""
    saved = os.environ.pop("SWITCHBOARD_TEST_PG", None)  # harness would create one per server
    try:
        return SwitchboardServer(env, name=name)
    finally:
        if saved is not None:
            os.environ["SWITCHBOARD_TEST_PG"] = saved


def health(server: Any) -> tuple[int, Any]:
    """/server/health as an admin sees it (the public gets only {status}, as in Directus)."""
    try:
        r = requests.get(f"{server.base_url}/server/health", timeout=2, proxies={"http": "", "https": ""},
                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    except requests.RequestException as exc:
        return 0, repr(exc)
    try:
        return r.status_code, r.json()
    except ValueError:
        return r.status_code, r.text


def redis_state(server: Any) -> str | None:
    code, body = health(server)
    if not isinstance(body, dict):
        return None
    try:
        return body["checks"]["messenger:redis"][0]["observedValue"]
    except (KeyError, IndexError, TypeError):
        return None


class Cluster:
    """N replicas sharing one PostgreSQL database and one redis-server, plus nginx."""

    def __init__(self, pg: Postgres, redis: Redis, n: int = 3, extra_env: dict[str, str] | None = None):
        self.pg, self.redis = pg, redis
        self.namespace = f"sbt{uuid.uuid4().hex[:8]}"
        self.database = f"sbcluster_{uuid.uuid4().hex[:10]}"
        self.env = {
            "DB_CLIENT": "pg", "DB_HOST": pg.host, "DB_PORT": str(pg.port), "DB_USER": "postgres",
            "DB_DATABASE": self.database,
            # a broker with `env` (Sentinel) says itself how replicas reach it
            **getattr(redis, "env", {"WEBSOCKETS_BROKER_URL": redis.url}), "MESSENGER_NAMESPACE": self.namespace,
            "SECRET": "cluster-test-secret-" + uuid.uuid4().hex,
            "LOG_LEVEL": "info", "LOG_STYLE": "raw",
            **(extra_env or {}),
        }
        self.replicas = [make_replica(f"replica{i + 1}", dict(self.env)) for i in range(n)]
        #: the load balancer's port, known before anything starts (a replica's PUBLIC_URL may name it)
        self.lb_port = free_port()
        #: `switchboard` CLI commands run once after bootstrap, before any replica serves
        self.seed: list[tuple[str, ...]] = []
        self.nginx: Nginx | None = None

    def start(self) -> "Cluster":
        self.pg.createdb(self.database)
        self.replicas[0].bootstrap()  # once, before any replica serves
        for args in self.seed:
            self.replicas[0].cli(*args)
        errors: list[BaseException] = []

        def run(srv: SwitchboardServer) -> None:
            try:
                srv.start()
            except BaseException as exc:  # noqa: BLE001 - re-raised below
                errors.append(exc)

        import threading

        threads = [threading.Thread(target=run, args=(s,)) for s in self.replicas]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        if errors:
            raise errors[0]
        for srv in self.replicas:
            wait_until(lambda s=srv: redis_state(s) == "connected", 15, 0.1, f"{srv.name} connected to Redis")
        self.nginx = Nginx([s.port for s in self.replicas], self.lb_port).start()
        return self

    def stop(self) -> None:
        if self.nginx:
            self.nginx.stop()
        for srv in self.replicas:
            srv.cleanup()

    def admin(self, i: int) -> Api:
        return self.replicas[i].admin()

    @property
    def lb(self) -> Api:
        assert self.nginx
        return Api(self.nginx.base_url, "admin-static-token")


def running_cluster(what: str, extra_env: dict[str, str],
                    prepare: Callable[[Cluster], None] | None = None, replicas: int = 3,
                    broker: Callable[[], Any] = Redis) -> Iterator[Cluster]:
    """Body of a module fixture: PostgreSQL + a broker (`Redis()` unless given: anything with
    `start()`, `stop()` and `url`) + `replicas` replicas + nginx, torn down after.
    Skips (or fails, with SWITCHBOARD_REQUIRE_CLUSTER=1) when a tool is missing."""
    missing = missing_tools()
    if missing:
        message = f"{what} tests need: {', '.join(missing)} (scripts/test installs them)"
        if os.environ.get("SWITCHBOARD_REQUIRE_CLUSTER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    started = time.monotonic()
    pg, redis = Postgres(), broker()
    cl: Cluster | None = None
    try:
        pg.start()
        redis.start()
        cl = Cluster(pg, redis, replicas, extra_env)
        if prepare:
            prepare(cl)
        cl.start()
        report(f"{what}: PostgreSQL + {type(redis).__name__} + {replicas} replicas + nginx up in "
               f"{time.monotonic() - started:.1f}s")
        yield cl
    finally:
        if cl is not None:
            cl.stop()
        redis.stop()
        pg.stop()


def run(coro: Any, timeout: float) -> Any:
    """Runs a coroutine to completion, bounded by `timeout` seconds."""
    async def main() -> Any:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(main())


def visible_everywhere(cl: Cluster, collection: str, timeout: float) -> float:
    """Wait until every running replica serves /items/<collection>; returns the seconds it took."""
    t0 = time.monotonic()
    for i, srv in enumerate(cl.replicas):
        if srv.proc is None or srv.proc.poll() is not None:
            continue
        wait_until(lambda i=i: cl.admin(i).get(f"/items/{collection}", params={"limit": 1}).status_code == 200,
                   timeout, 0.02, f"{collection} on replica {i + 1}")
    return time.monotonic() - t0


# -- a realtime client with a background reader ------------------------------------------------


class Client:
    """A realtime socket whose frames are read continuously in the background (answering the
    server's `ping` with `pong`, as the SDK does), so no test loses a heartbeat while it waits
    on something else. Frames are kept in `frames`; waits are bounded."""

    def __init__(self, conn: ClientConnection, name: str = "client"):
        self.conn = conn
        self.name = name
        self.frames: list[Any] = []
        self.pings = 0
        self.close_code: int | None = None
        self.closed = asyncio.Event()
        self._new = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str, name: str = "client") -> "Client":
        conn = await asyncio.wait_for(
            connect(url, proxy=None, compression=None, ping_interval=None, open_timeout=5, close_timeout=2,
                    max_size=16 * 1024 * 1024, max_queue=None), 6)
        return cls(conn, name)

    async def _read(self) -> None:
        try:
            async for raw in self.conn:
                frame = json.loads(raw)
                if frame == {"type": "ping"}:
                    self.pings += 1
                    await self.conn.send('{"type":"pong"}')
                    continue
                self.frames.append(frame)
                self._received(frame)
                self._new.set()
        except ConnectionClosed:
            pass
        finally:
            rcvd = self.conn.protocol.close_rcvd
            self.close_code = rcvd.code if rcvd else self.conn.close_code
            self.closed.set()
            self._new.set()

    def _received(self, frame: Any) -> None:
        """Called for every non-ping frame as it arrives (subclasses record more)."""

    async def send(self, obj: Any) -> None:
        await self.conn.send(json.dumps(obj))

    async def wait_for(self, pred: Callable[[Any], bool], timeout: float = 5.0, start: int = 0) -> Any:
        deadline = time.monotonic() + timeout
        index = start
        for _ in range(1_000_000):
            self._new.clear()
            while index < len(self.frames):
                frame = self.frames[index]
                index += 1
                if pred(frame):
                    return frame
            if self.closed.is_set():
                raise AssertionError(f"{self.name}: closed ({self.close_code}) before a matching frame; "
                                     f"last frames: {self.frames[-5:]!r}")
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                await asyncio.wait_for(self._new.wait(), left)
            except asyncio.TimeoutError:
                break
        raise AssertionError(f"{self.name}: no matching frame within {timeout}s; last frames: {self.frames[-5:]!r}")

    async def request(self, msg: dict[str, Any], timeout: float = 5.0) -> Any:
        """Send a frame with a fresh uid and return the reply carrying that uid."""
        uid = msg.get("uid") or uuid.uuid4().hex[:8]
        msg = {**msg, "uid": uid}
        start = len(self.frames)
        await self.send(msg)
        return await self.wait_for(lambda f: f.get("uid") == uid and f.get("type") == msg["type"]
                                   or (f.get("uid") == uid and f.get("status") == "error"), timeout, start)

    async def auth(self, token: str) -> None:
        start = len(self.frames)
        await self.send({"type": "auth", "access_token": token})
        reply = await self.wait_for(lambda f: f.get("type") == "auth", 5, start)
        assert reply == {"type": "auth", "status": "ok"}, f"{self.name} auth: {reply!r}"

    async def subscribe(self, collection: str, uid: str, **extra: Any) -> Any:
        start = len(self.frames)
        await self.send({"type": "subscribe", "collection": collection, "uid": uid, **extra})
        reply = await self.wait_for(lambda f: f.get("uid") == uid, 5, start)
        assert reply.get("type") == "subscription" and reply.get("event") == "init", f"{self.name}: {reply!r}"
        return reply

    def events(self, uid: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f.get("type") == "subscription" and f.get("uid") == uid
                and f.get("event") in ("create", "update", "delete")]

    async def wait_events(self, uid: str, count: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        for _ in range(1_000_000):
            if len(self.events(uid)) >= count or self.closed.is_set():
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._new.clear()
            if len(self.events(uid)) >= count:
                break
            try:
                await asyncio.wait_for(self._new.wait(), min(left, 0.5))
            except asyncio.TimeoutError:
                pass
        return self.events(uid)

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.conn.close(), 3)
        except (asyncio.TimeoutError, ConnectionClosed, OSError):
            pass
        self._reader.cancel()
        try:
            await self._reader
        except (asyncio.CancelledError, Exception):  # noqa: BLE001
            pass


def ws_url_of(base_url: str) -> str:
    return base_url.replace("http://", "ws://", 1) + "/websocket"
