"""Command line: ``pullrekun reconcile | plan | status | serve | sandbox | ...``.

Exit codes: 0 done; 1 done but some environments failed (or GitHub/EC2 could not be
read: nothing was changed, the next pass retries); 2 bad configuration or input
(nothing changed); 3 another pass holds the lock (nothing done); 4 an error: the state DB
could not be reached, the pass lost its lock, or pullrekun crashed (the next pass finishes
from what it observes).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence

from pullrekun import __version__, logs
from pullrekun import config as config_mod
from pullrekun.adapters.state.lock import LockHeld, LockLost
from pullrekun.adapters.state.store import Store
from pullrekun.app.render import check_overrides
from pullrekun.cli import commands, sleeping, verify
from pullrekun.cli.commands import (
    EXIT_BAD_INPUT,
    EXIT_CODES,
    EXIT_ERROR,
    EXIT_FAILURES,
    EXIT_LOCKED,
    EXIT_OK,
)
from pullrekun.config.secrets import redactor
from pullrekun.core.validate import InvalidInput
from pullrekun.web.pages import check_pages

__all__ = ["EXIT_BAD_INPUT", "EXIT_CODES", "EXIT_ERROR", "EXIT_FAILURES", "EXIT_LOCKED", "EXIT_OK", "main"]

log = logging.getLogger("pullrekun")


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


@contextlib.contextmanager
def _redacted_logs(redact: Callable[[str], str]) -> Iterator[None]:
    """Every root handler redacts while the command runs; the filters go when it ends (main may
    run inside another program, which keeps its handlers)."""
    installed = [(handler, _RedactingFilter(redact)) for handler in logging.getLogger().handlers]
    for handler, redacting in installed:
        handler.addFilter(redacting)
    try:
        yield
    finally:
        for handler, redacting in installed:
            handler.removeFilter(redacting)


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
    p.set_defaults(without_config=None)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("reconcile", help="run one pass: observe, plan, apply, record").set_defaults(
        handler=commands.reconcile_command
    )
    for name, text, handler in (
        ("plan", "print what a pass would do, without doing it", commands.plan_command),
        ("status", "show every pool instance, every environment and the queue", commands.status_command),
    ):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("--json", action="store_true", help="machine-readable output")
        sp.set_defaults(handler=handler)
    rd = sub.add_parser("reset-db", help="give a PR's environment a fresh copy of its source schema")
    rd.add_argument("pr", type=int, help="pull request number")
    rd.set_defaults(handler=commands.reset_db)
    rp = sub.add_parser("redeploy", help="deploy a PR's commit again on the next pass")
    rp.add_argument("pr", type=int, help="pull request number")
    rp.set_defaults(handler=commands.redeploy)
    sleeping.add_parsers(sub)
    verify.add_parser(sub)
    ak = sub.add_parser(
        "accept-host-key", help="forget an instance's pinned SSH host key: the next pass learns its new one"
    )
    ak.add_argument("instance", help="EC2 instance id (i-...)")
    ak.set_defaults(handler=commands.accept_host_key)
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
    rn.set_defaults(handler=commands.release_notes)
    sv = sub.add_parser("serve", help="answer GitHub's webhooks with passes, and run one on a timer anyway")
    sv.add_argument("--bind", help="address to listen on (default: serve.bind)")
    sv.add_argument("--port", type=int, help="port to listen on (default: serve.port)")
    sv.set_defaults(handler=commands.serve)
    sub.add_parser(
        "hash-password",
        help="read a dashboard password on stdin, print its argon2 hash for serve.admins/viewers",
    ).set_defaults(without_config=commands.hash_password_command)
    at = sub.add_parser(
        "api-token",
        help="make an API token: prints it once, and the line serve.admin_tokens/viewer_tokens need",
    )
    at.add_argument("name", help="what the token is for (its actions are recorded as token:<name>)")
    at.add_argument("--viewer", action="store_true", help="a token that may read but not act")
    at.set_defaults(without_config=commands.api_token)
    sb = sub.add_parser("sandbox", help="run the whole loop locally (GitHub simulator, moto EC2)")
    sb.add_argument("--dir", default="sandbox-run", help="work directory (default: ./sandbox-run)")
    sb.add_argument("--hosts", type=int, default=3, help="number of staging hosts (default 3)")
    sb.add_argument(
        "--serve", action="store_true", help="keep the environments and simulators up until Ctrl-C"
    )
    sb.add_argument(
        "--launch",
        action="store_true",
        help="also launch instances from a launch template when the pool is full, then scale in",
    )
    sb.set_defaults(without_config=commands.sandbox)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(logging.DEBUG if args.verbose else logging.INFO, args.log_format)
    for noisy in ("botocore", "github", "alembic", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # urllib3 logs each retry; the pass says once, in one line, what finally failed.
    logging.getLogger("urllib3").setLevel(logging.ERROR)
    if args.without_config is not None:
        code: int = args.without_config(args)
        return code
    try:
        cfg = config_mod.load(config_mod.config_path(args.config))
        check_overrides(cfg.report.templates_dir)
        check_pages(cfg.report.templates_dir)
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
    redact = redactor(cfg)
    with _redacted_logs(redact):
        return _run_with_store(args, cfg, redact)


def _run_with_store(args: argparse.Namespace, cfg: config_mod.Config, redact: Callable[[str], str]) -> int:
    try:
        store = Store.open(cfg.state_url, redact)
    except Exception as exc:  # an outage, not bad configuration: the next pass tries again
        print(f"pullrekun: cannot open the state DB: {redact(str(exc))}", file=sys.stderr)
        return EXIT_ERROR
    try:
        code: int = args.handler(args, cfg, store)
        return code
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
