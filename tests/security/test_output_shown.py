"""A failure's output (printed by the PR's code) reaches only those meant to read it.

On a public repository anyone can read the PR, so by default its output is not posted there. With
`report.show_output = false`, the dashboard's and the API's readers who may not act get a
failure's first line only, in the environments and in the activity log.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.request
from typing import Any

from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.app.results import PassOutcome
from pullrekun.core.views import OUTPUT_HIDDEN
from pullrekun.web.serve import Service
from pullrekun.web.tokens import new_token, token_digest
from tests.conftest import run_pass

ADMIN_TOKEN, VIEWER_TOKEN = new_token()[0], new_token()[0]


def _failing_pr(sb: Sandbox) -> int:
    sb.health_timeout = 3
    sb.write_config()
    number, _ = sb.open_pr("broken", "crash on start")
    assert run_pass(sb).outcome is PassOutcome.FAILURES
    return number


def test_on_a_public_repository_the_output_stays_off_the_pr(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    sb.github.private = False
    number = _failing_pr(sb)
    body = sb.github.comments_on(number)[0]["body"]
    assert "the health check step failed" in body, "what failed is said"
    assert "Last lines of its output" not in body
    assert "crashes on start" not in body


def _get(svc: Service, path: str, token: str) -> Any:
    request = urllib.request.Request(f"{svc.url}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def test_readers_who_may_not_act_get_no_output_where_it_is_off(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    _failing_pr(sb)
    cfg = config_mod.load(sb.config_path)
    cfg = dataclasses.replace(
        cfg,
        report=dataclasses.replace(cfg.report, show_output=False),
        serve=dataclasses.replace(
            cfg.serve,
            admin_tokens={"ops": token_digest(ADMIN_TOKEN)},
            viewer_tokens={"wall": token_digest(VIEWER_TOKEN)},
        ),
    )
    store = Store.open(cfg.state_url)
    svc = Service(cfg, store, "hook secret", bind="127.0.0.1", port=0, run_pass=lambda: "clean")
    svc.start_background()
    try:
        (admin_env,) = _get(svc, "/api/v1/status", ADMIN_TOKEN)["environments"]
        (viewer_env,) = _get(svc, "/api/v1/status", VIEWER_TOKEN)["environments"]
        assert len(admin_env["message"].splitlines()) > 2, "those who may act see the output"
        assert viewer_env["message"].splitlines() == [
            admin_env["message"].splitlines()[0],
            f"({OUTPUT_HIDDEN})",
        ]
        failed = [
            e for e in _get(svc, "/api/v1/events?limit=50", VIEWER_TOKEN) if e["kind"] == "deploy_failed"
        ]
        assert failed, "the failure is in the activity log"
        assert all(len(e["message"].splitlines()) <= 2 for e in failed), failed
    finally:
        svc.shutdown()
        store.close()
