"""The sleep and cost commands: ``wake``, ``keep-awake``, ``budget``. Each records a request
(who asked: the Unix user); the next pass decides (pullrekun.core.sleep)."""

from __future__ import annotations

import argparse
import datetime as dt

from pullrekun.adapters.state.store import Store
from pullrekun.app.results import utcnow
from pullrekun.app.sleepview import cost_view
from pullrekun.cli.commands import EXIT_OK, Args, Config, _cli_actor, refuse
from pullrekun.core.sleep import MAX_PIN_HOURS


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    wk = sub.add_parser("wake", help="start a sleeping environment again (its head is deployed if it moved)")
    wk.add_argument("pr", type=int, help="pull request number")
    wk.set_defaults(handler=wake)
    ka = sub.add_parser("keep-awake", help="keep an environment awake (idle sleep and office hours)")
    ka.add_argument("pr", type=int, help="pull request number")
    how = ka.add_mutually_exclusive_group()
    how.add_argument("--hours", type=int, help="for this many hours (default: until --off)")
    how.add_argument("--off", action="store_true", help="let it sleep by the rules again")
    ka.set_defaults(handler=keep_awake)
    bg = sub.add_parser("budget", help="what the pool ran this month against [cost] budget")
    bg.add_argument("--lift", action="store_true", help="let instances start and launch past it this month")
    bg.set_defaults(handler=budget)


def wake(args: Args, cfg: Config, store: Store) -> int:
    if not store.sleep.wake(args.pr, utcnow(), actor=_cli_actor()):
        return refuse(f"PR #{args.pr} holds no environment")
    print(f"PR #{args.pr}: it will be started on the next pass (its head deployed if it moved)")
    return EXIT_OK


def keep_awake(args: Args, cfg: Config, store: Store) -> int:
    now, actor = utcnow(), _cli_actor()
    if args.off:
        if not store.sleep.unpin(args.pr, now, actor):
            return refuse(f"PR #{args.pr} is not kept awake")
        print(f"PR #{args.pr}: it sleeps by the rules again")
        return EXIT_OK
    if args.hours is not None and not 1 <= args.hours <= MAX_PIN_HOURS:
        return refuse(f"--hours must be between 1 and {MAX_PIN_HOURS}")
    until = now + dt.timedelta(hours=args.hours) if args.hours is not None else None
    if not store.sleep.pin(args.pr, until, now, actor):
        return refuse(f"PR #{args.pr} holds no environment")
    how = f"until {until:%Y-%m-%d %H:%M} UTC" if until else "until `pullrekun keep-awake --off`"
    print(f"PR #{args.pr}: kept awake {how}")
    return EXIT_OK


def budget(args: Args, cfg: Config, store: Store) -> int:
    now = utcnow()
    if args.lift:
        if not cfg.cost.budget:
            return refuse("no monthly budget is set ([cost] budget)")
        store.usage.lift_budget(now, _cli_actor())
    view = cost_view(cfg, store, now)
    money = cfg.cost.table.money
    line = f"{view.month}: {view.hours:.1f} instance-hours, about {money(view.amount)}"
    if view.budget:
        state = "lifted for this month" if view.budget_lifted else ("spent" if view.over_budget else "left")
        line += f" of a {money(view.budget)} budget ({state})"
    print(line)
    return EXIT_OK
