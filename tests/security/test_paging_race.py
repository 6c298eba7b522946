"""A PR list read by offset shifts when a PR closes between two page reads; the open PR it hides
keeps its environment (pullrekun asks for it on its own before taking it for closed)."""

from __future__ import annotations

from pullrekun_sandbox.github_sim import Fault
from pullrekun_sandbox.sandbox import Sandbox

from pullrekun.app.results import PassOutcome
from tests.conftest import run_pass, status_of
from tests.integration.test_e2e_reporting import check_openapi


def test_an_open_pr_hidden_by_a_shifting_page_keeps_its_environment(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    sb.extra_config = {"github": {"per_page": 2}}
    sb.write_config()
    first, _ = sb.open_pr("r1", "one")
    sb.open_pr("r2", "two")
    hidden, hidden_sha = sb.open_pr("r3", "three")
    assert run_pass(sb).ok
    held = {e["pr"]: e["instance_id"] for e in status_of(sb)["environments"]}
    assert hidden in held
    waiting, _ = sb.open_pr("r4", "four")  # queued: it would take the first free instance

    def close_first_after_page_one(page: int) -> None:
        if page == 2 and sb.github.prs[first].state == "open":
            sb.github.close(first)  # page 2 now starts one PR later: #3 is on no page

    sb.github.before_pulls_page = close_first_after_page_one
    result = run_pass(sb)
    sb.github.before_pulls_page = None
    assert result.ok, (result.problem, result.outcomes)
    now = {e["pr"]: e["instance_id"] for e in status_of(sb)["environments"]}
    assert now[hidden] == held[hidden], "the hidden PR kept its instance"
    assert waiting not in now, "nothing was freed for the queued PR"
    assert sb.served(sb.addr_of(held[hidden])) == hidden_sha
    # The PR that did close (it was open on page 1) gives its instance back on the next pass.
    assert run_pass(sb).ok
    now = {e["pr"]: e["instance_id"] for e in status_of(sb)["environments"]}
    assert first not in now
    assert now[waiting] == held[first]
    assert now[hidden] == held[hidden]
    asked = [s.path for s in sb.github.served if s.path.endswith(f"/pulls/{hidden}")]
    assert len(asked) == 1, "the hidden PR was confirmed open with one request"
    check_openapi(sb.github)


def test_a_missing_pr_that_cannot_be_confirmed_closed_keeps_its_environment(local_sandbox: Sandbox) -> None:
    sb = local_sandbox
    number, _ = sb.open_pr("c1", "closing")
    assert run_pass(sb).ok
    (env,) = status_of(sb)["environments"]
    sb.github.close(number)
    sb.github.inject(Fault(502, times=20, path_prefix=f"/repos/{sb.github.repository}/pulls/{number}"))
    result = run_pass(sb)
    assert result.outcome is PassOutcome.NOT_OBSERVED
    assert f"/pulls/{number} answered 502" in result.problem
    assert [e["instance_id"] for e in status_of(sb)["environments"]] == [env["instance_id"]]
    sb.github.faults.clear()
    assert run_pass(sb).ok
    assert status_of(sb)["environments"] == []
