"""The JSON Schema of ``status --json`` (and of the API's status), generated from the read
model's types: one object per dataclass, every field required (the writer always emits it),
``X | None`` nullable, tuples arrays, enums and datetimes by their JSON form. What the types
cannot say (patterns, ranges, the allowed strings, descriptions) is in :data:`RULES`, by
``Class.field``. ``status.schema.json`` beside this module is its output, checked by a test.

    python -m pullrekun.app.status_schema > pullrekun/app/status.schema.json
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import types
import typing
from collections.abc import Mapping
from typing import Any

from pullrekun.app.readmodel import SCHEMA_VERSION, Snapshot
from pullrekun.core.model import InstanceState
from pullrekun.core.sleep import RestKind
from pullrekun.core.steps import Step
from pullrekun.core.views import EnvironmentView, Phase

_INSTANCE_ID = {"type": "string", "pattern": "^i-[0-9a-f]{8,17}$"}
_STATES = [*(str(s) for s in InstanceState), "gone", "unknown"]
#: Named parts of the schema (``$defs``), by the type or rule they stand for.
DEFS: Mapping[str, dict[str, Any]] = {
    "time": {
        "type": "string",
        "format": "date-time",
        "pattern": "^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d[+-]\\d\\d:\\d\\d$",
    },
    "instance_state": {
        "enum": _STATES,
        "description": "EC2's state; gone: no longer in the pool; unknown: EC2 could not be read.",
    },
}
_REFS: Mapping[object, str] = {dt.datetime: "time", EnvironmentView: "environment"}
#: What the types cannot say, by ``Class.field``.
RULES: Mapping[str, dict[str, Any]] = {
    "Snapshot": {
        "description": "The read model: every environment, every pool instance, the queue and GitHub's "
        "rate facts. schema_version changes when a field changes meaning or goes away; new optional "
        "fields do not change it."
    },
    "Snapshot.pool": {"description": "The pool's name (the pullrekun:pool tag value)."},
    "Snapshot.environments": {"description": "One per PR that holds an instance, by PR number."},
    "Snapshot.instances": {
        "description": "Every pool instance, and every instance an environment still names."
    },
    "Snapshot.ec2_problem": {"description": "Why EC2 could not be read, if it could not."},
    "Snapshot.refused": {
        "description": "Instances tagged into the pool that pullrekun refuses to touch (tag policy), and why."
    },
    "Snapshot.registering": {
        "items": _INSTANCE_ID,
        "description": "Instances someone asked to tag into the pool; the next pass does it.",
    },
    "Snapshot.release": {
        "description": "Release notices: where production is and what was posted (null without a "
        "[release] section)."
    },
    "Snapshot.schema_drops": {
        "description": 'Schemas of closed environments waiting to be dropped (on_close = "drop"): the '
        "next pass drops each while its instance is free."
    },
    "SchemaDropView.instance_id": _INSTANCE_ID,
    "InstanceView.instance_id": _INSTANCE_ID,
    "InstanceView.state": {"$ref": "#/$defs/instance_state"},
    "InstanceView.pr": {"minimum": 1},
    "InstanceView.wish": {
        "enum": ["running", "retire", "register", None],
        "description": "What someone asked of this instance: kept running while free, or retired (taken "
        "out of the pool).",
    },
    "InstanceView.wished_by": {
        "description": "Who asked (local:<login>, github:<login>, token:<name>, cli:<user>)."
    },
    "InstanceView.host_key": {
        "enum": ["console", "first contact", None],
        "description": "How its SSH host key was learned: checked against the keys it printed on its "
        "console at boot, or accepted on first contact (its console had none); null: not contacted yet.",
    },
    "QueueEntry.pr": {"minimum": 1},
    "QueueEntry.position": {"minimum": 1},
    "EnvironmentView.pr": {"minimum": 1},
    "EnvironmentView.instance_id": _INSTANCE_ID,
    "EnvironmentView.instance_state": {"$ref": "#/$defs/instance_state"},
    "EnvironmentView.sha": {"pattern": "^[0-9a-f]{40}$", "description": "The commit last served ready."},
    "EnvironmentView.failed_step": {"enum": [*(str(s) for s in Step), None]},
    "EnvironmentView.settings": {
        "items": {"pattern": "^[A-Z_][A-Z0-9_]*=[A-Za-z0-9._:-]{0,64}$"},
        "description": "The PR's own settings its environment last got ([app] pr_settings).",
    },
    "EnvironmentView.asleep": {"description": "Stopped on request until woken (the dashboard)."},
    "EnvironmentView.shown": {
        "enum": ["assigned", "deploying", "ready", "failed", "asleep", "sleeping", "starting"],
        "description": "What the dashboard shows: the status, or asleep (stopped on request), sleeping "
        "(idle, outside office hours, over budget), or starting (recorded ready, its instance not up yet).",
    },
    "EnvironmentView.rest": {
        "enum": [*(str(k) for k in RestKind), None],
        "description": "Why it sleeps, as the last pass decided; null while awake.",
    },
    "EnvironmentView.rest_until": {"description": "When it wakes by itself (office hours opening)."},
    "EnvironmentView.pinned_until": {
        "description": "Kept awake until then (null with pinned_by: until removed)."
    },
    "EnvironmentView.hours": {"minimum": 0, "description": "Running hours over its recorded stretches."},
    "EnvironmentView.cost": {"minimum": 0, "description": "Those hours priced ([cost] prices)."},
    "RestView.kind": {"enum": [str(k) for k in RestKind]},
    "OpenPR.phase": {"enum": [str(p) for p in Phase]},
    "OpenPR.sha": {"pattern": "^[0-9a-f]{40}$"},
    "OpenPR.title": {"description": "Bidi and zero-width characters shown as <U+XXXX>."},
    "OpenPR.detail": {
        "description": "Why: queue place, skip reason and what would change it, failure, sleep."
    },
    "RestView.pr": {"minimum": 1},
    "EnvironmentView.title": {
        "description": "The PR's title as the last pass read it (bidi and zero-width characters shown as "
        "<U+XXXX>)."
    },
    "EnvironmentView.author": {"description": "The PR author's login."},
    "EnvironmentView.running_since": {"description": "When the instance was last started, while it runs."},
    "ReleaseFacts.last_move": {"enum": ["first", "release", "rollback", "unlinked", None]},
    "ReleaseFacts.unsent": {"minimum": 0},
}


def _of(kind: Any, rule: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of a value of type ``kind`` (``rule``: what :data:`RULES` adds to it)."""
    args = typing.get_args(kind)
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        (inner,) = [a for a in args if a is not type(None)]
        schema = _of(inner, rule)
        if "type" in schema and "$ref" not in schema and schema["type"] != "object":
            return {**schema, "type": [schema["type"], "null"]}
        if "enum" in schema:
            return schema
        return {"oneOf": [schema, {"type": "null"}]}
    if "$ref" in rule:
        return {"$ref": rule["$ref"]}
    if kind in _REFS:
        return {"$ref": f"#/$defs/{_REFS[kind]}"}
    if typing.get_origin(kind) is tuple:
        return {"type": "array", "items": {**_of(args[0], {}), **rule.get("items", {})}}
    if dataclasses.is_dataclass(kind):
        return object_schema(kind)  # type: ignore[arg-type]
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return {"enum": [str(v.value) for v in kind]}
    simple = {bool: "boolean", int: "integer", str: "string", float: "number"}
    return {"type": simple[kind]}


def object_schema(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    properties = {}
    for f in dataclasses.fields(cls):
        rule = RULES.get(f"{cls.__name__}.{f.name}", {})
        schema = _of(hints[f.name], rule)
        extra = {k: v for k, v in rule.items() if k not in {"$ref", "items"}}
        properties[f.name] = {**schema, **extra}
    return {
        "type": "object",
        "required": [f.name for f in dataclasses.fields(cls)],
        "additionalProperties": False,
        "properties": properties,
    }


def status_schema() -> dict[str, Any]:
    root = object_schema(Snapshot)
    root["required"] = ["schema_version", *root["required"]]
    root["properties"] = {"schema_version": {"const": SCHEMA_VERSION}, **root["properties"]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://pullrekun.invalid/status.schema.json",
        "title": "pullrekun status --json",
        **RULES["Snapshot"],
        **root,
        "$defs": {**DEFS, "environment": object_schema(EnvironmentView)},
    }


def render() -> str:
    return json.dumps(status_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
