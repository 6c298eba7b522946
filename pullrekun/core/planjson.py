"""A plan as JSON: ``plan --json`` prints it, and each playbook run keeps it as ``plan.json``."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from pullrekun.core.model import Plan


def _plain(value: Any) -> Any:
    """Datetimes as ISO strings, the rest as ``dataclasses.asdict`` gives it (JSON-ready)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan as JSON: ``plan --json`` prints it, each run keeps it as ``plan.json``."""
    return {
        "actions": [{"type": type(a).__name__, **_plain(dataclasses.asdict(a))} for a in plan.actions],
        "queue": [dataclasses.asdict(q) for q in plan.queue],
        "skipped": [dataclasses.asdict(q) for q in plan.skipped],
        "resting": [_plain(dataclasses.asdict(r)) for r in plan.resting],
        "notes": list(plan.notes),
    }
