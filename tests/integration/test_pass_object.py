"""A pass is an object a long-lived process can call: from any thread, cancelled by a token.

`pullrekun serve` runs passes on a worker thread; signal handlers only work on the main thread,
so the pass installs none. Its result is a typed value; the CLI derives the exit code from it.
"""

from __future__ import annotations

import threading

from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.app.readmodel import snapshot
from pullrekun.app.reconcile import reconcile
from pullrekun.app.results import Cancel, PassOutcome, PassResult
from pullrekun.cli import EXIT_CODES, EXIT_FAILURES, EXIT_OK
from tests.conftest import run_pass, status_of


def _pass_in_thread(sb: Sandbox, cancel: Cancel | None = None) -> PassResult:
    results: list[PassResult] = []
    errors: list[BaseException] = []

    def work() -> None:
        cfg = config_mod.load(sb.config_path)
        store = Store.open(cfg.state_url)
        try:
            results.append(reconcile(cfg, store, cancel=cancel))
        except BaseException as exc:
            errors.append(exc)
        finally:
            store.close()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(timeout=300)
    assert not worker.is_alive()
    assert errors == []
    (result,) = results
    return result


def test_a_pass_runs_on_a_worker_thread(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    number, sha = sb.open_pr("thread", "from a worker thread")
    result = _pass_in_thread(sb)
    assert result.outcome is PassOutcome.CLEAN, (result.problem, result.outcomes)
    assert EXIT_CODES[result.outcome] == EXIT_OK
    (env,) = status_of(sb)["environments"]
    assert (env["pr"], env["sha"], env["status"]) == (number, sha, "ready")
    assert sb.served(sb.addr_of(env["instance_id"])) == sha
    # What a dashboard asks without running a pass: one PR's environment, from the read model.
    cfg = config_mod.load(sb.config_path)
    store = Store.open(cfg.state_url)
    try:
        view = snapshot(cfg, store).environment(number)
        assert snapshot(cfg, store).environment(number + 100) is None
    finally:
        store.close()
    assert view is not None
    assert (view.sha, view.status, view.instance_state, view.url) == (sha, "ready", "running", env["url"])


def test_a_cancelled_pass_records_its_outcome_and_the_next_pass_finishes(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    number, sha = sb.open_pr("cancel", "cancelled first")
    cancel = Cancel()
    cancel.cancel()  # as a server shutting down would, from another thread
    result = _pass_in_thread(sb, cancel)
    assert result.outcome is PassOutcome.FAILURES
    assert EXIT_CODES[result.outcome] == EXIT_FAILURES
    assert result.run_status == "canceled"
    (env,) = status_of(sb)["environments"]
    assert env["status"] == "failed"
    assert "canceled" in (env["message"] or "")
    again = run_pass(sb)
    assert again.ok, (again.problem, again.outcomes)
    (env,) = status_of(sb)["environments"]
    assert (env["pr"], env["sha"], env["status"]) == (number, sha, "ready")
