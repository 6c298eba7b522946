"""Which schemas an environment's database may be cloned from. Pure: no I/O.

A source is copied into an environment whose code the PR's author controls, so whatever a
source holds, the PR can read. Only the operator decides what may be read that way: the
config's ``default_source``, its ``[database.authors]`` values and ``allowed_sources``, and
names matching its ``source_patterns`` (globs such as ``dev_*``). Never a system schema, the
state DB's own schema, or anything of an environment's schema shape (another PR's data, a
clone's leftovers). Names are compared case-insensitively: a server with
``lower_case_table_names=1`` takes ``MySQL`` for ``mysql``.

The dashboard's edits of the developer -> schema table are checked against this rule when
they are made, when the pass reads them, and once more by the clone itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pullrekun.core.tagpolicy import template_pattern
from pullrekun.core.validate import SCHEMA_RE

#: The server's own schemas: its users and their password hashes, its state, its tools.
SYSTEM_SCHEMAS = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
#: What a clone leaves beside its target while it works (pullrekun.adapters.schema_clone).
CLONE_SUFFIXES = ("__prk_new", "__prk_old")
PATTERN_RE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_*?")


def _glob(pattern: str) -> re.Pattern[str]:
    """A source pattern as a regular expression (``*`` any run of characters, ``?`` one)."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower())
    return re.compile(r"\A" + "".join(parts) + r"\Z")


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` is no source pattern (None: it is one)."""
    if not pattern or len(pattern) > 64 or not set(pattern) <= PATTERN_RE_CHARS:
        return "must be a glob of schema names: letters, digits, _, * and ? (e.g. dev_*)"
    if pattern.strip("*?") == "":
        return "must name something besides wildcards (e.g. dev_*), or it would allow every schema"
    return None


@dataclass(frozen=True)
class SourceRule:
    """The operator's allow-list of source schemas."""

    #: Schemas named in the config (default, authors, allowed_sources); any case.
    named: frozenset[str] = frozenset()
    #: Globs of further allowed names (``dev_*``).
    patterns: tuple[str, ...] = ()
    #: Schemas never to copy besides the system ones (the state DB's own schema).
    forbidden: frozenset[str] = frozenset()
    #: The environments' schema template (``stage_{instance}``): no name of its shape is a source.
    target_template: str = "stage_{instance}"

    def _target_shaped(self, name: str) -> bool:
        """Whether ``name`` is a schema the template gives some instance (as the tag policy judges
        a ``pullrekun:db_schema`` tag), in any case."""
        pattern = template_pattern(self.target_template)
        return re.match(pattern.pattern, name, re.IGNORECASE) is not None

    def problem(self, schema: str) -> str | None:
        """Why ``schema`` may not be a source (None: it may), in words for the person who asked."""
        if not SCHEMA_RE.match(schema):
            return f"{schema!r} is not a schema name (letters, digits, _)"
        name = schema.lower()
        if name in SYSTEM_SCHEMAS:
            return f"{schema} is one of the server's own schemas"
        if name in {f.lower() for f in self.forbidden}:
            return f"{schema} is pullrekun's own state database"
        if name.endswith(CLONE_SUFFIXES):
            return f"{schema} is a clone's work schema"
        if self._target_shaped(name):
            return f"{schema} has the shape of an environment's schema ({self.target_template})"
        if name in {n.lower() for n in self.named}:
            return None
        if any(_glob(p).match(name) for p in self.patterns):
            return None
        allowed = ", ".join(self.patterns) if self.patterns else "none"
        return (
            f"{schema} is not a source the operator allowed: the config's default_source, a "
            f"[database.authors] value, allowed_sources, or a name matching source_patterns ({allowed})"
        )
