"""A small asyncio client for the realtime endpoint (PROTOCOL.md), used by test_realtime_*.py.

Every wait is bounded (default RECV_TIMEOUT_S) and all traffic goes to 127.0.0.1.
pytest-asyncio is not installed: tests are plain functions decorated with `run_async`,
which runs the coroutine with `asyncio.run` under an overall time limit.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import time
from typing import Any, Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

RECV_TIMEOUT_S = 5.0
QUIET_S = 0.4
TEST_TIMEOUT_S = 40.0

#: sockets opened by the running test (closed when it ends)
_OPEN: list["WS"] = []


def run_async(fn: Callable[..., Any] | None = None, *, timeout: float = TEST_TIMEOUT_S) -> Any:
    """Decorator: run an `async def` test with asyncio.run, bounded by `timeout` seconds."""

    def deco(f: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            async def main() -> Any:
                _OPEN.clear()
                try:
                    return await asyncio.wait_for(f(*args, **kwargs), timeout)
                finally:
                    # never leave a socket behind (a failing test would otherwise make the
                    # server wait for close handshakes nobody answers)
                    for ws in list(_OPEN):
                        await ws.close()
                    _OPEN.clear()

            return asyncio.run(main())

        wrapper.__signature__ = inspect.signature(f)  # type: ignore[attr-defined]
        return wrapper

    return deco(fn) if fn is not None else deco


def ws_url(server: Any, query: str = "", path: str = "/websocket") -> str:
    url = f"ws://127.0.0.1:{server.port}{path}"
    return f"{url}?{query}" if query else url


class WS:
    """One realtime connection. `recv` skips server `{"type":"ping"}` frames unless asked not to
    (and, when `auto_pong` is set, answers them like the SDK does)."""

    def __init__(self, conn: ClientConnection, auto_pong: bool = True):
        self.conn = conn
        self.auto_pong = auto_pong
        self.pings_seen = 0
        self.log: list[Any] = []  # every frame received, for failure messages

    # -- sending -------------------------------------------------------------------

    async def send(self, obj: Any) -> None:
        await self.conn.send(json.dumps(obj))

    async def send_raw(self, payload: str | bytes) -> None:
        await self.conn.send(payload)

    # -- receiving -----------------------------------------------------------------

    async def recv_any(self, timeout: float = RECV_TIMEOUT_S) -> Any:
        """Next frame, decoded as JSON (pings included). AssertionError on timeout or close."""
        try:
            raw = await asyncio.wait_for(self.conn.recv(), timeout)
        except asyncio.TimeoutError:
            raise AssertionError(f"no frame within {timeout}s; frames so far: {self.log!r}") from None
        except ConnectionClosed as exc:
            raise AssertionError(f"socket closed ({exc.rcvd and exc.rcvd.code}) while waiting for a frame; "
                                 f"frames so far: {self.log!r}") from None
        assert isinstance(raw, str), f"expected a text frame, got {type(raw).__name__}: {raw[:200]!r}"
        frame = json.loads(raw)
        self.log.append(frame)
        return frame

    async def recv(self, timeout: float = RECV_TIMEOUT_S, skip_pings: bool = True) -> Any:
        deadline = time.monotonic() + timeout
        for _ in range(10_000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            frame = await self.recv_any(left)
            if skip_pings and frame == {"type": "ping"}:
                self.pings_seen += 1
                if self.auto_pong:
                    await self.send({"type": "pong"})
                continue
            return frame
        raise AssertionError(f"no non-ping frame within {timeout}s; frames so far: {self.log!r}")

    async def recv_until(self, pred: Callable[[Any], bool], timeout: float = RECV_TIMEOUT_S) -> tuple[Any, list[Any]]:
        """Read until a frame matches `pred`; returns (that frame, frames skipped before it)."""
        deadline = time.monotonic() + timeout
        skipped: list[Any] = []
        for _ in range(100_000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            frame = await self.recv(left)
            if pred(frame):
                return frame, skipped
            skipped.append(frame)
        raise AssertionError(f"no matching frame within {timeout}s; skipped: {skipped!r}")

    async def collect(self, quiet: float = QUIET_S, max_total: float = RECV_TIMEOUT_S,
                      max_frames: int = 100_000) -> list[Any]:
        """Every non-ping frame until the socket has been quiet for `quiet` s (at most `max_total` s)."""
        out: list[Any] = []
        deadline = time.monotonic() + max_total
        while len(out) < max_frames:
            left = min(quiet, deadline - time.monotonic())
            if left <= 0:
                break
            try:
                raw = await asyncio.wait_for(self.conn.recv(), left)
            except asyncio.TimeoutError:
                break
            except ConnectionClosed:
                break
            frame = json.loads(raw) if isinstance(raw, str) else raw
            self.log.append(frame)
            if frame == {"type": "ping"}:
                self.pings_seen += 1
                if self.auto_pong:
                    await self.send({"type": "pong"})
                continue
            out.append(frame)
        return out

    async def expect_silence(self, quiet: float = QUIET_S) -> None:
        frames = await self.collect(quiet=quiet, max_total=quiet)
        assert frames == [], f"expected no frames, got {frames!r}"

    async def expect_close(self, timeout: float = RECV_TIMEOUT_S) -> tuple[int | None, list[Any]]:
        """Wait until the server closes; returns (close code, frames received before the close)."""
        frames: list[Any] = []
        deadline = time.monotonic() + timeout
        for _ in range(100_000):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                raw = await asyncio.wait_for(self.conn.recv(), left)
            except asyncio.TimeoutError:
                break
            except ConnectionClosed as exc:
                return (exc.rcvd.code if exc.rcvd else None), frames
            frame = json.loads(raw) if isinstance(raw, str) else raw
            self.log.append(frame)
            frames.append(frame)
        raise AssertionError(f"socket not closed within {timeout}s; frames: {frames!r}")

    @property
    def is_open(self) -> bool:
        from websockets.protocol import State

        return self.conn.state is State.OPEN

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.conn.close(), 3)
        except (asyncio.TimeoutError, ConnectionClosed, OSError):
            pass
        if self in _OPEN:
            _OPEN.remove(self)

    # -- protocol shortcuts ----------------------------------------------------------

    async def auth(self, token: str = "admin-static-token", uid: Any = None) -> Any:
        msg: dict[str, Any] = {"type": "auth", "access_token": token}
        if uid is not None:
            msg["uid"] = uid
        await self.send(msg)
        return await self.recv()

    async def subscribe(self, collection: str, uid: Any = None, **extra: Any) -> Any:
        """Send subscribe and return the first reply (normally the `init` frame)."""
        msg: dict[str, Any] = {"type": "subscribe", "collection": collection, **extra}
        if uid is not None:
            msg["uid"] = uid
        await self.send(msg)
        return await self.recv()

    async def items(self, collection: str, action: str, uid: Any = None, **extra: Any) -> Any:
        msg: dict[str, Any] = {"type": "items", "collection": collection, "action": action, **extra}
        if uid is not None:
            msg["uid"] = uid
        await self.send(msg)
        return await self.recv()


async def open_ws(server: Any, query: str = "", *, headers: dict[str, str] | None = None,
                  origin: str | None = None, max_size: int | None = 16 * 1024 * 1024,
                  max_queue: int | None = 4096, auto_pong: bool = True, path: str = "/websocket",
                  subprotocols: list[str] | None = None) -> WS:
    conn = await asyncio.wait_for(
        connect(ws_url(server, query, path), additional_headers=headers, origin=origin, proxy=None,
                subprotocols=subprotocols,  # type: ignore[arg-type]
                compression=None, ping_interval=None, open_timeout=RECV_TIMEOUT_S, close_timeout=2,
                max_size=max_size, max_queue=max_queue),
        RECV_TIMEOUT_S + 1,
    )
    ws = WS(conn, auto_pong=auto_pong)
    _OPEN.append(ws)
    return ws


async def authed(server: Any, token: str = "admin-static-token", uid: Any = None) -> WS:
    """Open a socket and complete the handshake with `token` (asserts `auth ok`)."""
    ws = await open_ws(server)
    reply = await ws.auth(token, uid=uid)
    expected = {"type": "auth", "status": "ok"}
    if uid is not None:
        expected["uid"] = uid
    assert reply == expected, f"auth: expected {expected!r}, got {reply!r}"
    return ws


async def upgrade_status(server: Any, query: str = "", *, headers: dict[str, str] | None = None,
                         origin: str | None = None) -> int | WS:
    """Try an upgrade: the HTTP status of a refused upgrade, or the open WS."""
    try:
        return await open_ws(server, query, headers=headers, origin=origin)
    except InvalidStatus as exc:
        return exc.response.status_code


async def in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a blocking (REST) call without stalling the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def error_frame(type_: str, code: str, uid: Any = None) -> Callable[[Any], bool]:
    def pred(f: Any) -> bool:
        return (isinstance(f, dict) and f.get("type") == type_ and f.get("status") == "error"
                and f.get("error", {}).get("code") == code and (uid is None or f.get("uid") == uid))

    return pred


def assert_error_frame(frame: Any, type_: str, code: str, uid: Any = None, message: str | None = None) -> None:
    """`{"type":T,"status":"error","error":{"code":C,"message":str},"uid"?}` exactly."""
    assert isinstance(frame, dict), frame
    expected_keys = {"type", "status", "error"} | ({"uid"} if uid is not None else set())
    assert set(frame) == expected_keys, f"keys {sorted(frame)} != {sorted(expected_keys)}: {frame!r}"
    assert frame["type"] == type_ and frame["status"] == "error", frame
    assert frame["error"]["code"] == code, f"expected {code}: {frame!r}"
    assert isinstance(frame["error"].get("message"), str) and frame["error"]["message"], frame
    if message is not None:
        assert frame["error"]["message"] == message, frame
    if uid is not None:
        assert frame["uid"] == uid, frame
