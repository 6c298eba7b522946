"""What a PR changed in its database: the structure of the environment's schema against its
source's, as ``information_schema`` describes both (tables, columns with type, nullability and
default, indexes and keys, foreign keys, views, triggers, routines). Pure: the adapter reads the
rows (one query per object kind), this compares them.

Names come from the PR's migrations: carried as is, escaped where they are shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: The most change lines kept (a PR that rewrites the schema says "and N more").
CHANGES_LIMIT = 40
#: Object kinds in the order the changes are told, with their singular names.
KINDS = (
    ("tables", "table"),
    ("columns", "column"),
    ("indexes", "index"),
    ("foreign_keys", "foreign key"),
    ("views", "view"),
    ("triggers", "trigger"),
    ("routines", "routine"),
)


@dataclass(frozen=True)
class Structure:
    """One schema's objects by kind: object name -> its description ("" where the name says all)."""

    objects: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def of(self, kind: str) -> Mapping[str, str]:
        return self.objects.get(kind, {})


def column_text(column_type: str, nullable: bool, default: str | None) -> str:
    """ "varchar(20) NOT NULL DEFAULT 'free'"."""
    text = column_type + ("" if nullable else " NOT NULL")
    if default is not None:
        text += f" DEFAULT {default}"
    return text


def changes(source: Structure, target: Structure, limit: int = CHANGES_LIMIT) -> tuple[str, ...]:
    """The environment's schema (``target``) against its source: "+ table `invoices`",
    "- column `users.age`", "~ column `users.plan` varchar(10) -> varchar(20) NOT NULL"; columns
    of an added or dropped table are not told again."""
    lines: list[str] = []
    added_tables = set(target.of("tables")) - set(source.of("tables"))
    dropped_tables = set(source.of("tables")) - set(target.of("tables"))
    for kind, noun in KINDS:
        before, after = source.of(kind), target.of(kind)
        for name in sorted(set(before) | set(after)):
            if kind in ("columns", "indexes", "foreign_keys", "triggers"):
                table = name.split(".", 1)[0]
                if table in added_tables or table in dropped_tables:
                    continue
            if name not in before:
                lines.append(f"+ {noun} `{name}`" + (f" {after[name]}" if after[name] else ""))
            elif name not in after:
                lines.append(f"- {noun} `{name}`")
            elif before[name] != after[name]:
                lines.append(f"~ {noun} `{name}` {before[name]} -> {after[name]}")
    if len(lines) > limit:
        return (*lines[:limit], f"and {len(lines) - limit} more")
    return tuple(lines)
