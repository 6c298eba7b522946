"""Command line: ``pullrekun reconcile | plan | status | sandbox``.

Exit codes: 0 done; 1 done but some environments failed (or GitHub/EC2 could not be
read: nothing was changed, the next pass retries); 2 bad configuration or input
(nothing changed); 3 another pass holds the lock (nothing done); 4 an error: the state DB
could not be reached, the pass lost its lock, or pullrekun crashed (the next pass finishes
from what it observes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from types import FrameType

from pullrekun import __version__, logs
from pullrekun import config as config_mod
from pullrekun.adapters import known_hosts
from pullrekun.adapters.github.client import GitHubUnavailable
from pullrekun.adapters.github.history import ProductionUnreadable
from pullrekun.adapters.known_hosts import known_hosts_file
from pullrekun.adapters.playbook.apply import plan_to_json
from pullrekun.adapters.state.lock import LockHeld, LockLost, pass_lock
from pullrekun.adapters.state.notices import NoticeLedger
from pullrekun.adapters.state.store import Store
from pullrekun.app.observe import ObserveFailed
from pullrekun.app.readmodel import Snapshot, snapshot
from pullrekun.app.reconcile import plan_only, reconcile, release_notices
from pullrekun.app.render import check_overrides
from pullrekun.app.results import Cancel, PassOutcome, PassResult, utcnow
from pullrekun.core.text import neutralise
from pullrekun.core.validate import InvalidInput, check_instance_id

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


def _reconcile(cfg: config_mod.Config, store: Store) -> PassResult:
    with _cancel_on_signals() as cancel:
        return reconcile(cfg, store, cancel=cancel)


class _RedactingFilter(logging.Filter):
    """Takes the controller's secret values out of every log line (exceptions' texts included)."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        record.msg, record.args = self._redact(message), ()
        return True


def _redact_logs(redact: Callable[[str], str]) -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(_RedactingFilter(redact))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pullrekun", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", help="config file (default: $PULLREKUN_CONFIG, then ./pullrekun.toml)")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    p.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        default=os.environ.get("PULLREKUN_LOG_FORMAT", "text"),
        help="text lines, or one JSON object per line (default: $PULLREKUN_LOG_FORMAT, then text)",
    )
    p.add_argument("--version", action="version", version=f"pullrekun {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("reconcile", help="run one pass: observe, plan, apply, record")
    for name, text in (
        ("plan", "print what a pass would do, without doing it"),
        ("status", "show every pool instance, every environment and the queue"),
    ):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("--json", action="store_true", help="machine-readable output")
    rd = sub.add_parser("reset-db", help="give a PR's environment a fresh copy of its source schema")
    rd.add_argument("pr", type=int, help="pull request number")
    rp = sub.add_parser("redeploy", help="deploy a PR's commit again on the next pass")
    rp.add_argument("pr", type=int, help="pull request number")
    ak = sub.add_parser(
        "accept-host-key", help="forget an instance's pinned SSH host key: the next pass learns its new one"
    )
    ak.add_argument("instance", help="EC2 instance id (i-...)")
    rn = sub.add_parser(
        "release-notes", help="release notices: the recent ones, or what is waiting for release"
    )
    what = rn.add_mutually_exclusive_group()
    what.add_argument(
        "--pending", action="store_true", help="print the merged PRs not in production, with their risk notes"
    )
    what.add_argument(
        "--resend", type=int, metavar="ID", help="send again a notice whose delivery is unknown (see status)"
    )
    rn.add_argument(
        "--post", action="store_true", help="with --pending: also post it to the release channels"
    )
    sv = sub.add_parser("serve", help="answer GitHub's webhooks with passes, and run one on a timer anyway")
    sv.add_argument("--bind", help="address to listen on (default: serve.bind)")
    sv.add_argument("--port", type=int, help="port to listen on (default: serve.port)")
    sub.add_parser(
        "hash-password",
        help="read a dashboard password on stdin, print its argon2 hash for serve.admins/viewers",
    )
    at = sub.add_parser(
        "api-token",
        help="make an API token: prints it once, and the line serve.admin_tokens/viewer_tokens need",
    )
    at.add_argument("name", help="what the token is for (its actions are recorded as token:<name>)")
    at.add_argument("--viewer", action="store_true", help="a token that may read but not act")
    sb = sub.add_parser("sandbox", help="run the whole loop locally (GitHub simulator, moto EC2)")
    sb.add_argument("--dir", default="sandbox-run", help="work directory (default: ./sandbox-run)")
    sb.add_argument("--hosts", type=int, default=3, help="number of staging hosts (default 3)")
    sb.add_argument(
        "--serve", action="store_true", help="keep the environments and simulators up until Ctrl-C"
    )
    return p


def _hash_password() -> int:
    from pullrekun.web.auth import hash_password

    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    if len(password) < 12:
        print("pullrekun: a dashboard password needs at least 12 characters", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(hash_password(password))
    return EXIT_OK


def _api_token(name: str, viewer: bool) -> int:
    from pullrekun.web.tokens import new_token

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}", name):
        print("pullrekun: a token's name is letters, digits, '.', '_' and '-' (40 at most)", file=sys.stderr)
        return EXIT_BAD_INPUT
    token, digest = new_token()
    print(f"token (shown once; give it to the caller): {token}")
    print("add to the config file (only this hash is kept there):")
    print(f"[serve.{'viewer' if viewer else 'admin'}_tokens]")
    print(f'{name} = "{digest}"')
    return EXIT_OK


def _cli_actor() -> str:
    """Who asked, in the events table: the Unix user running the command."""
    return f"cli:{getpass.getuser()}"


def _serve(args: argparse.Namespace, cfg: config_mod.Config, store: Store) -> int:
    from pullrekun.web.serve import Service  # the web stack loads only for `serve`

    secret = os.environ.get(cfg.serve.webhook_secret_env, "")
    if not secret:
        print(
            f"pullrekun: serve needs the webhook secret in ${cfg.serve.webhook_secret_env} "
            "(the secret set on GitHub's webhook)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if cfg.serve.oauth_client_id and not os.environ.get(cfg.serve.oauth_client_secret_env):
        print(
            f"pullrekun: serve.oauth_client_id is set, so the OAuth app's client secret must be in "
            f"${cfg.serve.oauth_client_secret_env}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    service = Service(cfg, store, secret, bind=args.bind, port=args.port)
    service.run(on_ready=lambda url: print(f"pullrekun serve: listening on {url}", flush=True))
    return EXIT_OK


def _print_plan(plan_json: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(plan_json, indent=2))
        return
    actions = plan_json["actions"]
    assert isinstance(actions, list)
    if not actions:
        print("nothing to do")
    for a in actions:
        fields = ", ".join(f"{k}={v}" for k, v in a.items() if k != "type")
        print(f"{a['type']}: {fields}")
    queue = plan_json["queue"]
    assert isinstance(queue, list)
    for q in queue:
        print(f"queued: PR #{q['pr_number']} position {q['position']}")
    skipped = plan_json["skipped"]
    assert isinstance(skipped, list)
    for sk in skipped:
        print(f"no environment: PR #{sk['pr_number']}: {sk['reason']}")
    notes = plan_json["notes"]
    assert isinstance(notes, list)
    for n in notes:
        print(f"note: {n}")


def _release_notes(args: argparse.Namespace, cfg: config_mod.Config, store: Store) -> int:
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
            sends = ", ".join(f"{x.channel} {x.state}" for x in notice.sends) or "not announced"
            sha = (notice.sha or "-")[:12]
            print(
                neutralise(f"{notice.id:>5}  {_when(notice.created_at)}  {notice.kind:<9} {sha:<12}  {sends}")
            )
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


def _when(t: dt.datetime | None) -> str:
    return t.isoformat(timespec="seconds") if t else "-"


def status_table(snap: Snapshot) -> str:
    """``pullrekun status``: one row per pool instance, then details, the queue and GitHub."""
    envs = {e.instance_id: e for e in snap.environments}
    headers = ["INSTANCE", "STATE", "PR", "SHA", "STATUS", "SINCE", "URL"]
    rows = []
    for inst in snap.instances:
        env = envs.get(inst.instance_id)
        if env is None:
            rows.append([inst.instance_id, inst.state, "-", "-", "free", "-", "-"])
            continue
        sha = (env.sha or "-")[:12]
        rows.append(
            [inst.instance_id, inst.state, f"#{env.pr}", sha, env.status, _when(env.since), env.url or "-"]
        )
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in [headers, *rows]]
    blind = [i.instance_id for i in snap.instances if i.host_key == "first contact"]
    if blind:
        lines.append(f"  host keys accepted on first contact (no keys on the console): {', '.join(blind)}")
    for env in snap.environments:
        if env.db_schema:
            db = f"{env.db_schema} cloned from {env.db_source} at {_when(env.db_cloned_at)}"
            lines.append(f"  {env.instance_id} database {db}")
        if env.status == "failed":
            first = (env.message or "").splitlines()[:1]
            where = f"the {env.failed_step} step ({env.failed_task!r})"
            lines.append(f"  {env.instance_id} failed at {where}: {' '.join(first)}")
    waiting = ", ".join(f"#{q.pr} ({q.position})" for q in snap.queue)
    lines.append(f"queue: {waiting or 'empty'}")
    if snap.ec2_problem:
        lines.append(f"EC2 could not be read: {snap.ec2_problem}")
    for refusal in snap.refused:
        lines.append(f"refused: {refusal.instance_id}: {refusal.reason} (pullrekun leaves it alone)")
    gh = snap.github
    if gh.rate_remaining is not None:
        left = f"{gh.rate_remaining}/{gh.rate_limit or '?'}"
        lines.append(f"GitHub: {left} requests left, resets at {_when(gh.rate_reset)}")
    if gh.backoff_until:
        lines.append(f"GitHub: backing off until {_when(gh.backoff_until)} ({gh.backoff_reason})")
    rel = snap.release
    if rel is not None:
        where = (rel.production_sha or "unknown")[:12]
        lines.append(f"production: {where} (read {_when(rel.read_at)})")
        if rel.problem:
            lines.append(f"production could not be read: {rel.problem} (no notice until it can)")
        if rel.last_move:
            moved = f"{rel.last_move} {(rel.last_move_sha or '')[:12]}"
            lines.append(f"last production move: {moved} at {_when(rel.last_move_at)}")
        if rel.unsent:
            lines.append(f"release notices waiting to be sent: {rel.unsent}")
        lines.extend(f"uncertain: {text}" for text in rel.uncertain)
    # Messages, reasons and URLs come from task output and EC2 tags: nothing may drive the terminal.
    return "\n".join(neutralise(line).replace("\n", " ") for line in lines)


def _sandbox(directory: str, hosts: int, serve: bool) -> int:
    """Run ``pullrekun_sandbox`` through its entry point: the product never imports it."""
    found = metadata.entry_points(group="pullrekun.sandbox", name="run")
    try:
        run = next(iter(found)).load()
    except (StopIteration, ImportError) as exc:  # the sandbox's extra (moto) is not installed
        print(
            f"pullrekun sandbox needs the 'sandbox' extra (pip install 'pullrekun[sandbox]'): {exc}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    code: int = run(directory, hosts, serve)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(logging.DEBUG if args.verbose else logging.INFO, args.log_format)
    for noisy in ("botocore", "github", "alembic", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # urllib3 logs each retry; the pass says once, in one line, what finally failed.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    if args.command == "sandbox":
        return _sandbox(args.dir, args.hosts, args.serve)
    if args.command == "hash-password":
        return _hash_password()
    if args.command == "api-token":
        return _api_token(args.name, args.viewer)
    try:
        cfg = config_mod.load(config_mod.config_path(args.config))
        check_overrides(cfg.report.templates_dir)
    except config_mod.ConfigError as exc:
        print(f"pullrekun: configuration error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    # What the controller writes (state file, run directories, logs) is readable by it alone; the
    # caller's umask comes back when the command ends (main may run inside another program).
    previous_umask = os.umask(0o077)
    try:
        return _open_and_run(args, cfg)
    finally:
        os.umask(previous_umask)


def _open_and_run(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    redact = cfg.redactor()
    _redact_logs(redact)
    try:
        store = Store.open(cfg.state_url, redact)
    except Exception as exc:  # an outage, not bad configuration: the next pass tries again
        print(f"pullrekun: cannot open the state DB: {redact(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    try:
        return _run(args, cfg, store)
    except LockHeld as exc:
        print(f"pullrekun: {exc}; nothing done", file=sys.stderr)
        return EXIT_LOCKED
    except LockLost as exc:
        print(f"pullrekun: {exc}; outcomes not recorded, the next pass finishes", file=sys.stderr)
        return EXIT_ERROR
    except InvalidInput as exc:
        print(f"pullrekun: invalid input: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception:  # a crash has its own exit code: 1 means "done, some environments failed"
        log.exception("pullrekun crashed; the next pass finishes from what it observes")
        return EXIT_ERROR
    finally:
        store.close()


def _run(args: argparse.Namespace, cfg: config_mod.Config, store: Store) -> int:
    if args.command == "status":
        snap = snapshot(cfg, store)
        print(json.dumps(snap.to_json(), indent=2) if args.json else status_table(snap))
        return EXIT_OK
    if args.command == "accept-host-key":
        iid = check_instance_id(args.instance)
        removed = known_hosts.forget(known_hosts_file(cfg), iid)
        if not removed:
            print(f"pullrekun: no host key is pinned for {iid}", file=sys.stderr)
            return EXIT_BAD_INPUT
        store.events.add(
            utcnow(), "host_key_forgotten", f"{iid}: the next pass learns its new host key", None, iid
        )
        print(f"{iid}: its old host key is forgotten; the next pass learns the new one")
        return EXIT_OK
    if args.command == "serve":
        return _serve(args, cfg, store)
    if args.command == "release-notes":
        return _release_notes(args, cfg, store)
    if args.command == "reset-db":
        if cfg.database is None:
            print("pullrekun: reset-db needs a [database] section in the config", file=sys.stderr)
            return EXIT_BAD_INPUT
        if not store.requests.reset(args.pr, utcnow(), actor=_cli_actor()):
            print(f"pullrekun: PR #{args.pr} holds no environment", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"PR #{args.pr}: its schema will be cloned afresh on the next pass")
        return EXIT_OK
    if args.command == "redeploy":
        if not store.requests.redeploy(args.pr, utcnow(), actor=_cli_actor()):
            print(f"pullrekun: PR #{args.pr} holds no environment", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"PR #{args.pr}: its commit will be deployed again on the next pass")
        return EXIT_OK
    result = plan_only(cfg, store) if args.command == "plan" else _reconcile(cfg, store)
    if result.plan is None:
        print(f"pullrekun: {result.problem}; nothing changed", file=sys.stderr)
        return EXIT_FAILURES
    if args.command == "plan":
        _print_plan(plan_to_json(result.plan), args.json)
        return EXIT_OK
    failed = [o for o in result.outcomes if not o.ok]
    done = len(result.outcomes) - len(failed)
    print(
        f"pass done: {len(result.plan.actions)} actions, {done} deployed, {len(failed)} failed, "
        f"{len(result.plan.queue)} queued"
    )
    for o in failed:
        print(f"  PR #{o.pr_number} ({o.instance_id}) failed at {o.failed_task!r}")
    return EXIT_CODES[result.outcome]
