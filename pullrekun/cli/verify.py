"""``pullrekun verify PR --ok | --problem NOTE``: sign off a PR's preview at the commit it serves
(recorded as ``cli:<user>``; the next pass publishes it on GitHub)."""

from __future__ import annotations

import argparse

from pullrekun.adapters import ec2
from pullrekun.adapters.state.store import Store
from pullrekun.app.pool import read_pool
from pullrekun.app.results import utcnow
from pullrekun.cli.commands import EXIT_OK, Args, Config, _cli_actor, refuse
from pullrekun.core.model import Instance
from pullrekun.web.actions import Actions


class _NextPass:
    def poke(self, reason: str) -> None:
        """The CLI asks for no pass: the next one (the timer, a webhook) reads the request."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    vf = sub.add_parser("verify", help="sign off a PR's preview: verified, or a problem found")
    vf.add_argument("pr", type=int, help="pull request number")
    how = vf.add_mutually_exclusive_group(required=True)
    how.add_argument("--ok", action="store_true", help="it works on the preview")
    how.add_argument("--problem", metavar="NOTE", help="what is wrong (one line)")
    vf.set_defaults(handler=verify)


def verify(args: Args, cfg: Config, store: Store) -> int:
    def pool() -> dict[str, Instance] | None:
        try:
            return read_pool(cfg).by_id()
        except ec2.EC2Unavailable:
            return None

    actions = Actions(cfg, store, _NextPass(), pool, utcnow)
    answer = actions.verify(args.pr, bool(args.ok), args.problem or "", _cli_actor())
    if not answer.ok:
        return refuse(answer.message)
    print(answer.message)
    return EXIT_OK
