"""One handler per command (argparse ``set_defaults``). A handler gets the parsed arguments, the
config and the state store, prints what it did and returns the exit code; surfaces only record
requests and read the read model (passes are run by :mod:`pullrekun.app.reconcile`)."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import re
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from types import FrameType

from pullrekun import config as config_mod
from pullrekun.adapters import known_hosts
from pullrekun.adapters.github.client import GitHubUnavailable
from pullrekun.adapters.github.history import ProductionUnreadable
from pullrekun.adapters.known_hosts import known_hosts_file
from pullrekun.adapters.state.lock import pass_lock
from pullrekun.adapters.state.notices import NoticeLedger
from pullrekun.adapters.state.store import Store
from pullrekun.app.observe import ObserveFailed
from pullrekun.app.readmodel import snapshot
from pullrekun.app.reconcile import plan_only, reconcile, release_notices
from pullrekun.app.results import Cancel, PassOutcome, utcnow
from pullrekun.cli.render import notice_line, pass_text, plan_text, status_table
from pullrekun.config.secrets import secret
from pullrekun.core.planjson import plan_json
from pullrekun.core.text import neutralise
from pullrekun.core.validate import check_instance_id

log = logging.getLogger("pullrekun")

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_BAD_INPUT = 2
EXIT_LOCKED = 3
EXIT_ERROR = 4
#: The exit code of each way a pass can end.
EXIT_CODES = {
    PassOutcome.CLEAN: EXIT_OK,
    PassOutcome.FAILURES: EXIT_FAILURES,
    PassOutcome.NOT_OBSERVED: EXIT_FAILURES,
}
Args = argparse.Namespace
Config = config_mod.Config


def refuse(message: str) -> int:
    print(f"pullrekun: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _cli_actor() -> str:
    """Who asked, in the events table: the Unix user running the command."""
    return f"cli:{getpass.getuser()}"


@contextmanager
def _cancel_on_signals() -> Iterator[Cancel]:
    """SIGTERM/SIGINT cancel the pass's playbook run; its outcomes are still recorded."""
    cancel = Cancel()

    def handler(signum: int, frame: FrameType | None) -> None:
        log.warning("signal %s: canceling the playbook run", signum)
        cancel.cancel()

    old = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield cancel
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def reconcile_command(args: Args, cfg: Config, store: Store) -> int:
    with _cancel_on_signals() as cancel:
        result = reconcile(cfg, store, cancel=cancel)
    if result.plan is None:
        print(f"pullrekun: {result.problem}; nothing changed", file=sys.stderr)
        return EXIT_FAILURES
    print(pass_text(result))
    return EXIT_CODES[result.outcome]


def plan_command(args: Args, cfg: Config, store: Store) -> int:
    result = plan_only(cfg, store)
    if result.plan is None:
        print(f"pullrekun: {result.problem}; nothing changed", file=sys.stderr)
        return EXIT_FAILURES
    print(json.dumps(plan_json(result.plan), indent=2) if args.json else plan_text(result.plan))
    return EXIT_OK


def status_command(args: Args, cfg: Config, store: Store) -> int:
    snap = snapshot(cfg, store)
    print(json.dumps(snap.to_json(), indent=2) if args.json else status_table(snap))
    return EXIT_OK


def accept_host_key(args: Args, cfg: Config, store: Store) -> int:
    iid = check_instance_id(args.instance)
    if not known_hosts.forget(known_hosts_file(cfg), iid):
        return refuse(f"no host key is pinned for {iid}")
    store.events.add(
        utcnow(), "host_key_forgotten", f"{iid}: the next pass learns its new host key", None, iid
    )
    print(f"{iid}: its old host key is forgotten; the next pass learns the new one")
    return EXIT_OK


def reset_db(args: Args, cfg: Config, store: Store) -> int:
    if cfg.database is None:
        return refuse("reset-db needs a [database] section in the config")
    if not store.requests.reset(args.pr, utcnow(), actor=_cli_actor()):
        return refuse(f"PR #{args.pr} holds no environment")
    print(f"PR #{args.pr}: its schema will be cloned afresh on the next pass")
    return EXIT_OK


def redeploy(args: Args, cfg: Config, store: Store) -> int:
    if not store.requests.redeploy(args.pr, utcnow(), actor=_cli_actor()):
        return refuse(f"PR #{args.pr} holds no environment")
    print(f"PR #{args.pr}: its commit will be deployed again on the next pass")
    return EXIT_OK


def serve(args: Args, cfg: Config, store: Store) -> int:
    from pullrekun.web.serve import Service  # the web stack loads only for `serve`

    webhook_secret = secret(cfg.serve.webhook_secret_env)
    if not webhook_secret:
        print(
            f"pullrekun: serve needs the webhook secret in ${cfg.serve.webhook_secret_env} "
            "(the secret set on GitHub's webhook)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if cfg.serve.oauth_client_id and not secret(cfg.serve.oauth_client_secret_env):
        print(
            f"pullrekun: serve.oauth_client_id is set, so the OAuth app's client secret must be in "
            f"${cfg.serve.oauth_client_secret_env}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    service = Service(cfg, store, webhook_secret, bind=args.bind, port=args.port)
    service.run(on_ready=lambda url: print(f"pullrekun serve: listening on {url}", flush=True))
    return EXIT_OK


def release_notes(args: Args, cfg: Config, store: Store) -> int:
    if cfg.release is None:
        print("pullrekun: release-notes needs a [release] section in the config", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.post and not args.pending:
        print("pullrekun: --post goes with --pending", file=sys.stderr)
        return EXIT_BAD_INPUT
    ledger = NoticeLedger(store)
    if args.resend is not None:
        if not ledger.resend(args.resend, utcnow(), _cli_actor()):
            print(f"pullrekun: notice {args.resend} has no send of unknown delivery", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"notice {args.resend}: sent again on the next pass")
        return EXIT_OK
    if not args.pending:
        for notice in ledger.recent():
            print(notice_line(notice))
        return EXIT_OK
    try:
        if args.post:
            with pass_lock(store.engine):
                _, text = release_notices(cfg, store).post_pending(_cli_actor())
        else:
            notices = release_notices(cfg, store)
            text = notices.waiting_text(notices.production())
    except (ProductionUnreadable, GitHubUnavailable, ObserveFailed) as exc:
        print(f"pullrekun: {exc}", file=sys.stderr)
        return EXIT_FAILURES
    print(neutralise(text))
    return EXIT_OK


# --- commands without a config -----------------------------------------------------------


def hash_password_command(args: Args) -> int:
    from pullrekun.web.auth import hash_password

    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if len(password) < 12:
        print("pullrekun: a dashboard password needs at least 12 characters", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(hash_password(password))
    return EXIT_OK


def api_token(args: Args) -> int:
    from pullrekun.web.tokens import new_token

    name, viewer = args.name, args.viewer
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}", name):
        print("pullrekun: a token's name is letters, digits, '.', '_' and '-' (40 at most)", file=sys.stderr)
        return EXIT_BAD_INPUT
    token, digest = new_token()
    print(f"token (shown once; give it to the caller): {token}")
    print("add to the config file (only this hash is kept there):")
    print(f"[serve.{'viewer' if viewer else 'admin'}_tokens]")
    print(f'{name} = "{digest}"')
    return EXIT_OK


def sandbox(args: Args) -> int:
    """Run ``pullrekun_sandbox`` through its entry point: the product never imports it."""
    found = metadata.entry_points(group="pullrekun.sandbox", name="run")
    try:
        run = next(iter(found)).load()
    except (StopIteration, ImportError) as exc:  # the sandbox's extra (moto) is not installed
        print(
            f"pullrekun sandbox needs pullrekun-sandbox (pip install pullrekun-sandbox; from a checkout: "
            f"pip install ./sandbox): {exc}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    code: int = (
        run(args.dir, args.hosts, args.serve, launch=args.launch)
        if args.launch
        else run(args.dir, args.hosts, args.serve)
    )
    return code
