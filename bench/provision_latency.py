"""Benchmark: from "PR queued, pool short" to "served" on a launched host, beside the same PR
served by a warm stopped instance.

Prints figures, asserts nothing (timed tests lie on shared machines). Measured in this run, in
the test world: moto's EC2 server (a launch there is instant: no boot), loopback sshd hosts
reached over SSH, the sandbox's app. Each round opens one PR on a pool whose instances are busy:

  launched   one `pullrekun reconcile`: the launch run (playbooks/launch.yml), then the deploy
             run: wait for SSH, bootstrap (roles/staging), deploy. Split from the runs' own
             events into launch (the launch run), to SSH (the deploy run's start until the
             instance answered), bootstrap and deploy (the rest of the run); total is the whole
             pass, process start-up, observation and reports included.
  warm       the same, with a stopped, bootstrapped instance free: start it, wait for SSH, deploy.

On AWS, add what moto skips: the instance's boot (RunInstances to SSH answering: typically
30-90 s for a Debian AMI, more with a large root volume or user data) and a start's boot
(15-40 s); the bootstrap's package installs then run at the network's speed.

Needs root, openssh-server and git (like the test suite):  .venv/bin/python -m bench.provision_latency
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from pullrekun_sandbox.sandbox import Sandbox, SSHSettings
from pullrekun_sandbox.sshd import SshdHosts, available

from bench.deploy_latency import reconcile

ADDRS = [f"127.0.0.{n}" for n in range(2, 6)]
WAIT = "Wait until the started instance answers."
BOOTSTRAP = "Bootstrap the launched instance (its first deploy)."
DEPLOY = "Deploy each environment at its PR's head commit."  # the deploy play


def _run_events(run_dir: Path) -> list[dict[str, Any]]:
    events_dir = next((run_dir / "artifacts").iterdir()) / "job_events"
    events = [json.loads(f.read_text()) for f in events_dir.iterdir()]
    return sorted(events, key=lambda e: e["counter"])


def _wall(events: list[dict[str, Any]]) -> float:
    stamps = [dt.datetime.fromisoformat(e["created"]) for e in events]
    return (max(stamps) - min(stamps)).total_seconds()


def _phases(events: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds of the deploy run before SSH answered, in the bootstrap, and in the rest."""
    starts = [
        (
            dt.datetime.fromisoformat(e["created"]),
            str(e["event_data"].get("task") or e["event_data"].get("play", "")),
        )
        for e in events
        if e["event"] in ("playbook_on_task_start", "playbook_on_play_start")
    ]
    end = dt.datetime.fromisoformat(events[-1]["created"])
    first = dt.datetime.fromisoformat(events[0]["created"])

    def at(name: str) -> dt.datetime | None:
        return next((t for t, n in starts if n == name), None)

    wait, boot, deploy = at(WAIT), at(BOOTSTRAP), at(DEPLOY)
    after_wait = next((t for t, _ in starts if wait is not None and t > wait), None)
    ssh = (after_wait - first).total_seconds() if after_wait else 0.0
    bootstrap = (deploy - boot).total_seconds() if boot and deploy else 0.0
    return {"ssh": ssh, "bootstrap": bootstrap, "deploy": (end - first).total_seconds() - ssh - bootstrap}


def _newest_runs(sb: Sandbox) -> tuple[Path | None, Path]:
    runs = sorted(p for p in (sb.root / "artifacts").iterdir() if p.is_dir() and (p / "artifacts").is_dir())
    deploy = next(p for p in reversed(runs) if (p / "plan.json").exists())
    launch = next((p for p in reversed(runs) if p.name == f"{deploy.name}-launch"), None)
    return launch, deploy


def _round(sb: Sandbox, name: str) -> dict[str, float]:
    sb.open_pr(name, name)
    total = reconcile(sb)
    launch_run, deploy_run = _newest_runs(sb)
    figures = {"total": total, "launch": _wall(_run_events(launch_run)) if launch_run else 0.0}
    figures.update(_phases(_run_events(deploy_run)))
    return figures


def _measure(tmp: Path, hosts: SshdHosts, n: int, launch: int, name: str) -> dict[str, float]:
    """A world of ``n`` hand-tagged instances (room for ``launch`` more), all busy but one's
    worth: one more PR's pass, measured."""
    sb = _world(tmp, hosts, n, launch, name).start()
    try:
        sb.open_pr("busy", "busy")
        reconcile(sb)
        return _round(sb, "queued")
    finally:
        sb.stop()


def _world(tmp: Path, hosts: SshdHosts, n: int, launch: int, name: str) -> Sandbox:
    return Sandbox(
        root=tmp / name,
        hosts=n,
        connection="ssh",
        net="127.0.0",
        ssh=SSHSettings(user=hosts.user, private_key=str(hosts.private_key)),
        launch_hosts=launch,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2, help="repetitions; medians are printed")
    args = parser.parse_args()
    reason = available()
    if reason:
        print(f"provision_latency: cannot run: {reason}", file=sys.stderr)
        return 2
    launched: list[dict[str, float]] = []
    warm: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="pullrekun-bench-") as tmp:
        hosts = SshdHosts(Path(tmp) / "sshd", ADDRS).start()
        try:
            for r in range(args.rounds):
                # One hand-tagged instance, busy, and room for one launched.
                launched.append(_measure(Path(tmp), hosts, 1, 1, f"launch-{r}"))
                # Two hand-tagged instances: one busy, one stopped and ready to serve (warm).
                warm.append(_measure(Path(tmp), hosts, 2, 0, f"warm-{r}"))
        finally:
            hosts.stop()

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(row[key] for row in rows)

    print(f"provision latency, {args.rounds} round(s), medians (moto: no boot time; loopback SSH)")
    print(f"  {'':10} {'total':>7} {'launch':>7} {'to SSH':>7} {'bootstrap':>9} {'deploy':>7}")
    for label, rows in (("launched", launched), ("warm", warm)):
        print(
            f"  {label:10} {med(rows, 'total'):6.2f}s {med(rows, 'launch'):6.2f}s {med(rows, 'ssh'):6.2f}s "
            f"{med(rows, 'bootstrap'):8.2f}s {med(rows, 'deploy'):6.2f}s"
        )
    print(f"  launched / warm: {med(launched, 'total') / med(warm, 'total'):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
