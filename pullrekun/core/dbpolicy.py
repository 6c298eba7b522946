"""Which schema an environment's database is cloned from, and into. Pure: no I/O.

Source, in order: a ``db:<schema>`` label naming an allowed schema, the PR author's
development schema (``[database.authors]``), the default. A label naming anything else
is refused with a note, never used. Target: the instance's ``pullrekun:db_schema`` tag,
else the template with ``{instance}`` = the instance id with ``-`` as ``_``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from pullrekun.core.dbsources import SourceRule
from pullrekun.core.model import Instance, PullRequest
from pullrekun.core.validate import SCHEMA_RE


@dataclass(frozen=True)
class DatabasePolicy:
    default_source: str
    authors: tuple[tuple[str, str], ...] = ()
    allowed: frozenset[str] = frozenset()
    label_prefix: str = "db:"
    reset_label: str = "db:reset"
    schema_template: str = "stage_{instance}"
    #: Drop an environment's schema when its PR closes (else it is kept until reassigned).
    drop_on_close: bool = False
    #: The operator's allow-list of sources (None: every name is taken as given).
    sources: SourceRule | None = None

    def source_for(self, pr: PullRequest) -> tuple[str, str | None]:
        """(source schema, note about a refused label or None)."""
        note = None
        for label in pr.labels:
            if not label.startswith(self.label_prefix) or label == self.reset_label:
                continue
            wanted = label[len(self.label_prefix) :]
            if SCHEMA_RE.match(wanted) and wanted in self.allowed:
                return wanted, None
            note = f"PR #{pr.number}: label {label!r} names no allowed schema; ignored"
        # GitHub logins are case-insensitive: "Bob" is bob.
        by_author = {login.lower(): schema for login, schema in self.authors}.get(pr.author.lower())
        refused = by_author and self.sources is not None and self.sources.problem(by_author)
        if refused:
            return (
                self.default_source,
                f"PR #{pr.number}: {pr.author}'s schema refused ({refused}); default used",
            )
        return (by_author or self.default_source), note

    def with_edits(self, edited: Mapping[str, str]) -> DatabasePolicy:
        """This policy with the dashboard's edits of the developer -> schema table over the
        config's (an edit the source rule refuses is refused again by :meth:`source_for`)."""
        if not edited:
            return self
        table = effective_authors(dict(self.authors), edited)
        return dataclasses.replace(self, authors=tuple(sorted(table.items())))

    def target_for(self, inst: Instance) -> str:
        return inst.db_schema or self.schema_template.format(instance=inst.instance_id.replace("-", "_"))

    def wants_reset(self, pr: PullRequest) -> bool:
        return self.reset_label in pr.labels


def effective_authors(configured: Mapping[str, str], edited: Mapping[str, str]) -> dict[str, str]:
    """The developer -> schema table: the config's, with the dashboard's edits over it (by
    lower-cased login; GitHub logins are case-insensitive)."""
    table = {login.lower(): schema for login, schema in configured.items()}
    table.update((login.lower(), schema) for login, schema in edited.items())
    return table
