"""Benchmark: `pullrekun serve`, from a webhook to a pass, and from a push to the new commit served.

Prints figures, asserts nothing (timed tests lie on shared machines). Measured in this run:

  delivery -> pass started   a real server on loopback, GitHub-signed deliveries, a pass that
                             only counts (what a pass does is measured below): 50 single events
                             (each after a quiet spell, when a pass starts at once) and 10 bursts
                             of 20 events sent at once; median and p95 of the time from the first
                             delivery's arrival to its pass's start, and of the answer GitHub
                             gets.
  push -> served             on a loopback sshd host, `pullrekun serve` with the real pass: the
                             simulator pushes to a PR whose environment runs, its webhook
                             reaches the server, the pass redeploys; the clock stops when the
                             app answers with the new commit. Against the plain-SSH baseline of
                             bench/deploy_latency.py (the same deploy as one ssh command), in
                             the same run, same host.

Needs root, openssh-server and git for the second part:  .venv/bin/python -m bench.serve_latency
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pullrekun_sandbox.github_hooks import WebhookSender
from pullrekun_sandbox.sandbox import Sandbox, SSHSettings
from pullrekun_sandbox.sshd import SshdHosts, available

from bench.deploy_latency import baseline
from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.config import ServeConfig, parse
from pullrekun.core.webhooks import sign
from pullrekun.web.serve import Service

SECRET = "bench secret"  # noqa: S105 - the webhook secret of a throwaway server
REPOSITORY = "acme/webapp"


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _deliver(url: str) -> float:
    body = json.dumps(
        {"action": "synchronize", "number": 1, "repository": {"full_name": REPOSITORY}}
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - an http:// URL of our own loopback server
        url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": sign(SECRET.encode(), body),
        },
    )
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as resp:  # noqa: S310 - as above
        resp.read()
    return time.perf_counter() - start


def trigger_latency(tmp: Path) -> None:
    cfg = parse({"github": {"repository": REPOSITORY}, "app": {"repo_url": "-", "command": "-"}})
    store = Store.open(f"sqlite:///{tmp / 'state.db'}")
    service = Service(cfg, store, SECRET, bind="127.0.0.1", port=0, run_pass=lambda: "clean")
    service.start_background()
    url = f"{service.url}/webhooks/github"
    trigger = service.trigger
    try:
        answers, singles = [], []
        quiet = threading.Event()
        for _ in range(50):
            quiet.wait(trigger.settle + 0.05)  # a quiet spell: this delivery is a burst's first
            answers.append(_deliver(url))
            trigger.wait_idle(30)
            last = trigger.history[-1]
            singles.append(last.started - (last.poked_at or last.started))
        bursts, passes_per_burst = [], []
        with ThreadPoolExecutor(20) as pool:
            for _ in range(10):
                before = len(trigger.history)
                answers += list(pool.map(lambda _: _deliver(url), range(20)))
                trigger.wait_idle(30)
                runs = trigger.history[before:]
                passes_per_burst.append(len(runs))
                bursts.append(runs[0].started - (runs[0].poked_at or runs[0].started))
    finally:
        service.shutdown()
        store.close()
    settle = cfg.serve.settle_ms
    print(f"delivery -> pass started (settle_ms = {settle}; target median <= 1 s)")
    print(f"  50 single events:     median {statistics.median(singles):.3f} s, p95 {p95(singles):.3f} s")
    print(f"  10 bursts of 20:      median {statistics.median(bursts):.3f} s, p95 {p95(bursts):.3f} s")
    print(f"  passes per burst:     {sorted(passes_per_burst)}")
    ms = [a * 1000 for a in answers]
    print(f"  answer to GitHub:     median {statistics.median(ms):.1f} ms, p95 {p95(ms):.1f} ms")


def push_latency(tmp: Path, rounds: int) -> None:
    reason = available()
    if reason:
        print(f"push -> served: skipped ({reason})")
        return
    addr = "127.0.0.2"
    hosts = SshdHosts(tmp / "sshd", [addr]).start()
    sb = Sandbox(
        root=tmp / "world",
        hosts=1,
        connection="ssh",
        ssh=SSHSettings(user=hosts.user, private_key=str(hosts.private_key)),
    )
    service = None
    store = None
    try:
        sb.start()
        pr, _ = sb.open_pr("bench", "bench 0")
        cfg = dataclasses.replace(config_mod.load(sb.config_path), serve=ServeConfig(interval=3600))
        store = Store.open(cfg.state_url)
        service = Service(cfg, store, SECRET, bind="127.0.0.1", port=0)
        service.start_background()
        service.trigger.poke("start")  # the first deploy (clone, first release): not measured
        _wait_served(sb, addr, sb.github.prs[pr].head_sha, 300)
        service.trigger.wait_idle(120)
        sb.github.webhook = WebhookSender(f"{service.url}/webhooks/github", SECRET)
        base, pushed, waited, passes = [], [], [], []
        for i in range(rounds):
            sha = sb.commit("bench", f"baseline {i}")
            base.append(baseline(sb, hosts, addr, sha))
            head = sb.commit("bench", f"served {i}")
            before = len(service.trigger.history)
            start = time.perf_counter()
            sb.github.push(pr, head)  # returns once the server answered the delivery
            _wait_served(sb, addr, head, 300)
            pushed.append(time.perf_counter() - start)
            service.trigger.wait_idle(120)  # the pass reports to GitHub after the deploy
            run = service.trigger.history[before]  # the pass the push started
            waited.append(run.started - (run.poked_at or run.started))
            passes.append(run.finished - run.started)
    finally:
        sb.github.webhook = None
        if service is not None:
            service.shutdown()
        if store is not None:
            store.close()
        sb.stop()
        hosts.stop()
    b, p = statistics.median(base), statistics.median(pushed)
    print(f"push -> served (medians of {rounds} rounds, 1 loopback sshd host)")
    print(f"  plain-ssh baseline:   {b:.2f} s")
    print(f"  webhook, serve, pass: {p:.2f} s")
    print(f"    of which waiting:   {statistics.median(waited):.2f} s (delivery -> pass started)")
    print(f"    the whole pass:     {statistics.median(passes):.2f} s (reports to GitHub included)")
    print(f"  ratio:                {p / b:.2f}x (target <= 2.0x; the timer path waited up to 60 s more)")


def _wait_served(sb: Sandbox, addr: str, sha: str, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    tick = threading.Event()
    while sb.served(addr, timeout=1) != sha:
        if time.perf_counter() > deadline:
            raise SystemExit(f"{addr} did not serve {sha[:12]} within {timeout} s")
        tick.wait(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="push rounds; medians are printed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pullrekun-bench-serve-") as tmp:
        trigger_latency(Path(tmp))
        push_latency(Path(tmp), args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
