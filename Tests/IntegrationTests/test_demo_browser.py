"""The demo chat page (DEMO_ENABLED=true) in a real browser: Debian's headless `chromium`, driven
by `chromium-driver` through Selenium, against the cluster kit (3 replicas + redis-server +
PostgreSQL + nginx; see clusterkit.py), seeded with Config/schema.yaml as scripts/run seeds a
single node.

- page A is opened at replica 1's own address and signs in as the admin; page B is opened at
  replica 2's own address and stays a guest; each sees the other in its presence list
- a message typed in one page appears in the other
- replica 2 is stopped (SIGTERM: its sockets get 1001) while messages keep coming: page B falls
  back to PUBLIC_URL (nginx, which routes to a live replica), resumes with `after`, and shows
  every message exactly once, in order, the ones posted while it was away included

How a page reaches another replica: its socket goes to the server that served it; when that one
is gone (or closes with 1001, draining) it goes to PUBLIC_URL, the fleet's address, written into
the page. Here PUBLIC_URL is nginx's URL and CORS_ORIGIN lists the replicas' own origins, so the
other replicas accept the page's `Origin` (opened at PUBLIC_URL, as in production, no list is
needed).

Screenshots of both pages (and chromedriver logs) are saved to $SWITCHBOARD_TEST_ARTIFACTS/
demo-browser/ when that variable is set, otherwise to this test's pytest tmp dir; the report
line names the directory. The browser and its driver are installed (apt-get) when missing; the
module skips only if that fails too.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clusterkit import Cluster, report, running_cluster, visible_everywhere, wait_until
from harness import ADMIN_EMAIL, ADMIN_PASSWORD, REPO_ROOT, Api, SwitchboardServer, data

pytestmark = pytest.mark.cluster

PAGE_WAIT_S = 15.0
INSTALL_TIMEOUT_S = 600


# -- the browser, installed when missing ----------------------------------------------------------


def _find_browser() -> tuple[str | None, str | None]:
    return shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")


def _as_root(cmd: list[str]) -> list[str] | None:
    if os.geteuid() == 0:
        return cmd
    return ["sudo", "-n", *cmd] if shutil.which("sudo") else None


def browser_tools() -> tuple[str, str] | str:
    """(chromium, chromedriver), installing Debian's packages when missing; or why there are none."""
    browser, driver = _find_browser()
    if browser and driver:
        return browser, driver
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = _as_root(["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"])
    update = _as_root(["apt-get", "update", "-qq"])
    if install is None or update is None:
        return "chromium / chromium-driver are not installed and there is no root or sudo to install them"
    try:
        if subprocess.run(install, capture_output=True, timeout=INSTALL_TIMEOUT_S, env=env).returncode != 0:
            subprocess.run(update, capture_output=True, timeout=INSTALL_TIMEOUT_S, env=env)
            subprocess.run(install, capture_output=True, timeout=INSTALL_TIMEOUT_S, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not install chromium / chromium-driver: {exc!r}"
    browser, driver = _find_browser()
    if browser and driver:
        return browser, driver
    return "chromium / chromium-driver are not installed and `apt-get install chromium chromium-driver` failed"


def selenium_module() -> Any:
    """The selenium package, installed with pip when missing; None when it cannot be had."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        try:
            subprocess.run(["python3", "-m", "pip", "install", "-q", "--break-system-packages", "selenium"],
                           capture_output=True, timeout=INSTALL_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired):
            return None
    try:
        import selenium.webdriver

        return selenium.webdriver
    except ImportError:
        return None


@pytest.fixture(scope="module")
def webdriver_kit() -> tuple[Any, str, str]:
    tools = browser_tools()
    if isinstance(tools, str):
        pytest.skip(tools)
    webdriver = selenium_module()
    if webdriver is None:
        pytest.skip("the selenium Python package is not installed and `pip install selenium` failed")
    return webdriver, tools[0], tools[1]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = os.environ.get("SWITCHBOARD_TEST_ARTIFACTS")
    path = Path(root) / "demo-browser" if root else tmp_path_factory.mktemp("demo-browser")
    path.mkdir(parents=True, exist_ok=True)
    return path


class Page:
    """One headless chromium window on the demo page; every wait is bounded."""

    def __init__(self, kit: tuple[Any, str, str], name: str, artifacts: Path) -> None:
        webdriver, browser, driver = kit
        from selenium.webdriver.chrome.service import Service

        self.name = name
        self.artifacts = artifacts
        self.profile = Path(artifacts) / f"profile-{name}"
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--no-proxy-server", "--no-first-run", "--disable-extensions", "--window-size=1100,720",
                    "--force-prefers-reduced-motion", f"--user-data-dir={self.profile}"):
            options.add_argument(arg)
        log = str(artifacts / f"chromedriver-{name}.log")
        try:
            service = Service(executable_path=driver, log_output=log)
        except TypeError:  # selenium < 4.11 (Debian's python3-selenium)
            service = Service(executable_path=driver, log_path=log)
        self.driver = webdriver.Chrome(service=service, options=options)
        self.driver.set_page_load_timeout(PAGE_WAIT_S)
        self.driver.set_script_timeout(PAGE_WAIT_S)

    def open(self, url: str) -> None:
        self.driver.get(url)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def status(self) -> dict[str, str]:
        return self.js("const s = document.getElementById('status');"
                       "return {state: s.dataset.state, endpoint: s.dataset.endpoint, text: s.textContent.trim()};")

    def wait_live(self, timeout: float = PAGE_WAIT_S) -> dict[str, str]:
        return wait_until(lambda: (lambda s: s if s["state"] == "live" else None)(self.status()), timeout, 0.05,
                          f"page {self.name} live")

    def messages(self) -> list[tuple[str, str, str]]:
        """(id, author, text) of every message element, in page order."""
        return [tuple(m) for m in self.js(
            "return [...document.querySelectorAll('#messages li')].map(li => "
            "[li.dataset.id, li.querySelector('.author').textContent, li.querySelector('p').textContent]);")]

    def presence(self) -> list[str]:
        return self.js("return [...document.querySelectorAll('#presence li')].map(li => li.textContent);")

    def sign_in(self, email: str, password: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.ID, "login-email").send_keys(email)
        self.driver.find_element(By.ID, "login-password").send_keys(password)
        self.driver.find_element(By.ID, "login-button").click()
        wait_until(lambda: self.js("return !document.getElementById('signed-in').hidden;"), PAGE_WAIT_S, 0.05,
                   f"page {self.name} signed in")

    def post(self, text: str) -> None:
        """Types the message and presses Enter; waits until the server confirmed it (the box clears)."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        box = self.driver.find_element(By.ID, "message-input")
        box.send_keys(text)
        box.send_keys(Keys.ENTER)
        wait_until(lambda: self.js("return document.getElementById('message-input').value === '';"), PAGE_WAIT_S,
                   0.05, f"page {self.name} confirmed {text!r}")

    def wait_text(self, text: str, timeout: float = PAGE_WAIT_S) -> None:
        wait_until(lambda: any(m[2] == text for m in self.messages()), timeout, 0.05,
                   f"page {self.name} shows {text!r}")

    def screenshot(self, label: str) -> Path:
        path = self.artifacts / f"{label}.png"
        self.driver.save_screenshot(str(path))
        return path

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)


# -- the cluster, seeded like scripts/run's single node -------------------------------------------


@pytest.fixture(scope="module")
def demo_cluster(webdriver_kit: Any) -> Iterator[Cluster]:
    def prepare(cl: Cluster) -> None:
        lb = f"http://127.0.0.1:{cl.lb_port}"
        origins = ",".join(f"http://127.0.0.1:{srv.port}" for srv in cl.replicas)
        for srv in cl.replicas:
            srv.env.update({"PUBLIC_URL": lb, "CORS_ORIGIN": origins})
        cl.seed.append(("schema", "apply", str(REPO_ROOT / "Config" / "schema.yaml")))

    yield from running_cluster("demo browser", {
        "DEMO_ENABLED": "true",
        "WEBSOCKETS_REST_AUTH": "public",
        "WEBSOCKETS_HEARTBEAT_PERIOD": "5",
        "SHUTDOWN_DRAIN_WINDOW": "1s",
    }, prepare)


def rest_texts(api: Api) -> list[tuple[int, str]]:
    rows = data(api.get("/items/messages", params={"fields": "id,text", "sort": "id", "limit": -1}))
    return [(row["id"], row["text"]) for row in rows]


def test_two_pages_on_two_replicas_chat_live_and_miss_nothing_across_a_replica_stop(
    demo_cluster: Cluster, webdriver_kit: Any, artifacts: Path
) -> None:
    cl = demo_cluster
    started = time.monotonic()
    timings: dict[str, float] = {}
    lb_url = f"http://127.0.0.1:{cl.lb_port}"
    visible_everywhere(cl, "messages", 5)
    guest_api = Api(cl.replicas[2].base_url)

    pages: list[Page] = []
    try:
        a = Page(webdriver_kit, "a", artifacts)
        pages.append(a)
        b = Page(webdriver_kit, "b", artifacts)
        pages.append(b)
        timings["browsers"] = time.monotonic() - started

        a.open(cl.replicas[0].base_url + "/")
        b.open(cl.replicas[1].base_url + "/")
        assert a.wait_live()["endpoint"].startswith("ws://127.0.0.1:%d/" % cl.replicas[0].port)
        assert b.wait_live()["endpoint"].startswith("ws://127.0.0.1:%d/" % cl.replicas[1].port)
        a.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
        a.wait_live()
        timings["pages live"] = time.monotonic() - started

        # presence: each page lists both, once (page A's guest row went when it signed in)
        def two_people(page: Page, me: str, other: str) -> bool:
            people = page.presence()
            return len(people) == 2 and f"{me} (you)" in people and any(p.startswith(other) for p in people)

        guest = wait_until(lambda: next((p for p in b.presence() if p.endswith("(you)")), None), PAGE_WAIT_S, 0.1,
                           "page B's own presence row")[: -len(" (you)")]
        wait_until(lambda: two_people(b, guest, "Admin User"), PAGE_WAIT_S, 0.1, "page B's presence list")
        wait_until(lambda: two_people(a, "Admin User", guest), PAGE_WAIT_S, 0.1, "page A's presence list")

        # a message typed in one page appears in the other
        t = time.monotonic()
        conversation = [
            (a, b, "Hello from page A, signed in on replica 1."),
            (b, a, "Hi! Page B here, a guest on replica 2."),
            (a, b, "Let's stop your replica and see if you miss anything."),
            (b, a, "Go ahead — I'll resume with `after` through the load balancer."),
        ]
        for writer_page, reader_page, text in conversation:
            writer_page.post(text)
            reader_page.wait_text(text)
        timings["typed message seen on the other page"] = (time.monotonic() - t) / len(conversation)
        assert "Admin User (you)" in {m[1] for m in a.messages()} and "Admin User" in {m[1] for m in b.messages()}
        assert "Guest (you)" in {m[1] for m in b.messages()} and "Guest" in {m[1] for m in a.messages()}
        shots = [a.screenshot("1-page-a-admin-replica-1"), b.screenshot("1-page-b-guest-replica-2")]

        # replica 2 stops while a guest keeps posting through replica 3, one message every 20 ms or so
        posted: list[tuple[float, str]] = []
        stop_writing = threading.Event()

        def writer() -> None:
            for n in range(10_000):
                if stop_writing.is_set():
                    return
                text = f"while replica 2 stops #{n:03d}"
                r = guest_api.post("/items/messages", {"text": text})
                assert r.status_code in (200, 204), r.text
                posted.append((time.monotonic(), text))
                time.sleep(0.02)

        thread = threading.Thread(target=writer, daemon=True)
        thread.start()
        time.sleep(0.3)
        down_from = time.monotonic()
        victim = cl.replicas[1]
        assert victim.proc is not None
        # SIGTERM: readiness fails, its sockets get 1001 over SHUTDOWN_DRAIN_WINDOW, then it exits
        victim.proc.send_signal(signal.SIGTERM)
        away: list[tuple[float, float]] = []
        gone_at: float | None = None
        deadline = time.monotonic() + PAGE_WAIT_S
        status = b.status()
        while time.monotonic() < deadline:
            status = b.status()
            now = time.monotonic()
            if status["state"] != "live" and gone_at is None:
                gone_at = now
            if status["state"] == "live" and gone_at is not None:
                away.append((gone_at, now))
                if status["endpoint"].startswith(lb_url.replace("http", "ws", 1)):
                    break
                gone_at = None
            time.sleep(0.02)
        assert away and status["state"] == "live", f"page B did not come back: {status!r}"
        assert status["endpoint"].startswith(lb_url.replace("http", "ws", 1)), \
            f"page B should have reconnected through PUBLIC_URL ({lb_url}): {status!r}"
        timings["replica stop → page B live again via nginx"] = away[-1][1] - down_from
        victim.stop()  # reaps it (it has exited by now, or does within its drain window)
        a.post("Page A posted this while page B was moving")
        time.sleep(0.4)
        stop_writing.set()
        thread.join(10)
        assert not thread.is_alive()
        in_gap = [text for (at, text) in posted if any(lo <= at <= hi for lo, hi in away)]
        assert in_gap, f"no message was posted while page B was away ({away!r}); the writer is too slow"

        # both pages show every message exactly once, in id order, the missed ones included
        expected = rest_texts(cl.admin(0))
        want = [(str(i), text) for i, text in expected]

        def shows_all(page: Page) -> bool:
            return [(m[0], m[2]) for m in page.messages()] == want

        t = time.monotonic()
        for page in (a, b):
            try:
                wait_until(lambda page=page: shows_all(page), PAGE_WAIT_S, 0.1, f"page {page.name} shows every message")
            except AssertionError:
                got = [(m[0], m[2]) for m in page.messages()]
                missing = [w for w in want if w not in got]
                dups = sorted({g for g in got if got.count(g) > 1})
                raise AssertionError(f"page {page.name}: {len(got)} shown, {len(want)} expected; missing "
                                     f"{missing[:5]!r}, duplicated {dups[:5]!r}") from None
        timings["catch-up after reconnect"] = time.monotonic() - t

        wait_until(lambda: two_people(b, guest, "Admin User"), PAGE_WAIT_S, 0.1, "page B's presence after failover")
        shots += [a.screenshot("2-page-a-after-failover"), b.screenshot("2-page-b-after-failover")]
        total = time.monotonic() - started
        report(f"demo browser: {len(want)} messages on both pages, none missing or twice; {len(in_gap)} posted "
               f"while page B was away ({sum(hi - lo for lo, hi in away):.2f}s); "
               + ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()) + f"; test body {total:.1f}s")
        report(f"demo browser: screenshots {', '.join(str(p) for p in shots)}")
    finally:
        for page in pages:
            page.quit()


# -- one node: token expiry, reload, handshake mode ------------------------------------------------


@pytest.fixture
def demo_node(webdriver_kit: Any) -> Iterator[Any]:
    """Starts single nodes seeded like scripts/run's (schema applied before serving)."""
    started: list[SwitchboardServer] = []

    def start(extra_env: dict[str, str]) -> SwitchboardServer:
        srv = SwitchboardServer({"DEMO_ENABLED": "true", **extra_env}, name="demo-node")
        started.append(srv)
        srv.bootstrap()
        srv.cli("schema", "apply", str(REPO_ROOT / "Config" / "schema.yaml"))
        return srv.start()

    yield start
    for srv in started:
        srv.cleanup()


def test_signed_in_page_stays_signed_in_across_token_expiry_and_reload(
    demo_node: Any, webdriver_kit: Any, artifacts: Path
) -> None:
    srv = demo_node({"WEBSOCKETS_REST_AUTH": "public", "ACCESS_TOKEN_TTL": "2s"})
    page = Page(webdriver_kit, "refresh", artifacts)
    try:
        page.open(srv.base_url + "/")
        page.wait_live()
        page.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
        page.wait_live()
        # each expiry is answered by a refresh_token auth over the socket (the token rotates each time)
        for n in range(2):
            time.sleep(2.5)
            page.post(f"after expiry {n}")
            assert page.messages()[-1][1:] == ("Admin User (you)", f"after expiry {n}"), page.messages()
        page.driver.refresh()  # the tab's session survives a reload: the socket signs in with the refresh token
        page.wait_live()
        assert page.js("return !document.getElementById('signed-in').hidden;")
        page.post("after a reload")
        assert page.messages()[-1][1:] == ("Admin User (you)", "after a reload"), page.messages()
        rows = data(srv.admin().get("/items/messages", params={"fields": "text,user", "sort": "id"}))
        me = data(srv.admin().get("/users/me", params={"fields": "id"}))["id"]
        assert [(r["text"], r["user"]) for r in rows] == [
            ("after expiry 0", me), ("after expiry 1", me), ("after a reload", me)]
    finally:
        page.quit()


def test_guest_page_asks_to_sign_in_when_realtime_is_not_public(
    demo_node: Any, webdriver_kit: Any, artifacts: Path
) -> None:
    srv = demo_node({"WEBSOCKETS_REST_AUTH": "handshake"})
    page = Page(webdriver_kit, "handshake", artifacts)
    try:
        page.open(srv.base_url + "/")
        status = wait_until(lambda: (lambda s: s if s["state"] == "stopped" else None)(page.status()), PAGE_WAIT_S,
                            0.05, "the guest page stops")
        assert "Sign in" in status["text"], status
        page.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
        page.wait_live()
        page.post("signed in over a handshake socket")
        assert page.messages()[-1][1:] == ("Admin User (you)", "signed in over a handshake socket")
    finally:
        page.quit()
