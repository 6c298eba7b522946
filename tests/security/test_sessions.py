"""Dashboard sessions cannot be forged, copied past a sign-out, or outlive their reason; sign-ins
cannot be guessed at speed nor flooded.

As an attacker would: sign a cookie with a key derived from the webhook secret (which a webhook
sender knows), or with the session key itself but no session behind it; keep a copy of a cookie
and use it after its owner signed out; use an admin's cookie after the admin was removed from
the config; try passwords fast; post forty sign-ins at once.
"""

from __future__ import annotations

import base64
import concurrent.futures
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from itsdangerous import TimestampSigner

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.core.model import Instance
from pullrekun.web import auth, dashboard
from pullrekun.web.auth import hash_password
from pullrekun.web.serve import Service
from tests.integration.test_dashboard_http import Browser

WEBHOOK_SECRET = "hook secret known to whoever sends webhooks"
ADMIN = ("ada", "admin password 1")
OTHER = ("bea", "admin password 2")


class NoPool(dashboard.PoolCache):
    def get(self) -> tuple[Mapping[str, Instance] | None, str | None]:
        return {}, None


def raw_config(tmp_path: Path, admins: dict[str, str]) -> dict[str, Any]:
    return {
        "github": {"repository": "acme/shop"},
        "app": {"repo_url": "https://example.invalid/shop.git", "command": "./run"},
        "state": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "serve": {"admins": admins, "secure_cookies": False},
    }


HASHES = {ADMIN[0]: hash_password(ADMIN[1]), OTHER[0]: hash_password(OTHER[1])}


class Served:
    def __init__(self, tmp_path: Path, admins: dict[str, str]) -> None:
        self.cfg = config_mod.parse(raw_config(tmp_path, admins))
        self.store = Store.open(self.cfg.state_url)
        self.service = Service(
            self.cfg,
            self.store,
            WEBHOOK_SECRET,
            bind="127.0.0.1",
            port=0,
            run_pass=lambda: "clean",
            pool=NoPool(self.cfg),
        )
        self.service.start_background()

    def stop(self) -> None:
        self.service.shutdown()
        self.store.close()


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.delenv("PULLREKUN_SESSION_SECRET", raising=False)
    s = Served(tmp_path, HASHES)
    yield s
    s.stop()


def forged_cookie(key: str, session: dict[str, str]) -> str:
    """A cookie as Starlette's SessionMiddleware signs one."""
    data = base64.b64encode(json.dumps(session).encode())
    return TimestampSigner(key).sign(data).decode()


def with_cookie(b: Browser, value: str) -> Browser:
    import http.cookiejar

    host = b.base.split("//", 1)[1].split(":", 1)[0]
    cookie = http.cookiejar.Cookie(
        0, "pullrekun_session", value, None, False, host, False, False, "/", True, False, None, False,
        None, None, {},
    )  # fmt: skip
    b.jar.set_cookie(cookie)
    return b


def test_a_cookie_signed_with_a_key_derived_from_the_webhook_secret_is_not_a_session(served: Served) -> None:
    derived = hmac.new(WEBHOOK_SECRET.encode(), b"pullrekun dashboard sessions", hashlib.sha256).hexdigest()
    forged = {"actor": "local:ada", "role": "admin", "csrf": "x", "sid": "x"}
    b = with_cookie(Browser(served.service.url), forged_cookie(derived, forged))
    status, headers, _ = b.request("/")
    assert (status, headers.get("location")) == (303, "/login")


def test_the_session_key_alone_signs_no_session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULLREKUN_SESSION_SECRET", "the session key, stolen")
    s = Served(tmp_path, HASHES)
    try:
        forged = {"actor": "local:ada", "role": "admin", "csrf": "x", "sid": "made-up"}
        b = with_cookie(Browser(s.service.url), forged_cookie("the session key, stolen", forged))
        assert b.request("/")[0] == 303, "no session row behind it"
    finally:
        s.stop()


def test_signing_out_ends_every_copy_of_the_cookie(served: Served) -> None:
    b = Browser(served.service.url)
    assert b.sign_in(*ADMIN)[0] == 303
    (cookie,) = list(b.jar)
    copy = with_cookie(Browser(served.service.url), str(cookie.value))
    assert copy.request("/")[0] == 200, "the copy works while the session lives"
    assert b.request("/logout", {"csrf_token": b.csrf()})[0] == 303
    assert copy.request("/")[0] == 303, "the copy died with the session"


def test_an_admin_removed_from_the_config_cannot_use_an_old_cookie(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PULLREKUN_SESSION_SECRET", "a session key that survives restarts")
    first = Served(tmp_path, HASHES)
    try:
        b = Browser(first.service.url)
        assert b.sign_in(*ADMIN)[0] == 303
        (cookie,) = list(b.jar)
    finally:
        first.stop()
    second = Served(tmp_path, {OTHER[0]: HASHES[OTHER[0]]})  # ada is gone from the config
    try:
        old = with_cookie(Browser(second.service.url), str(cookie.value))
        assert old.request("/")[0] == 303
        assert old.request("/environments/1/redeploy", {"csrf_token": "x"})[0] in {303, 403}
        assert second.store.events.recent() == (), "nothing was recorded"
    finally:
        second.stop()


def test_password_guessing_is_throttled_per_login_and_per_address(served: Served) -> None:
    b = Browser(served.service.url)
    for _ in range(10):
        assert b.sign_in(ADMIN[0], "a wrong guess")[0] == 401
    status, headers, body = b.sign_in(*ADMIN)
    assert status == 429, "even the right password waits"
    assert 1 <= int(headers["retry-after"]) <= 60
    assert "Too many sign-in attempts" in body
    status, headers, _ = Browser(served.service.url).sign_in(OTHER[0], "another guess")
    assert status == 429, "the same address, another login"


def test_forty_concurrent_sign_ins_run_two_argon2_checks_at_a_time(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    running, most = 0, 0
    lock = threading.Lock()
    real = auth._HASHER

    class Counting:
        def verify(self, digest: str, password: str) -> bool:
            nonlocal running, most
            with lock:
                running += 1
                most = max(most, running)
            try:
                time.sleep(0.2)
                return bool(real.verify(digest, password))
            finally:
                with lock:
                    running -= 1

    monkeypatch.setattr(auth, "_HASHER", Counting())
    browsers = [Browser(served.service.url) for _ in range(40)]
    tokens = [b.csrf("/login") for b in browsers]

    def post(i: int) -> int:
        form = {"login": f"user{i}", "password": "guess", "csrf_token": tokens[i]}
        return browsers[i].request("/login", form)[0]

    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(post, range(40)))
    assert sorted(set(answers)) == [401, 429], answers
    assert answers.count(401) == 10, "ten from one address, the rest throttled"
    assert most <= auth.VERIFY_SLOTS == 2, most


def test_right_passwords_do_not_use_up_the_addresss_tries(served: Served) -> None:
    for _ in range(15):
        b = Browser(served.service.url)
        assert b.sign_in(*ADMIN)[0] == 303
