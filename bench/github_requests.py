"""Benchmark: GitHub requests per pass, with 5 and with 300 open PRs.

Prints figures, asserts nothing. Each pass is a real ``pullrekun reconcile`` (in this
process) against the GitHub simulator, moto's EC2 and 3 local hosts (the sandbox), so
3 PRs hold instances and the rest queue. The simulator counts every request it answered
and whether it cost rate limit (a 304 to a conditional request with credentials is free).

  first      the first pass: everything is reported once (statuses, comments, deployments)
  idle       a pass after nothing changed (the pass before it has absorbed the list
             changes our own comment edits cause)
  change     a push to one deployed PR: redeploy and report it
  after      the next pass, which re-reads the list page our comment edit changed
  stateless  baseline measured in the same run: the same idle world reported by a
             reporter that keeps no record of what it sent (the reports table emptied),
             i.e. what re-posting every state each pass would cost

Targets: idle = 0 counted requests whatever the number of PRs; change = a small
constant. Run:  .venv/bin/python -m bench.github_requests [--prs 5 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from pullrekun_sandbox.sandbox import Sandbox
from sqlalchemy import delete

from pullrekun import config as config_mod
from pullrekun.adapters.state.schema import ReportRow
from pullrekun.adapters.state.store import Store
from pullrekun.app.reconcile import reconcile
from pullrekun.app.results import PassResult


def one_pass(sb: Sandbox) -> tuple[dict[str, int], float, PassResult]:
    before = sb.github.counters()
    writes_before = len(sb.github.writes())
    cfg = config_mod.load(sb.config_path)
    store = Store.open(cfg.state_url)
    start = time.perf_counter()
    try:
        result = reconcile(cfg, store)
    finally:
        store.close()
    elapsed = time.perf_counter() - start
    after = sb.github.counters()
    figures = {k: after[k] - before[k] for k in after}
    figures["writes"] = len(sb.github.writes()) - writes_before
    if result.report is not None and result.report.problem:
        raise SystemExit(f"report problem: {result.report.problem}")
    return figures, elapsed, result


def scenario(root: Path, n_prs: int) -> list[tuple[str, dict[str, int], float]]:
    sb = Sandbox(root=root, hosts=3, first_host=30).start()
    rows: list[tuple[str, dict[str, int], float]] = []
    try:
        deployed = [sb.open_pr(f"feature-{i}", f"hello {i}")[0] for i in range(3)]
        for n in range(3, n_prs):
            sb.github.open_pr(f"{n + 1:040x}", title=f"queued change {n}", head_ref=f"queued-{n}")
        figures, elapsed, _ = one_pass(sb)
        rows.append(("first", figures, elapsed))
        one_pass(sb)  # absorbs the list change our own comments made
        figures, elapsed, _ = one_pass(sb)
        rows.append(("idle", figures, elapsed))
        sb.github.push(deployed[0], sb.commit("feature-0", "pushed"))
        figures, elapsed, _ = one_pass(sb)
        rows.append(("change", figures, elapsed))
        figures, elapsed, _ = one_pass(sb)
        rows.append(("after", figures, elapsed))
        one_pass(sb)
        store = Store.open(config_mod.load(sb.config_path).state_url)
        with store.session() as s, s.begin():
            s.execute(delete(ReportRow))
        store.close()
        figures, elapsed, _ = one_pass(sb)
        rows.append(("stateless", figures, elapsed))
    finally:
        sb.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prs", type=int, nargs="+", default=[5, 300])
    args = parser.parse_args()
    print(f"{'PRs':>4}  {'pass':<10} {'requests':>8} {'counted':>8} {'304s':>5} {'writes':>6} {'seconds':>8}")
    summary = []
    for n in args.prs:
        with tempfile.TemporaryDirectory(prefix="pullrekun-bench-gh-") as tmp:
            rows = scenario(Path(tmp) / "world", n)
        for name, f, secs in rows:
            print(
                f"{n:>4}  {name:<10} {f['requests']:>8} {f['counted']:>8} {f['not_modified']:>5}"
                f" {f['writes']:>6} {secs:>8.2f}"
            )
        by = {name: f for name, f, _ in rows}
        summary.append((n, by))
    print()
    for n, by in summary:
        change = by["change"]["counted"] + by["after"]["counted"]
        base = by["stateless"]["counted"]
        print(
            f"{n} PRs: idle pass {by['idle']['counted']} counted of {by['idle']['requests']} requests; "
            f"one change {change} counted (change + the pass after); "
            f"stateless re-report baseline {base} counted; change/baseline = {change / max(base, 1):.3f}"
        )


if __name__ == "__main__":
    main()
