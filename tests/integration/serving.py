"""What the tests of `pullrekun serve` with real passes share: a sandbox with one open PR
deployed, a :class:`Service` over its state DB (the real pass, or a stub where only the
surfaces are tested), passes by serve's own trigger, and a sign-in in Chromium."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.config import Config, ServeConfig
from pullrekun.web.dashboard import PoolCache
from pullrekun.web.serve import Service
from tests.conftest import LOCAL_FIRST_HOST, run_pass


@dataclass
class ServedWorld:
    sb: Sandbox
    service: Service
    store: Store
    #: The PR opened (and deployed) when the world was made.
    pr: int

    @property
    def url(self) -> str:
        return self.service.url

    def pass_now(self) -> None:
        """A pass by serve's own trigger (as a webhook or the timer asks), waited for. A pass that
        found the lock held ("busy": serve retries it later) is asked for again at once, so the
        caller sees a pass that ran."""
        trigger = self.service.trigger
        results: list[str] = []
        for _ in range(5):
            seen = len(trigger.history)
            trigger.poke("test")
            assert trigger.wait_idle(180)
            results += [record.result for record in trigger.history[seen:]]
            if results and results[-1] != "busy":
                break
        assert results, "no pass ran"
        assert results[-1] not in {"busy", "crashed", "lock_lost"}, results


@contextmanager
def served_world(
    root: Path,
    serve: ServeConfig,
    *,
    extra_config: Mapping[str, Any] | None = None,
    branch: str = "served",
    message: str = "served by pullrekun",
    author: str = "alice",
    passes: int = 1,
    port: int = 0,
    stub_pass: bool = False,
    adjust: Callable[[Config], Config] = lambda cfg: cfg,
) -> Iterator[ServedWorld]:
    """A sandbox of one host with one PR deployed by ``passes`` passes, served with ``serve``.

    ``stub_pass`` answers serve's passes without running one (the surfaces alone are tested);
    ``adjust`` changes the loaded config before the service starts."""
    sb = Sandbox(root=root, hosts=1, first_host=LOCAL_FIRST_HOST, extra_config=dict(extra_config or {}))
    sb.start()
    try:
        pr, _ = sb.open_pr(branch, message, author=author)
        for _ in range(passes):
            assert run_pass(sb).ok
        cfg = adjust(dataclasses.replace(config_mod.load(sb.config_path), serve=serve))
        store = Store.open(cfg.state_url)
        extra: dict[str, Any] = (
            {"run_pass": lambda: "clean"} if stub_pass else {"pool": PoolCache(cfg, ttl=0.5)}
        )
        service = Service(cfg, store, "hook secret", bind="127.0.0.1", port=port, **extra)
        service.start_background()
        try:
            yield ServedWorld(sb, service, store, pr)
        finally:
            service.shutdown()
            store.close()
    finally:
        sb.stop()


def chromium_sign_in(browser: Any, url: str, who: tuple[str, str]) -> Any:
    """A new Chromium page signed in to the dashboard at ``url`` as (login, password)."""
    page = browser.new_page()
    page.goto(f"{url}/login")
    page.fill("input[name=login]", who[0])
    page.fill("input[name=password]", who[1])
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")
    return page
