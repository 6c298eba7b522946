"""The dashboard in a real browser: Playwright driving Debian's Chromium (no browser download).

The sandbox's world with per-environment databases on the test MariaDB, and `pullrekun serve`
with the real pass. A person signs in, sees every environment with its URL, presses Redeploy
and Reset database, and watches the state change without reloading; a viewer gets no buttons
and is refused when posting anyway; a form without its CSRF token is refused. Screenshots of
each page go to .cache/screenshots/ (the README's picture is one of them).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pullrekun_sandbox.mariadb import MariaDB
from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.config import ServeConfig
from pullrekun.web.auth import hash_password
from pullrekun.web.dashboard import PoolCache
from pullrekun.web.serve import Service
from tests.conftest import LOCAL_FIRST_HOST, _db_names, database_section, need, run_pass
from tests.paths import REPO
from tests.receiver import Receiver

CHROMIUM = "/usr/bin/chromium"
SHOTS = REPO / ".cache" / "screenshots"
ADMIN, VIEWER = ("ada", "admin password 1"), ("vic", "viewer password 2")


@dataclass
class World:
    sb: Sandbox
    service: Service
    store: Store
    prs: list[int]
    chat: Receiver


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, mariadb: MariaDB) -> Iterator[World]:
    n = next(_db_names)
    source = f"dev_browser_{n}"
    out = mariadb.sql(
        f"DROP DATABASE IF EXISTS {source}; CREATE DATABASE {source}; "
        f"CREATE TABLE {source}.notes (id INT AUTO_INCREMENT PRIMARY KEY, body VARCHAR(100)); "
        f"INSERT INTO {source}.notes (body) VALUES ('from the source')"
    )
    assert out.returncode == 0, out.stderr
    chat = Receiver()
    os.environ["BROWSER_RELEASE_HOOK"] = chat.url("/releases")
    os.environ["PULLREKUN_DB_ADMIN_PASSWORD"] = ""
    os.environ["PULLREKUN_DB_APP_PASSWORD"] = "browser test secret"
    sb = Sandbox(
        root=tmp_path_factory.mktemp("browser") / "world",
        hosts=1,
        first_host=LOCAL_FIRST_HOST,
        launch_hosts=1,  # room for one instance from the launch template (max_size 2)
        extra_config={
            "database": database_section(
                mariadb,
                default_source=source,
                source_patterns=["dev_*"],
                schema_template=f"browser_{n}_{{instance}}",
            ),
            # Production is the simulator's `production` branch (set below, before the first pass).
            "release": {"source": "branch", "slack_webhook_env": "BROWSER_RELEASE_HOOK"},
        },
    ).start()
    sb.github.history.branches["production"] = sb.github.history.branches["main"]
    prs = [sb.open_pr("b1", "browser 1", author="alice")[0]]
    assert run_pass(sb).ok
    cfg = config_mod.load(sb.config_path)
    sb.github.register_oauth_app("Iv1.browser", "browser oauth secret", "http://127.0.0.1:")
    os.environ["PULLREKUN_OAUTH_CLIENT_SECRET"] = "browser oauth secret"
    serve = ServeConfig(
        interval=3600,
        settle_ms=0,
        admins={ADMIN[0]: hash_password(ADMIN[1])},
        viewers={VIEWER[0]: hash_password(VIEWER[1])},
        secure_cookies=False,  # plain http on loopback
        oauth_client_id="Iv1.browser",
    )
    cfg = dataclasses.replace(cfg, serve=serve)
    store = Store.open(cfg.state_url)
    # The pool as EC2 says is re-read every second here (15 s in production).
    pool = PoolCache(cfg, ttl=1.0)
    service = Service(cfg, store, "hook secret", bind="127.0.0.1", port=0, pool=pool)
    service.start_background()
    try:
        yield World(sb, service, store, prs, chat)
    finally:
        chat.close()
        service.shutdown()
        store.close()
        sb.stop()
        for name in (
            "PULLREKUN_DB_ADMIN_PASSWORD",
            "PULLREKUN_DB_APP_PASSWORD",
            "PULLREKUN_OAUTH_CLIENT_SECRET",
            "BROWSER_RELEASE_HOOK",
        ):
            os.environ.pop(name, None)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    need(None if Path(CHROMIUM).exists() else "Chromium is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need("playwright is missing (pip install playwright)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        # --no-sandbox: the tests run as root, where Chromium's own sandbox cannot start.
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def signed_in(browser: Any, world: World, who: tuple[str, str], shot: str | None = None) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{world.service.url}/")
    assert page.url.endswith("/login"), "a page needs a sign-in"
    if shot:
        page.screenshot(path=str(SHOTS / shot), full_page=True)
    page.fill("input[name=login]", who[0])
    page.fill("input[name=password]", who[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{world.service.url}/")
    return page


def cloned_at(world: World, pr: int) -> Any:
    return next(e.db_cloned_at for e in world.store.journal.environments() if e.assignment.pr_number == pr)


def test_an_admin_sees_every_environment_and_redeploys_and_resets_without_reloading(
    browser: Any, world: World
) -> None:
    page = signed_in(browser, world, ADMIN, shot="login.png")
    rows = page.locator("#environments tbody tr[data-pr]")
    assert rows.count() == len(world.prs)
    for env in world.store.journal.environments():
        pr = env.assignment.pr_number
        row = page.locator(f'tr[data-pr="{pr}"]')
        assert row.locator(".status .value").inner_text() == "ready"
        url = row.locator("a.url").get_attribute("href")
        assert url is not None
        assert url.startswith("http://127.0.0."), url
    page.screenshot(path=str(SHOTS / "environments.png"), full_page=True)

    # A push GitHub did not announce (no webhook here): Redeploy deploys the PR's head.
    first = world.prs[0]
    head = world.sb.commit("b1", "pushed, then redeployed from the dashboard")
    world.sb.github.push(first, head)
    page.locator(f'tr[data-pr="{first}"] form[action$="/redeploy"] button').click()
    page.wait_for_url(f"{world.service.url}/")
    assert f"PR #{first}: its commit will be deployed again." in page.inner_text(".flash")
    page.evaluate("window.__notReloaded = true")
    page.locator(f'tr[data-pr="{first}"] .sha code').filter(has_text=head[:12]).wait_for(timeout=120_000)
    assert page.evaluate("window.__notReloaded") is True, "the row changed without a reload"
    page.locator(f'tr[data-pr="{first}"] .status .value').filter(has_text="ready").wait_for(timeout=60_000)

    # Reset database: a fresh copy of the source, recorded with who asked.
    cloned_before = next(
        e.db_cloned_at for e in world.store.journal.environments() if e.assignment.pr_number == first
    )
    page.locator(f'tr[data-pr="{first}"] form[action$="/reset-db"] button').click()
    page.wait_for_url(f"{world.service.url}/")
    assert world.service.trigger.wait_idle(120)
    cloned_after = next(
        e.db_cloned_at for e in world.store.journal.environments() if e.assignment.pr_number == first
    )
    assert cloned_before is not None
    assert cloned_after is not None
    assert cloned_after > cloned_before
    page.reload()
    activity = page.inner_text("#activity")
    assert "reset_requested" in activity
    assert "local:ada" in activity
    page.screenshot(path=str(SHOTS / "environments-after-actions.png"), full_page=True)

    # Stop: the instance is stopped and stays the PR's; Wake: started, and the head deployed.
    row = page.locator(f'tr[data-pr="{first}"]')
    row.locator('form[action$="/stop"] button').click()
    page.wait_for_url(f"{world.service.url}/")
    page.evaluate("window.__notReloaded = true")
    row.locator(".instance-state").filter(has_text="stopped").wait_for(timeout=120_000)
    assert row.locator(".status .value").inner_text() == "asleep"
    assert page.evaluate("window.__notReloaded") is True
    page.screenshot(path=str(SHOTS / "environments-asleep.png"), full_page=True)
    assert (
        world.sb.instance_state(
            next(
                e.assignment.instance_id
                for e in world.store.journal.environments()
                if e.assignment.pr_number == first
            )
        )
        == "stopped"
    )
    row.locator('form[action$="/wake"] button').click()
    page.wait_for_url(f"{world.service.url}/")
    page.evaluate("window.__notReloaded = true")
    row.locator(".instance-state").filter(has_text="running").wait_for(timeout=120_000)
    assert world.service.trigger.wait_idle(120)  # the wake's pass: start, deploy, report
    row.locator(".status .value").filter(has_text="ready").wait_for(timeout=60_000)
    assert page.evaluate("window.__notReloaded") is True
    assert (
        world.sb.served(
            world.sb.addr_of(
                next(
                    e.assignment.instance_id
                    for e in world.store.journal.environments()
                    if e.assignment.pr_number == first
                )
            )
        )
        == head
    )

    # A form posted without its CSRF token is refused (as a forged cross-site form would be).
    status = page.evaluate(
        f"""fetch('/environments/{first}/redeploy', {{method: 'POST',
               headers: {{'Content-Type': 'application/x-www-form-urlencoded'}}, body: ''}})
             .then(r => r.status)"""
    )
    assert status == 403
    page.close()


def test_a_viewer_sees_no_buttons_and_is_refused_when_posting_anyway(browser: Any, world: World) -> None:
    page = signed_in(browser, world, VIEWER)
    assert page.locator("#environments tbody tr[data-pr]").count() == len(world.prs)
    assert page.locator("form[action$='/redeploy']").count() == 0
    assert page.locator("form.pending-notice").count() == 0, "nor the release notice's"
    page.screenshot(path=str(SHOTS / "environments-viewer.png"), full_page=True)
    token = page.locator("form[action='/logout'] input[name=csrf_token]").get_attribute("value")
    status = page.evaluate(
        f"""fetch('/environments/{world.prs[0]}/redeploy', {{method: 'POST',
               headers: {{'Content-Type': 'application/x-www-form-urlencoded'}},
               body: 'csrf_token={token}'}}).then(r => r.status)"""
    )
    assert status == 403
    assert all(e.actor != "local:vic" for e in world.store.events.recent(limit=200))
    page.close()


def test_sign_in_with_github_through_the_simulators_authorize_page(browser: Any, world: World) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(f"{world.service.url}/")
    page.click("#sign-in-github")
    page.wait_for_selector("#js-oauth-authorize-btn")
    assert page.url.startswith(world.sb.github.url), "the browser is on GitHub's (the simulator's) page"
    page.fill("input[name=login]", "maintainer")
    page.screenshot(path=str(SHOTS / "github-authorize.png"), full_page=True)
    page.click("#js-oauth-authorize-btn")
    page.wait_for_url(f"{world.service.url}/")
    assert "maintainer (admin)" in page.inner_text("header")
    assert page.locator(f'tr[data-pr="{world.prs[0]}"] form[action$="/redeploy"]').count() == 1
    page.close()


def test_an_admin_edits_the_schema_table_then_registers_and_retires_an_instance(
    browser: Any, world: World
) -> None:
    page = signed_in(browser, world, ADMIN)
    page.click("nav a[href='/schemas']")
    page.wait_for_url(f"{world.service.url}/schemas")
    page.fill("form.schema-edit input[name=login]", "Bob")
    page.fill("form.schema-edit input[name=schema]", "dev_bob_browser")
    page.click("form.schema-edit button")
    page.wait_for_url(f"{world.service.url}/schemas")
    assert "bob's next environments are cloned from dev_bob_browser" in page.inner_text(".flash")
    row = page.locator('#schemas tr[data-login="bob"]')
    assert row.locator(".schema").inner_text() == "dev_bob_browser"
    assert "local:ada" in row.inner_text()
    page.fill("form.schema-edit input[name=login]", "carol")
    page.fill("form.schema-edit input[name=schema]", world.store.journal.environments()[0].db_schema or "x")
    page.click("form.schema-edit button")
    page.wait_for_url(f"{world.service.url}/schemas")
    assert "has the shape of an environment's schema" in page.inner_text(".flash")
    page.fill("form.schema-edit input[name=login]", "carol")
    page.fill("form.schema-edit input[name=schema]", "mysql")
    page.click("form.schema-edit button")
    page.wait_for_url(f"{world.service.url}/schemas")
    assert "mysql is one of the server's own schemas" in page.inner_text(".flash")
    page.screenshot(path=str(SHOTS / "schemas.png"), full_page=True)
    assert [s[:2] for s in world.store.requests.schema_sources()] == [("bob", "dev_bob_browser")]

    outside = world.sb.add_instance(f"127.0.0.{LOCAL_FIRST_HOST + 8}", pool=None)
    world.sb.ec2().stop_instances(InstanceIds=[outside])
    page.goto(f"{world.service.url}/")
    page.fill("form.register input[name=instance_id]", outside)
    page.click("form.register button")
    page.wait_for_url(f"{world.service.url}/")
    assert f"{outside} will be tagged into pool default" in page.inner_text(".flash")
    assert world.service.trigger.wait_idle(120)
    page.reload()
    row = page.locator(f'#pool tr[data-instance="{outside}"]')
    assert row.locator(".instance-state").inner_text() == "stopped"
    page.screenshot(path=str(SHOTS / "pool.png"), full_page=True)
    row.locator('form[action$="/retire"] button').click()
    page.wait_for_url(f"{world.service.url}/")
    assert world.service.trigger.wait_idle(120)
    page.reload()
    assert page.locator(f'#pool tr[data-instance="{outside}"]').count() == 0
    activity = page.inner_text("#activity")
    assert "retired" in activity
    assert "registered" in activity
    page.close()


def test_an_admin_posts_the_waiting_for_release_notice(browser: Any, world: World) -> None:
    gh = world.sb.github
    waiting = gh.open_pr("e" * 40, title="Ready to ship", author="bob", body="## Release risk\nFlag day.")
    gh.merge_pr(waiting, "squash")
    page = signed_in(browser, world, ADMIN)
    production = gh.history.branches["production"]
    assert f"Production runs {production[:12]}" in page.inner_text("#releases + p")
    page.click("form.pending-notice button")
    page.wait_for_url(f"{world.service.url}/#releases")
    assert "will be posted to the release channels" in page.inner_text(".flash")
    assert world.service.trigger.wait_idle(120)
    (post,) = [p["text"] for p in world.chat.posts]
    assert f"|#{waiting}> Ready to ship by bob" in post
    assert "> Flag day." in post
    page.reload()
    assert "notice_requested" in page.inner_text("#activity")
    page.screenshot(path=str(SHOTS / "releases.png"), full_page=True)
    page.close()


def test_an_admin_launches_one_instance_and_terminates_it(browser: Any, world: World) -> None:
    page = signed_in(browser, world, ADMIN)
    assert "at least 0, at most 2 instances" in page.inner_text("body")
    page.click("form.launch button")
    page.wait_for_url(f"{world.service.url}/")
    assert "one more instance will be launched" in page.inner_text(".flash")
    assert world.service.trigger.wait_idle(120)
    (launched,) = world.sb.launched()
    page.reload()
    row = page.locator(f'#pool tr[data-instance="{launched}"]')
    assert "asked for by local:ada" in row.locator(".kind").inner_text()
    by_hand = world.sb.instance_ids[0]
    assert "tagged by hand" in page.locator(f'#pool tr[data-instance="{by_hand}"] .kind').inner_text()
    assert page.locator(f'#pool tr[data-instance="{by_hand}"] form[action$="/terminate"]').count() == 0
    page.screenshot(path=str(SHOTS / "pool-launched.png"), full_page=True)

    # A hand-tagged instance cannot be terminated, even by a form made up for it.
    token = page.locator("form.launch input[name=csrf_token]").get_attribute("value")
    answered = page.evaluate(
        f"""fetch('/instances/{by_hand}/terminate', {{method: 'POST',
               headers: {{'Content-Type': 'application/x-www-form-urlencoded'}},
               body: 'csrf_token={token}'}}).then(r => r.text())"""
    )  # the page it is sent back to, with the answer flashed
    assert "only instances pullrekun launched are terminated" in answered

    row.locator('form[action$="/terminate"] button').click()
    page.wait_for_url(f"{world.service.url}/")
    assert f"{launched} will be terminated" in page.inner_text(".flash")
    assert world.service.trigger.wait_idle(120)
    page.reload()
    assert world.sb.launched() == {}
    assert world.sb.instance_state(by_hand) != "terminated"
    history = page.inner_text("#launch-history")
    assert "terminated on request by local:ada" in history
    assert "terminate_requested" in page.inner_text("#activity")
    page.close()


def test_the_readme_picture_is_a_screenshot_of_the_environments_page() -> None:
    picture = REPO / "docs" / "dashboard.png"
    assert picture.is_file(), "docs/dashboard.png is missing"
    assert "docs/dashboard.png" in (REPO / "README.md").read_text()
    if (SHOTS / "environments.png").is_file() and os.environ.get("PULLREKUN_UPDATE_PICTURES") == "1":
        shutil.copy(SHOTS / "environments.png", picture)
