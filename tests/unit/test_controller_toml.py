"""roles/controller writes pullrekun.toml with a real TOML writer: whatever goes in reads back."""

from __future__ import annotations

import importlib.util
import tomllib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.paths import REPO

_spec = importlib.util.spec_from_file_location(
    "pullrekun_toml", REPO / "roles" / "controller" / "filter_plugins" / "pullrekun_toml.py"
)
assert _spec is not None
assert _spec.loader is not None
toml = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(toml)

keys = st.text(max_size=12)
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=40),
)
values = st.one_of(scalars, st.lists(scalars, max_size=4), st.dictionaries(keys, scalars, max_size=3))
documents = st.recursive(
    st.dictionaries(keys, values, max_size=5),
    lambda children: st.dictionaries(keys, st.one_of(values, children), max_size=4),
    max_leaves=20,
)


@given(documents)
def test_any_document_reads_back_as_written(doc: dict[str, Any]) -> None:
    assert tomllib.loads(toml.to_toml(doc)) == doc


def test_the_controller_config_with_top_level_keys_and_maps() -> None:
    """The two shapes the old template broke: a top-level key and a map (written as JSON)."""
    doc = {
        "failed_retry_after": 300,
        "github": {"repository": "acme/webapp"},
        "database": {"default_source": "dev_shared", "authors": {"alice": "dev_alice", "bob-2": "dev_bob"}},
    }
    text = toml.to_toml(doc)
    assert text.startswith("failed_retry_after = 300\n")
    assert "[database.authors]" in text
    assert tomllib.loads(text) == doc


def test_hostile_strings_stay_strings() -> None:
    doc = {"app": {"command": 'run "x"\n[github]\ntoken = "stolen"', 'k"ey': "\x00\x7f\\"}}
    assert tomllib.loads(toml.to_toml(doc)) == doc


def test_a_null_is_refused_with_its_key() -> None:
    with pytest.raises(toml.TomlError, match=r"app\.port: TOML has no null"):
        toml.to_toml({"app": {"port": None}})
