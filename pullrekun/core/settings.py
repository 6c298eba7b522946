"""A PR's own settings (``[app] pr_settings``): variables its environment's app.env gets, set on
the dashboard or with ``env:NAME=value`` labels. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

#: A setting's name: capital letters, digits and underscores; never one pullrekun writes itself.
SETTING_NAME_RE = re.compile(r"\A(?!DB_)(?!PULLREKUN_)[A-Z_][A-Z0-9_]{0,63}\Z")
#: A setting's value (a PR author can write labels: nothing a shell or a URL could take apart).
SETTING_VALUE_RE = re.compile(r"\A[A-Za-z0-9._:-]{0,64}\Z")
LABEL_PREFIX = "env:"


def value_problem(value: str) -> str | None:
    if not SETTING_VALUE_RE.match(value):
        return "values are up to 64 of A-Z a-z 0-9 . _ : -"
    return None


def from_labels(labels: Iterable[str], names: Iterable[str]) -> dict[str, str]:
    """``env:NAME=value`` labels naming an allowed setting with an allowed value (others ignored)."""
    allowed = set(names)
    found: dict[str, str] = {}
    for label in sorted(labels):
        if not label.startswith(LABEL_PREFIX) or "=" not in label:
            continue
        name, _, value = label[len(LABEL_PREFIX) :].partition("=")
        if name in allowed and SETTING_VALUE_RE.match(value):
            found[name] = value
    return found


def effective(
    recorded: Mapping[str, str], labels: Iterable[str], names: Iterable[str], use_labels: bool
) -> tuple[tuple[str, str], ...]:
    """A PR's settings: its labels' (when allowed), then the dashboard's (which win), sorted;
    only names still in ``[app] pr_settings``."""
    allowed = set(names)
    merged = from_labels(labels, allowed) if use_labels else {}
    merged.update((n, v) for n, v in recorded.items() if n in allowed)
    return tuple(sorted(merged.items()))
