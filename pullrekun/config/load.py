"""Reading the TOML file into a :class:`~pullrekun.config.model.Config`: the file's values are
validated strictly against the declarations (nothing is coerced), and the first problem is a
:class:`ConfigError` naming its key."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from pullrekun.config.app import AppConfig
from pullrekun.config.model import Config
from pullrekun.config.optional import BootstrapConfig, DatabaseConfig, ReleaseConfig
from pullrekun.config.sections import (
    AnsibleConfig,
    EC2Config,
    GitHubConfig,
    ReportConfig,
    ServeConfig,
    StateConfig,
)
from pullrekun.config.types import KeyProblem
from pullrekun.core.trust import TrustPolicy

CONFIG_ENV = "PULLREKUN_CONFIG"
DEFAULT_CONFIG = "pullrekun.toml"
#: The file's top-level keys (``source`` and ``base_dir`` are where it was read from, not keys).
FILE_KEYS = frozenset(f.name for f in dataclasses.fields(Config)) - {"source", "base_dir"}
#: A required section that is missing is named by its first required key.
_FIRST_REQUIRED = {"github": "github.repository", "app": "app.repo_url"}
_KINDS = {
    "int_type": "int",
    "string_type": "str",
    "bool_type": "true or false",
    "tuple_type": "a list",
    "list_type": "a list",
    "dict_type": "a table",
    "dataclass_type": "a table",
}
_ADAPTER = TypeAdapter(Config)
_SECTIONS: dict[str, type] = {
    "github": GitHubConfig,
    "ec2": EC2Config,
    "state": StateConfig,
    "ansible": AnsibleConfig,
    "app": AppConfig,
    "trust": TrustPolicy,
    "report": ReportConfig,
    "serve": ServeConfig,
    "database": DatabaseConfig,
    "release": ReleaseConfig,
    "bootstrap": BootstrapConfig,
}


class ConfigError(ValueError):
    """Bad or missing configuration. ``key`` is the dotted name of the culprit."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


def _key(error: ErrorDetails) -> str:
    return ".".join(str(part) for part in error["loc"] if not isinstance(part, int))


def _problem(error: ErrorDetails, key: str) -> str:
    kind = error["type"]
    if kind == "missing":
        return "missing (required)"
    if kind in {"unexpected_keyword_argument", "extra_forbidden"}:
        section = _SECTIONS.get(key.split(".", 1)[0])
        known = sorted(f.name for f in dataclasses.fields(section)) if section is not None else []
        return f"unknown key (known: {', '.join(known)})"
    if kind in _KINDS:
        return f"must be {_KINDS[kind]}, got {error['input']!r}"
    ctx = error.get("ctx") or {}
    if kind == "greater_than_equal":
        return "must not be negative" if ctx["ge"] == 0 else f"must be at least {ctx['ge']}"
    if kind in {"greater_than", "less_than"} and key.endswith("port"):
        return "must be a TCP port"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    return error["msg"].removeprefix("Value error, ").replace("Input should be", "must be")


def _first_error(exc: ValidationError) -> ConfigError:
    error = exc.errors()[0]
    key = _key(error)
    if error["type"] == "missing" and key in _FIRST_REQUIRED:
        key = _FIRST_REQUIRED[key]
    return ConfigError(key, _problem(error, key))


def _dates(value: Any, key: str) -> None:
    """TOML dates and times: no key holds one (JSON, the validator's input, has none either)."""
    if isinstance(value, dt.date | dt.time):
        raise ConfigError(key, f"must not be a date or time, got {value}")
    if isinstance(value, dict):
        for name, item in value.items():
            _dates(item, f"{key}.{name}")
    elif isinstance(value, list):
        for item in value:
            _dates(item, key)


def parse(raw: dict[str, Any], source: str = "<dict>", base_dir: str = "") -> Config:
    for key, value in raw.items():
        if key not in FILE_KEYS:
            raise ConfigError(key, f"unknown key (known: {', '.join(sorted(FILE_KEYS))})")
        _dates(value, key)
    try:
        return _ADAPTER.validate_json(
            json.dumps({**raw, "source": source, "base_dir": base_dir}), strict=True
        )
    except KeyProblem as exc:
        raise ConfigError(exc.key, exc.problem) from None
    except ValidationError as exc:
        raise _first_error(exc) from None


def config_path(explicit: str | None) -> Path:
    return Path(explicit or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("--config", f"no such file: {path}") from None
    except OSError as exc:
        raise ConfigError("--config", f"cannot read {path}: {exc.strerror}") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", f"{path} is not valid TOML: {exc}") from None
    return parse(raw, source=str(path), base_dir=str(path.resolve().parent))
