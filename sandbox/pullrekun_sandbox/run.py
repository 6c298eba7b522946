"""``pullrekun sandbox``: the whole loop on this machine, no AWS or GitHub account needed.

It opens four PRs on a pool of three instances, reconciles, pushes to one PR, closes
another, reconciles again, and shows ``status`` with each URL checked over HTTP. With
``--launch``, two more PRs get instances launched from a launch template (moto's), bootstrapped
and deployed in one pass, then scaled in once closed.
Every step goes through the real CLI (``pullrekun --config ... reconcile``), the real
playbooks and the real apps; only GitHub and EC2 are simulated.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from pullrekun.cli import main as cli_main


def _step(text: str) -> None:
    print(f"\n== {text}", flush=True)


def _cli(sb_config: Path, *args: str) -> int:
    code = cli_main(["--config", str(sb_config), *args])
    sys.stdout.flush()
    return code


def _show_github(sb: Any, prs: dict[int, str]) -> bool:
    """Print each open PR's status, deployment and comment; True if the deployed ones are green."""
    ok = True
    for number in sorted(sb.github.open_numbers()):
        sha = sb.github.prs[number].head_sha
        states = sb.github.status_states(sha)
        state, text = states[-1] if states else ("none", "")
        deployments = sb.github.deployments_of(number)
        history = deployments[-1]["statuses"] if deployments else []
        dep = history[-1]["state"] if history else "none"
        comments = len(sb.github.comments_on(number))
        print(f"  PR #{number}: status {state} ({text}); deployment {dep}; {comments} comment(s)")
        if number in prs:
            ok &= state == "success" and dep == "success" and comments == 1
    return ok


def _launch_demo(sb: Any) -> bool:
    """Two more PRs on a full pool: instances launched from the launch template, bootstrapped and
    deployed in one pass; the PRs on launched instances closed, then scaled in. True if each new
    PR was served and no launched instance is left."""
    _step("Open two more PRs: the pool is full, so pullrekun launches instances from its launch template")
    extra = {}
    for i in range(2):
        number, sha = sb.open_pr(f"launched-{i + 1}", f"hello from launched host {i + 1}", author="frank")
        extra[number] = sha
        print(f"  PR #{number} at {sha[:12]}")
    _step("pullrekun reconcile: launch, bootstrap (roles/staging) and deploy, in one pass")
    ok = _cli(sb.config_path, "reconcile") == 0
    launched = sb.launched()
    hosts = {iid: sb.addr_of(iid) for iid in [*sb.instance_ids, *launched]}
    served = {sb.served(addr) for addr in hosts.values()}
    ok &= set(extra.values()) <= served
    for iid in sorted(launched):
        print(f"  launched {iid} at {hosts[iid]}: serves {(sb.served(hosts[iid]) or 'nothing')[:12]}")
    _step("Close the PRs on launched instances: stopped, then terminated (ec2.scale_in_after is 1 s here)")
    on_launched = {sb.served(hosts[iid]) for iid in launched}
    for number in sorted(sb.github.open_numbers()):
        if sb.github.prs[number].head_sha in on_launched:
            sb.github.close(number)
            print(f"  closed PR #{number}")
    ok &= _cli(sb.config_path, "reconcile") == 0
    time.sleep(1.1)  # the demo's scale_in_after
    ok &= _cli(sb.config_path, "reconcile") == 0
    left = sb.launched()
    print(f"  launched instances left: {len(left)}")
    _cli(sb.config_path, "status")
    return ok and not left


def _check_urls(sb: Any, prs: dict[int, str]) -> bool:
    """Fetch every environment's URL: True if each serves its PR's head."""
    from pullrekun.adapters.state.store import Store

    _step("Check every environment URL over HTTP")
    ok = True
    store = Store.open(sb.state_db_url)
    try:
        for env in store.journal.environments():
            asg = env.assignment
            addr = sb.addr_of(asg.instance_id)
            served = sb.served(addr)
            good = served == prs.get(asg.pr_number)
            ok &= good
            mark = "ok " if good else "BAD"
            print(
                f"  [{mark}] PR #{asg.pr_number}: http://{addr}:{sb.app_port}/ serves "
                f"{(served or 'nothing')[:12]} (head {prs.get(asg.pr_number, '?')[:12]})"
            )
    finally:
        store.close()
    return ok


def main(directory: str, hosts: int, serve: bool, launch: bool = False) -> int:
    try:
        from pullrekun_sandbox.sandbox import Sandbox
    except ImportError as exc:  # moto is the optional extra
        print(
            f"pullrekun sandbox needs pullrekun-sandbox (pip install pullrekun-sandbox; from a checkout: "
            f"pip install ./sandbox): {exc}",
            file=sys.stderr,
        )
        return 2
    root = Path(directory).resolve()
    if root.exists():
        shutil.rmtree(root)
    sb = Sandbox(
        root=root,
        hosts=max(1, hosts),
        launch_hosts=2 if launch else 0,
        extra_config={"ec2": {"scale_in_after": 1}} if launch else {},
    )
    try:
        sb.start()
        print(
            f"sandbox in {root}\n  GitHub simulator: {sb.github.url}\n  EC2 (moto):       {sb.ec2_url}\n"
            f"  hosts:            {', '.join(sb.host_addrs)} (stopped pool instances)\n"
            f"  config:           {sb.config_path}"
        )
        _step(f"Open {hosts + 1} pull requests on a pool of {hosts} instances")
        prs = {}
        for i in range(hosts + 1):
            number, sha = sb.open_pr(
                f"feature-{i + 1}",
                f"hello from PR branch {i + 1}",
                author=("alice", "bob", "carol", "dave")[i % 4],
            )
            prs[number] = sha
            print(f"  PR #{number} at {sha[:12]}")
        draft, _ = sb.open_pr("wip", "work in progress", author="erin", draft=True)
        print(f"  PR #{draft} is a draft: it gets a neutral status, no slot")
        _step("pullrekun plan")
        _cli(sb.config_path, "plan")
        _step("pullrekun reconcile")
        codes = [_cli(sb.config_path, "reconcile")]
        _cli(sb.config_path, "status")

        first = min(prs)
        _step(f"Push a new commit to PR #{first}, reconcile")
        prs[first] = sb.commit(f"feature-{first}", "hello again, after a push")
        sb.github.push(first, prs[first])
        codes.append(_cli(sb.config_path, "reconcile"))

        closing = first + 1
        _step(f"Close PR #{closing}: its slot goes to the queued PR in the same pass")
        sb.github.close(closing)
        del prs[closing]
        codes.append(_cli(sb.config_path, "reconcile"))

        _step("pullrekun status")
        _cli(sb.config_path, "status")

        ok = _check_urls(sb, prs)
        _step("What each PR shows on GitHub (simulator)")
        ok &= _show_github(sb, prs)
        ok &= all(c == 0 for c in codes)
        if launch and ok:
            ok = _launch_demo(sb)
        print("\nsandbox: every open PR serves its head commit" if ok else "\nsandbox: FAILED")
        if serve and ok:
            ok = _serve(sb, prs)
        return 0 if ok else 1
    finally:
        sb.stop()


def _serve(sb: Any, prs: dict[int, str]) -> bool:
    """`pullrekun serve` on the sandbox: the simulator's webhooks start passes, until Ctrl-C."""
    from pullrekun import config as config_mod
    from pullrekun.adapters.state.store import Store
    from pullrekun.web.auth import hash_password
    from pullrekun.web.serve import Service
    from pullrekun_sandbox.github_hooks import WebhookSender

    password = secrets.token_urlsafe(12)
    cfg = config_mod.load(sb.config_path)
    # A local admin for the dashboard, made up for this run, and "Sign in with GitHub" through
    # the simulator's OAuth app (its authorize page asks which login you are); plain http.
    oauth_secret = secrets.token_urlsafe(24)
    sb.github.register_oauth_app("sandbox-dashboard", oauth_secret, "http://127.0.0.1:")
    os.environ[cfg.serve.oauth_client_secret_env] = oauth_secret
    serve = dataclasses.replace(
        cfg.serve,
        admins={"admin": hash_password(password)},
        secure_cookies=False,
        oauth_client_id="sandbox-dashboard",
    )
    cfg = dataclasses.replace(cfg, serve=serve)
    secret = secrets.token_urlsafe(24)
    store = Store.open(cfg.state_url)
    service = Service(cfg, store, secret, bind="127.0.0.1", port=0)
    try:
        service.start_background()
        sb.github.webhook = WebhookSender(f"{service.url}/webhooks/github", secret)
        _step("pullrekun serve: the simulator's webhooks start passes")
        print(f"  serve: {service.url} (/healthz, /metrics; GitHub's webhooks at /webhooks/github)")
        print(f"  dashboard: {service.url}/  sign in as admin, password {password}")
        print("             or with GitHub (the simulator's): 'maintainer' may act, 'octocat' may look")
        first = min(prs)
        prs[first] = sb.commit(f"feature-{first}", "hello, live after a webhook")
        pushed = time.monotonic()
        sb.github.push(first, prs[first])
        addr = None
        while time.monotonic() - pushed < 120 and addr is None:
            addr = next((a for a in sb.host_addrs if sb.served(a, timeout=1) == prs[first]), None)
            if addr is None:
                threading.Event().wait(0.1)
        if addr is None:
            print(f"  PR #{first}: {prs[first][:12]} was not served 120 s after its webhook")
            return False
        print(
            f"  PR #{first}: pushed {prs[first][:12]}; http://{addr}:{sb.app_port}/ served it "
            f"{time.monotonic() - pushed:.1f} s after the webhook"
        )
        service.trigger.wait_idle(60)  # the pass also reports to GitHub after the deploy
        print("serving; press Ctrl-C to stop", flush=True)
        done = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: done.set())
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        done.wait()
        return True
    finally:
        sb.github.webhook = None
        service.shutdown()
        store.close()
