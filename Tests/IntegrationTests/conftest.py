"""Fixtures: a real `switchboard` server (bootstrap + serve) on a free 127.0.0.1 port.

- `server`: one shared server for the whole session (tests create uniquely named
  collections/users, so they stay independent).
- `server_factory`: start extra servers with additional env (e.g. ACCESS_TOKEN_TTL=1s);
  they are stopped at the end of the module that asked for them.
- `fresh_dir_server`: a not-yet-started server object (temp dir + env) for CLI tests.

On a failing test, the tail of every running server's log is attached to the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from harness import LIVE_SERVERS, Api, SwitchboardServer


@pytest.fixture(scope="session")
def server() -> Iterator[SwitchboardServer]:
    srv = SwitchboardServer(name="shared")
    try:
        srv.bootstrap()
        srv.start()
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture(scope="module")
def server_factory() -> Iterator[Callable[..., SwitchboardServer]]:
    started: list[SwitchboardServer] = []

    def start(extra_env: dict[str, str] | None = None, name: str = "extra") -> SwitchboardServer:
        srv = SwitchboardServer(extra_env, name=name)
        started.append(srv)
        srv.bootstrap()
        srv.start()
        return srv

    yield start
    for srv in started:
        srv.cleanup()


@pytest.fixture
def fresh_dir_server() -> Iterator[SwitchboardServer]:
    srv = SwitchboardServer(name="fresh")
    try:
        yield srv
    finally:
        srv.cleanup()


@pytest.fixture
def admin(server: SwitchboardServer) -> Api:
    """Authenticated as the bootstrap admin via the static ADMIN_TOKEN."""
    return server.admin()


@pytest.fixture
def anon(server: SwitchboardServer) -> Api:
    """No credentials at all (public policy)."""
    return server.api()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if report.failed and LIVE_SERVERS:
        for srv in list(LIVE_SERVERS):
            report.sections.append((f"switchboard log tail: {srv.name} ({srv.log_path})", srv.log_tail()))


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    """Counts the cluster tests measured (events, lost/dup/reordered, timings), shown on green runs too."""
    import sys

    kit = sys.modules.get("clusterkit")
    if kit is not None and kit.REPORT:
        terminalreporter.section("cluster report")
        for line in kit.REPORT:
            terminalreporter.write_line(line)
