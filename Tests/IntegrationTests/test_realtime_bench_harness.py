"""switchboard-bench against a real server: the harness's own client, workers and checker.

No timing is asserted (speed is measured by the bench, not by tests): only that every
scenario runs, counts what it should, and finds nothing lost, duplicated or reordered.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness import ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_TOKEN, REPO_ROOT, create_collection, uniq

ROOMS_FIELDS = [
    {"field": "text", "type": "string"},
    {"field": "room", "type": "integer"},
    {"field": "sent_at", "type": "bigInteger"},
]


def bench_binary() -> Path:
    explicit = os.environ.get("SWITCHBOARD_BENCH_BIN")
    if explicit:
        return Path(explicit)
    server = Path(os.environ.get("SWITCHBOARD_BIN", ".build/debug/switchboard"))
    if not server.is_absolute():
        server = REPO_ROOT / server
    return server.parent / "switchboard-bench"


@pytest.fixture(scope="module")
def bench_server(server_factory):
    if not bench_binary().exists():
        pytest.skip(f"{bench_binary()} not built (swift build --build-tests builds it)")
    return server_factory(name="bench")


@pytest.fixture
def collection(bench_server) -> str:
    name = uniq("bench")
    create_collection(bench_server.admin(), name, ROOMS_FIELDS)
    return name


def run_bench(server: Any, scenario: str, collection: str, tmp_path: Path, *args: str,
              credentials: list[str] | None = None) -> dict[str, Any]:
    out = tmp_path / f"{scenario}.json"
    html = tmp_path / f"{scenario}.html"
    cmd = [
        str(bench_binary()), scenario,
        "--ws", f"ws://127.0.0.1:{server.port}/websocket", "--rest", server.base_url,
        *(credentials or ["--token", ADMIN_TOKEN]), "--collection", collection, "--drain", "1",
        "--connect-timeout", "20", "--json", str(out), "--html", str(html), *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"})
    assert proc.returncode == 0, f"{scenario} failed: {proc.stderr[-2000:]}"
    report = json.loads(out.read_text())
    page = html.read_text()
    assert "<svg" in page and "<script" not in page
    return report


def assert_complete(r: dict[str, Any], clients: int) -> None:
    c = r["completeness"]
    assert r["connections"]["errors"] == 0 and r["connections"]["protocolErrors"] == 0, r["errors"]
    assert c["clients"] == clients and c["clientsComplete"] == clients, c
    assert (c["lost"], c["duplicates"], c["reordered"]) == (0, 0, 0), c
    assert r["writes"]["ok"] > 0 and r["writes"]["errors"] == 0, r["errors"]
    assert r["latencyMs"]["count"] == r["deliveries"]["total"] > 0


def test_fanout_every_subscriber_gets_every_write(bench_server, collection, tmp_path):
    r = run_bench(bench_server, "fanout", collection, tmp_path,
                  "--subscribers", "20", "--rate", "10", "--duration", "2s")
    assert_complete(r, 20)
    assert r["deliveries"]["total"] == r["writes"]["ok"] * 20


def test_filtered_subscribers_see_only_their_room(bench_server, collection, tmp_path):
    r = run_bench(bench_server, "filtered", collection, tmp_path,
                  "--subscribers", "12", "--filters", "4", "--rate", "12", "--duration", "2s")
    assert_complete(r, 12)
    # each write goes to one room of 4, each room has 3 subscribers
    assert r["deliveries"]["total"] == r["writes"]["ok"] * 3


def test_chat_writes_over_the_socket_and_everyone_reads_their_room(bench_server, collection, tmp_path):
    r = run_bench(bench_server, "chat", collection, tmp_path,
                  "--subscribers", "12", "--rooms", "3", "--rate", "10", "--duration", "2s")
    assert_complete(r, 12)
    assert r["deliveries"]["total"] == r["writes"]["ok"] * 4


def test_login_with_email_and_password(bench_server, collection, tmp_path):
    r = run_bench(bench_server, "fanout", collection, tmp_path, "--subscribers", "5", "--rate", "10",
                  "--duration", "1s", credentials=["--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD])
    assert_complete(r, 5)


def test_worker_processes_with_own_source_addresses(bench_server, collection, tmp_path):
    r = run_bench(bench_server, "fanout", collection, tmp_path,
                  "--subscribers", "10", "--rate", "10", "--duration", "2s", "--workers", "2")
    assert_complete(r, 10)
    assert any("2 worker processes" in n and "127.0.0.2" in n for n in r["notes"]), r["notes"]
    assert r["parameters"]["workers"] == "2"


def test_churn_and_idle_memory(bench_server, collection, tmp_path):
    churn = run_bench(bench_server, "churn", collection, tmp_path, "--subscribers", "4", "--duration", "2s")
    assert churn["connections"]["churnCycles"] > 0 and churn["connections"]["errors"] == 0
    idle = run_bench(bench_server, "idle", collection, tmp_path, "--subscribers", "30", "--duration", "1s",
                     "--pid", str(bench_server.proc.pid))
    m = idle["memory"]
    assert m["connections"] == 30 and m["loadedKiB"] > 0


def test_limits_are_named_not_hit_silently(bench_server, collection, tmp_path):
    r = run_bench(bench_server, "idle", collection, tmp_path, "--subscribers", "10", "--max-connections", "4",
                  "--duration", "1s")
    assert r["connections"]["subscribed"] == 4
    assert any("--max-connections 4" in n for n in r["notes"]), r["notes"]
