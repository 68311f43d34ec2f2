"""The admin view (`/admin/realtime`) in a real browser: headless chromium through Selenium (the
demo page's kit, test_demo_browser.py), against two replicas sharing PostgreSQL + redis-server.

- the page, opened at replica 1, signs in as the admin and lists both replicas
- a subscription and writes made at replica 2 change replica 2's numbers on the page
- the access token expires (ACCESS_TOKEN_TTL=3s): the page renews it over the socket with its
  refresh token and the numbers keep coming
- a non-admin who signs in is told the view is for admins only

Screenshots go to $SWITCHBOARD_TEST_ARTIFACTS/admin-browser/ (or the pytest tmp dir). With
SWITCHBOARD_ADMIN_SCREENSHOT=<path> the page with its numbers moving is also saved there; the
README's picture is made with `SWITCHBOARD_ADMIN_SCREENSHOT=$PWD/docs/admin-realtime.png`.
Skips, as the demo's browser test does, when chromium, chromedriver or selenium cannot be had.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clusterkit import Client, Cluster, run, running_cluster, visible_everywhere, wait_until, ws_url_of
from harness import ADMIN_EMAIL, ADMIN_PASSWORD, ADMIN_TOKEN, create_collection, create_user_with_policy, uniq
from test_demo_browser import PAGE_WAIT_S, Page, webdriver_kit  # noqa: F401 (a fixture)

pytestmark = pytest.mark.cluster

INTERVAL_MS = 500
TOKEN_TTL_S = 3  # the page's token expires during the test: it must renew it and stay live


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = os.environ.get("SWITCHBOARD_TEST_ARTIFACTS")
    path = Path(root) / "admin-browser" if root else tmp_path_factory.mktemp("admin-browser")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def admin_cluster(webdriver_kit: Any) -> Iterator[Cluster]:
    yield from running_cluster("admin browser", {
        "SWITCHBOARD_FLEET_INTERVAL": f"{INTERVAL_MS}ms",
        "ACCESS_TOKEN_TTL": f"{TOKEN_TTL_S}s",
    }, replicas=2)


def sign_in(page: Page, email: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    for field, value in (("login-email", email), ("login-password", password)):
        box = page.driver.find_element(By.ID, field)
        box.clear()
        box.send_keys(value)
    page.driver.find_element(By.ID, "login-button").click()


def table(page: Page) -> dict[str, dict[str, str]]:
    """Replica id → the text of each numeric cell, as the page shows them."""
    return page.js(
        "const out = {};"
        "for (const tr of document.querySelectorAll('#replica-rows tr')) {"
        "  const row = {};"
        "  for (const td of tr.querySelectorAll('td[data-field]')) row[td.dataset.field] = td.textContent;"
        "  out[tr.dataset.replica] = row;"
        "}"
        "return out;")


def test_the_admin_page_lists_the_replicas_and_its_numbers_follow_writes(
    admin_cluster: Cluster, webdriver_kit: Any, artifacts: Path
) -> None:
    cl = admin_cluster
    name = uniq("page")
    create_collection(cl.admin(0), name, [{"field": "text", "type": "string"}])
    visible_everywhere(cl, name, 5)
    page = Page(webdriver_kit, "admin", artifacts)
    try:
        page.open(cl.replicas[0].base_url + "/admin/realtime")
        assert page.status()["state"] == "signed-out"
        sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
        page.wait_live()
        # both rows, and the page's own subscription (on replica 1) in one of them
        rows = wait_until(lambda: (lambda t: t if len(t) == 2 and any(
            "switchboard_replicas" in r["subscriptions"] for r in t.values()) else None)(table(page)),
            PAGE_WAIT_S, 0.1, "two replica rows")
        page.screenshot("1-two-replicas")
        replica1 = next(k for k, r in rows.items() if "switchboard_replicas" in r["subscriptions"])
        replica2 = next(k for k in rows if k != replica1)
        before = rows[replica2]

        async def traffic() -> None:
            sub = await Client.open(ws_url_of(cl.replicas[1].base_url), "sub")
            await sub.auth(ADMIN_TOKEN)
            await sub.subscribe(name, "rows")
            for i in range(20):
                await sub.request({"type": "items", "collection": name, "action": "create", "data": {"text": f"{i}"}})
            await sub.wait_events("rows", 20, 10)

            def moved() -> dict[str, str] | None:
                now = table(page).get(replica2)
                return now if now and int(now["subscriptions_total"]) > int(before["subscriptions_total"]) \
                    and int(now["events_received"]) >= int(before["events_received"]) + 20 \
                    and name in now["subscriptions"] else None

            for _ in range(int(PAGE_WAIT_S / 0.1)):
                if moved():
                    break
                await asyncio.sleep(0.1)
            now = moved()
            assert now, f"replica 2's row did not follow: before {before!r}, now {table(page).get(replica2)!r}"
            assert int(now["connections_total"]) > int(before["connections_total"]), (before, now)
            page.screenshot("2-numbers-moved")
            target = os.environ.get("SWITCHBOARD_ADMIN_SCREENSHOT")
            if target:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(artifacts / "2-numbers-moved.png", target)
            await sub.close()

        run(traffic(), 60)
        wait_until(lambda: (lambda r: r if r and r["subscriptions_total"] == before["subscriptions_total"] else None)(
            table(page).get(replica2)), PAGE_WAIT_S, 0.1, "replica 2's subscription gone from the page")

        # past the token's expiry the page renewed it and is still fed
        heard = table(page)[replica2]["updated_at"]
        time.sleep(TOKEN_TTL_S + 1)
        wait_until(lambda: page.status()["state"] == "live" and table(page).get(replica2, {}).get("updated_at") != heard,
                   PAGE_WAIT_S, 0.1, "updates after the token expired")
        later = table(page)[replica2]["updated_at"]
        time.sleep(2 * INTERVAL_MS / 1000 + 1.1)
        assert table(page)[replica2]["updated_at"] != later, "no updates after the token was renewed"
        assert page.status()["state"] == "live"

        # a non-admin is told, not shown an empty table
        user, _ = create_user_with_policy(cl.admin(0))
        page.js("document.getElementById('logout-button').click();")
        sign_in(page, user["email"], user["password"])
        message = wait_until(lambda: page.js(
            "const e = document.getElementById('error'); return e.hidden ? null : e.textContent;"), PAGE_WAIT_S, 0.1,
            "the non-admin's message")
        assert "admins only" in message, message
        assert page.status()["state"] == "error"
        assert table(page) == {}
        page.screenshot("3-non-admin")
    finally:
        page.quit()
