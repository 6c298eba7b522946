"""The status JSON Schema is generated from the read model's types; the committed file is it."""

from __future__ import annotations

import dataclasses
import json

import jsonschema

from pullrekun.app.readmodel import Snapshot
from pullrekun.app.status_schema import render, status_schema
from tests.paths import REPO


def test_the_committed_schema_is_the_generated_one() -> None:
    committed = (REPO / "pullrekun" / "app" / "status.schema.json").read_text()
    assert committed == render(), (
        "run: python -m pullrekun.app.status_schema > pullrekun/app/status.schema.json"
    )


def test_every_field_of_the_read_model_is_in_the_schema() -> None:
    schema = status_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["properties"]) == {"schema_version", *(f.name for f in dataclasses.fields(Snapshot))}
    assert json.loads(render()) == schema
