"""What the fleet's tests share: a pass at a given time (the planner's now), the activity log's
messages of a kind, and `status` as text."""

from __future__ import annotations

import datetime as dt

from pullrekun_sandbox.sandbox import Sandbox

from pullrekun import config as config_mod
from pullrekun.adapters.state.store import Store
from pullrekun.app.readmodel import snapshot
from pullrekun.app.reconcile import reconcile
from pullrekun.app.results import PassResult
from pullrekun.cli.render import status_table


def pass_at(sb: Sandbox, at: dt.datetime) -> PassResult:
    cfg = config_mod.load(sb.config_path)
    store = Store.open(cfg.state_url)
    try:
        return reconcile(cfg, store, clock=lambda: at)
    finally:
        store.close()


def events(sb: Sandbox, kind: str) -> list[str]:
    store = Store.open(config_mod.load(sb.config_path).state_url)
    try:
        return [e.message for e in store.events.recent(500) if e.kind == kind]
    finally:
        store.close()


def status_text(sb: Sandbox) -> str:
    cfg = config_mod.load(sb.config_path)
    store = Store.open(cfg.state_url)
    try:
        return status_table(snapshot(cfg, store))
    finally:
        store.close()
