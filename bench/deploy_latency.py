"""Benchmark: how long one pass takes to redeploy a new commit, against plain SSH.

Prints figures, asserts nothing (timed tests lie on shared machines). Everything is
measured in this run, on loopback sshd hosts:

  baseline   one `ssh host '<script>'` doing what a deploy must do: fetch the commit into
             the cached clone, export it as a release, switch `current`, restart the app,
             poll its health URL.
  baseline(8) the same on 8 hosts side by side (8 ssh clients at once): what this machine's
             cores make of 8 times the work, with no Ansible at all.
  pass(1)    `python -m pullrekun reconcile` (process start, GitHub + EC2 observation,
             planning, the ansible-runner run, recording) after a push to 1 PR.
  pass(8)    the same after a push to each of 8 PRs on 8 hosts.

Then an idle pass: how many GitHub requests it made and how many were answered 304.

Needs root, openssh-server and git (like the test suite):  .venv/bin/python -m bench.deploy_latency
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pullrekun_sandbox.sandbox import Sandbox, SSHSettings
from pullrekun_sandbox.sshd import SshdHosts, available

ADDRS = [f"127.0.0.{n}" for n in range(2, 10)]


def reconcile(sb: Sandbox) -> float:
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "pullrekun", "--config", str(sb.config_path), "reconcile"],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"reconcile failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return elapsed


def _events(sb: Sandbox) -> list[dict[str, Any]]:
    runs = sorted(p for p in (sb.root / "artifacts").iterdir() if (p / "plan.json").exists())
    events_dir = next((runs[-1] / "artifacts").iterdir()) / "job_events"
    events = [json.loads(f.read_text()) for f in events_dir.iterdir()]
    return sorted(events, key=lambda e: e["counter"])


def ansible_seconds(sb: Sandbox) -> float:
    """Wall time of the newest playbook run, from its first to its last event."""
    stamps = [dt.datetime.fromisoformat(e["created"]) for e in _events(sb)]
    return (max(stamps) - min(stamps)).total_seconds()


def task_breakdown(sb: Sandbox) -> list[tuple[float, str]]:
    """Seconds from each task's start to the next one's, in the newest playbook run."""
    events = _events(sb)
    marks = [
        (dt.datetime.fromisoformat(e["created"]), str(e["event_data"].get("task", "")))
        for e in events
        if e["event"] in ("playbook_on_task_start", "playbook_on_play_start")
    ]
    marks.append((dt.datetime.fromisoformat(events[-1]["created"]), "end"))
    return [((b - a).total_seconds(), name) for (a, name), (b, _) in itertools.pairwise(marks)]


def baseline(sb: Sandbox, hosts: SshdHosts, addr: str, sha: str) -> float:
    """The same deploy as one plain SSH command (no Ansible, no pullrekun)."""
    root = sb.deploy_root(addr)
    rel = f"releases/{sha}.baseline"
    health = f"http://{addr}:{sb.app_port}/health"
    probe = f"import urllib.request; urllib.request.urlopen({health!r}, timeout=2)"
    script = "; ".join(
        [
            "set -e",
            f"cd {shlex.quote(str(root))}",
            f"git --git-dir=repo fetch -q {shlex.quote(str(sb.remote))} '+refs/heads/*:refs/heads/*'",
            f"rm -rf {rel} && mkdir -p {rel}",
            f"git --git-dir=repo archive {sha} | tar -x -C {rel}",
            f"echo {sha} > {rel}/REVISION",
            f"ln -sfn {shlex.quote(str(root))}/{rel} current",
            "shared/appctl stop >/dev/null",
            "start-stop-daemon --start --background --make-pidfile --pidfile shared/app.pid"
            " --chdir . --startas /bin/sh -- shared/appctl run",
            f"i=0; until /usr/bin/python3 -c {shlex.quote(probe)} 2>/dev/null; do "
            "i=$((i+1)); [ $i -lt 200 ] || exit 1; sleep 0.05; done",
        ]
    )
    start = time.perf_counter()
    out = hosts.ssh(addr, script)
    elapsed = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"baseline failed: {out.stderr}")
    if sb.served(addr) != sha:
        raise SystemExit("baseline did not serve the commit")
    return elapsed


def baseline_side_by_side(sb: Sandbox, hosts: SshdHosts, targets: dict[str, str]) -> float:
    """The baseline on every host (address -> commit) at once; the time until the last is done."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(targets)) as pool:
        list(pool.map(lambda t: baseline(sb, hosts, *t), targets.items()))
    return time.perf_counter() - start


@dataclass
class Figures:
    base: list[float] = field(default_factory=list)
    base8: list[float] = field(default_factory=list)
    one: list[float] = field(default_factory=list)
    eight: list[float] = field(default_factory=list)
    ans1: list[float] = field(default_factory=list)
    ans8: list[float] = field(default_factory=list)
    breakdown1: list[tuple[float, str]] = field(default_factory=list)
    breakdown8: list[tuple[float, str]] = field(default_factory=list)
    #: The simulator's counters before and after the idle pass.
    idle: tuple[dict[str, int], dict[str, int]] = ({}, {})


def measure(sb: Sandbox, hosts: SshdHosts, rounds: int, tasks: bool) -> Figures:
    """Deploy everywhere once, then ``rounds`` of: the baseline, a 1-host pass, an 8-host pass;
    then the idle pass."""
    prs = {}
    for i in range(len(ADDRS)):
        number, _ = sb.open_pr(f"bench-{i}", f"bench {i}")
        prs[number] = f"bench-{i}"
    reconcile(sb)  # first deploy everywhere (clones, first releases): not measured
    envs = json.loads(
        subprocess.run(
            [sys.executable, "-m", "pullrekun", "--config", str(sb.config_path), "status", "--json"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["environments"]
    addr_of_pr = {s["pr"]: sb.addr_of(s["instance_id"]) for s in envs}
    first = min(prs)
    fig = Figures()
    counter = itertools.count(1)
    for _ in range(rounds):
        sha = sb.commit(prs[first], f"baseline {next(counter)}")
        fig.base.append(baseline(sb, hosts, addr_of_pr[first], sha))
        sb.github.push(first, sb.commit(prs[first], f"one {next(counter)}"))
        fig.one.append(reconcile(sb))
        fig.ans1.append(ansible_seconds(sb))
        if tasks:
            fig.breakdown1 = task_breakdown(sb)
        step = next(counter)
        targets = {addr_of_pr[n]: sb.commit(branch, f"baseline {step}") for n, branch in prs.items()}
        fig.base8.append(baseline_side_by_side(sb, hosts, targets))
        for number, branch in prs.items():
            sb.github.push(number, sb.commit(branch, f"all {step}"))
        fig.eight.append(reconcile(sb))
        fig.ans8.append(ansible_seconds(sb))
        if tasks:
            fig.breakdown8 = task_breakdown(sb)
        for number in prs:
            if sb.served(addr_of_pr[number]) != sb.github.prs[number].head_sha:
                raise SystemExit(f"PR {number} does not serve its head after the pass")
    # The last pass's comment edits moved the PRs' updated_at: one pass re-reads that list page
    # and sends nothing; the pass after it is idle.
    reconcile(sb)
    before = sb.github.counters()
    reconcile(sb)
    fig.idle = (before, sb.github.counters())
    return fig


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="repetitions; medians are printed")
    parser.add_argument("--tasks", action="store_true", help="also print where the last runs spent time")
    args = parser.parse_args()
    reason = available()
    if reason:
        print(f"deploy_latency: cannot run: {reason}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pullrekun-bench-") as tmp:
        hosts = SshdHosts(Path(tmp) / "sshd", ADDRS).start()
        sb = Sandbox(
            root=Path(tmp) / "world",
            hosts=len(ADDRS),
            connection="ssh",
            ssh=SSHSettings(user=hosts.user, private_key=str(hosts.private_key)),
        )
        try:
            sb.start()
            fig = measure(sb, hosts, args.rounds, args.tasks)
        finally:
            sb.stop()
            hosts.stop()
    b, p1, p8 = statistics.median(fig.base), statistics.median(fig.one), statistics.median(fig.eight)
    b8 = statistics.median(fig.base8)
    a1, a8 = statistics.median(fig.ans1), statistics.median(fig.ans8)
    before, after = fig.idle
    idle_requests = after["requests"] - before["requests"]
    idle_304 = after["not_modified"] - before["not_modified"]
    idle_counted = after["counted"] - before["counted"]
    print(f"deploy_latency (medians of {args.rounds} rounds, {os.cpu_count()} cores, loopback sshd hosts)")
    print(f"  baseline, plain ssh deploy of 1 host:   {b:6.2f} s")
    print(f"  pass redeploying 1 host:                {p1:6.2f} s  (ansible run {a1:.2f} s)")
    print(f"  pass redeploying 8 hosts:               {p8:6.2f} s  (ansible run {a8:.2f} s)")
    print(f"  pass(1) / baseline:                     {p1 / b:6.2f}x  (target <= 3.0x)")
    print(f"  baseline, the same on 8 hosts at once:  {b8:6.2f} s")
    print(f"  pass(8) / pass(1):                      {p8 / p1:6.2f}x  (target <= 1.6x)")
    print(f"  baseline(8) / baseline(1):              {b8 / b:6.2f}x  (the same ratio without Ansible)")
    print(f"  pass(8) / baseline(8):                  {p8 / b8:6.2f}x")
    print(
        f"  idle pass GitHub requests:              {idle_requests} "
        f"({idle_304} answered 304, {idle_counted} counted against the rate limit)"
    )
    if args.tasks:
        for label, rows in (("1 host", fig.breakdown1), ("8 hosts", fig.breakdown8)):
            print(f"  time per task, last {label} run:")
            for secs, name in rows:
                print(f"    {secs:5.2f} s  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
