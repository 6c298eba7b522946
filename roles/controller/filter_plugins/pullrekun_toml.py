"""The ``to_toml`` filter: any mapping as TOML, keys and strings escaped, tables at any depth.

Used by roles/controller to write pullrekun.toml from ``controller_config``. Top-level keys
that are not tables come first (TOML requires it); nested mappings become ``[a.b]`` tables,
mappings inside lists become inline tables. TOML has no null: a None value is an error that
names its key, never a silently dropped setting.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

_BARE_KEY = re.compile(r"\A[A-Za-z0-9_-]+\Z")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


class TomlError(ValueError):
    """A value TOML cannot hold (None, NaN in a key, an unknown type), with the key's path."""


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key(key: object, path: str) -> str:
    if not isinstance(key, str):
        raise TomlError(f"{path or 'the top level'}: key {key!r} is not a string")
    return key if _BARE_KEY.match(key) else _string(key)


def _value(value: Any, path: str) -> str:
    if value is None:
        raise TomlError(f"{path}: TOML has no null; remove the key or give it a value")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(k, path)} = {_value(v, f'{path}.{k}')}" for k, v in value.items())
        return "{" + inner + "}" if inner else "{}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(_value(v, f"{path}[{i}]") for i, v in enumerate(value)) + "]"
    raise TomlError(f"{path}: {type(value).__name__} cannot be written as TOML")


def _table(data: Mapping[str, Any], path: list[str], out: list[str]) -> None:
    dotted = ".".join(path)
    scalars = [(k, v) for k, v in data.items() if not isinstance(v, Mapping)]
    tables = [(k, v) for k, v in data.items() if isinstance(v, Mapping)]
    if path and (scalars or not tables):
        out.append(f"[{'.'.join(_key(p, dotted) for p in path)}]")
    for key, value in scalars:
        out.append(f"{_key(key, dotted)} = {_value(value, '.'.join([*path, str(key)]))}")
    if scalars or (path and not tables):
        out.append("")
    for key, value in tables:
        _table(value, [*path, key], out)


def to_toml(data: Mapping[str, Any]) -> str:
    """``data`` as a TOML document (ends with one newline)."""
    if not isinstance(data, Mapping):
        raise TomlError(f"to_toml needs a mapping, not {type(data).__name__}")
    out: list[str] = []
    _table(data, [], out)
    return "\n".join(out).rstrip("\n") + "\n"


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"to_toml": to_toml}
