"""The front door's own upgrade reader: WebSocket upgrades on /websocket are read from the raw
bytes (no HTTP/1.1 codec), whatever it does not take goes the general HTTP/1.1 way, and REST on the
same port is unchanged. Raw sockets, so the bytes on the wire are what is checked."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import time

import requests

from harness import ADMIN_TOKEN

KEY = base64.b64encode(os.urandom(16)).decode()
ACCEPT = base64.b64encode(hashlib.sha1((KEY + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()


def head(port: int, extra: str = "", path: str = "/websocket") -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n").encode()


def text_frame(text: str) -> bytes:
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.settimeout(10)
    return s


def read_until(s: socket.socket, marker: bytes, limit: int = 65536) -> bytes:
    data = b""
    deadline = time.monotonic() + 10
    while marker not in data and len(data) < limit and time.monotonic() < deadline:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def read_response(s: socket.socket) -> tuple[bytes, bytes]:
    data = read_until(s, b"\r\n\r\n")
    response, _, rest = data.partition(b"\r\n\r\n")
    return response, rest


def read_text_frames(s: socket.socket, rest: bytes, count: int) -> list[dict]:
    """COUNT unmasked server text frames (each under 126 bytes), reading after REST."""
    data, frames = rest, []
    deadline = time.monotonic() + 10
    while len(frames) < count and time.monotonic() < deadline:
        if len(data) >= 2 and len(data) >= 2 + (data[1] & 0x7F):
            assert data[0] == 0x81 and data[1] < 126, data[:8]
            frames.append(json.loads(data[2:2 + data[1]]))
            data = data[2 + data[1]:]
            continue
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return frames


AUTH = json.dumps({"type": "auth", "access_token": ADMIN_TOKEN})
OPENED = [{"type": "auth", "status": "ok"}, {"type": "pong", "uid": "p"}]


def authenticate_and_ping(s: socket.socket, rest: bytes, sent: bool = False) -> list[dict]:
    """Authenticates (unless the frames were SENT with the upgrade) and pings: the two answers."""
    if not sent:
        s.sendall(text_frame(AUTH) + text_frame('{"type":"ping","uid":"p"}'))
    return read_text_frames(s, rest, 2)


def test_the_101_is_exactly_what_the_http_codec_wrote(server):
    with connect(server.port) as s:
        s.sendall(head(server.port))
        response, rest = read_response(s)
        assert response.decode() == ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                     f"Sec-WebSocket-Accept: {ACCEPT}")
        assert authenticate_and_ping(s, rest) == OPENED


def test_an_upgrade_sent_a_byte_at_a_time_opens(server):
    with connect(server.port) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for byte in head(server.port):
            s.send(bytes([byte]))
        response, rest = read_response(s)
        assert response.startswith(b"HTTP/1.1 101 "), response
        assert authenticate_and_ping(s, rest) == OPENED


def test_frames_sent_with_the_upgrade_are_read(server):
    with connect(server.port) as s:
        s.sendall(head(server.port) + text_frame(AUTH) + text_frame('{"type":"ping","uid":"p"}'))
        response, rest = read_response(s)
        assert response.startswith(b"HTTP/1.1 101 "), response
        assert authenticate_and_ping(s, rest, sent=True) == OPENED


def test_unusual_upgrades_are_answered_by_the_general_path(server):
    # A header with a non-ASCII value is not the reader's: the HTTP codec's path opens it.
    with connect(server.port) as s:
        s.sendall(head(server.port, "X-Name: café\r\n"))
        response, rest = read_response(s)
        assert response.startswith(b"HTTP/1.1 101 "), response
        assert authenticate_and_ping(s, rest) == OPENED
    # Obsolete line folding: the HTTP codec refuses it (as it always did).
    with connect(server.port) as s:
        s.sendall(head(server.port, "X-Folded: a\r\n b\r\n"))
        response, _ = read_response(s)
        assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n"), response


def test_bad_upgrades_get_clear_answers(server):
    with connect(server.port) as s:
        s.sendall(head(server.port).replace(b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"))
        response, rest = read_response(s)
        assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n"), response
        assert b"Invalid WebSocket upgrade request." in rest + read_until(s, b"request.")
    with connect(server.port) as s:
        s.sendall(b"GET /websocket HTTP/1.1\r\nUpgrade: websocket\r\nX: \x01\r\n\r\n")
        response, _ = read_response(s)
        assert response.startswith(b"HTTP/1.1 4"), response
    with connect(server.port) as s:
        s.sendall(b"\x16\x03\x01\x00\xa5garbage\r\n\r\n")
        response, _ = read_response(s)
        assert response.startswith(b"HTTP/1.1 400"), response


def test_rest_on_the_same_port_keeps_its_connection(server):
    with requests.Session() as session:
        for _ in range(3):
            r = session.get(f"{server.base_url}/server/ping")
            assert r.status_code == 200 and r.text == "pong"
    # A GET on the realtime path without an upgrade is REST's.
    r = requests.get(f"{server.base_url}/websocket")
    assert r.status_code != 101
