"""The sections that switch a feature on by being present: ``[database]`` (a schema of its own
per environment), ``[release]`` (release notices) and ``[bootstrap]`` (how launched instances
are bootstrapped)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import Field, StrictBool, StrictInt, StrictStr, TypeAdapter, field_validator, model_validator
from pydantic.dataclasses import dataclass

from pullrekun.config.sections import SECTION
from pullrekun.config.types import (
    BOOTSTRAP_VAR_RE,
    Bool,
    EnvName,
    HttpUrl,
    Int,
    JsonField,
    KeyProblem,
    OptionalEnvName,
    Port,
    RefName,
    Schedule,
    Schema,
    SourcePatterns,
    Str,
)
from pullrekun.core.dbpolicy import DatabasePolicy
from pullrekun.core.validate import check_schema

field = dataclasses.field


@dataclass(frozen=True, config=SECTION)
class DatabaseConfig:
    """Per-environment schemas on a shared MySQL/MariaDB server (the section is optional)."""

    default_source: Schema
    host: Str = "127.0.0.1"
    port: Port = 3306
    unix_socket: Str = ""
    admin_user: Str = "pullrekun"
    admin_password_env: EnvName = "PULLREKUN_DB_ADMIN_PASSWORD"  # noqa: S105 - a variable's name
    #: Each environment connects as a user of its own (``pr_<hash>``, rights on its schema only),
    #: whose password is derived from the secret in ``app_password_env``. False: every
    #: environment connects as ``app_user`` with that secret as its password.
    env_users: Bool = True
    #: The host part of the environment users (where the staging hosts connect from).
    env_user_host: Str = "%"
    app_user: Str = "app"
    app_password_env: EnvName = "PULLREKUN_DB_APP_PASSWORD"  # noqa: S105 - a variable's name
    #: Where the source schemas live when that is another server (empty: the same server).
    source_host: Str = ""
    source_port: Port = 3306
    source_user: Str = ""
    source_password_env: EnvName = "PULLREKUN_DB_SOURCE_PASSWORD"  # noqa: S105 - a variable's name
    authors: dict[Str, Schema] = field(default_factory=dict)
    allowed_sources: tuple[Schema, ...] = ()
    #: Globs of further schemas a developer's schema may be (the dashboard's table): ``dev_*``.
    source_patterns: SourcePatterns = ()
    label_prefix: Str = "db:"
    reset_label: Str = "db:reset"
    schema_template: Str = "stage_{instance}"
    on_close: Literal["keep", "drop"] = "keep"
    migrate_command: Str = ""

    @field_validator("schema_template")
    @classmethod
    def _schema_template(cls, value: str) -> str:
        try:
            check_schema(value.format(instance="i_0123456789abcdef0"))
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"must give a schema name from {{instance}}: {exc}") from None
        return value

    @property
    def policy(self) -> DatabasePolicy:
        return DatabasePolicy(
            default_source=self.default_source,
            authors=tuple(sorted(self.authors.items())),
            allowed=frozenset(self.allowed_sources),
            label_prefix=self.label_prefix,
            reset_label=self.reset_label,
            schema_template=self.schema_template,
            drop_on_close=self.on_close == "drop",
        )

    def named_sources(self) -> list[tuple[str, str]]:
        """Every source schema the config names, with the key that names it."""
        named = [("database.default_source", self.default_source)]
        named += [(f"database.authors.{login}", schema) for login, schema in self.authors.items()]
        named += [("database.allowed_sources", schema) for schema in self.allowed_sources]
        return named


@dataclass(frozen=True, config=SECTION)
class ReleaseConfig:
    """Release notices (the ``[release]`` section; without it, none): where production is, and
    what the team is told in chat when it moves."""

    #: How production's sha is read: "url" (an address answering the sha, as plain text or in the
    #: JSON field ``url_json_field``), "deployment" (the newest successful GitHub deployment to
    #: ``environment``), "branch" (its head) or "tag" (the highest version matching ``tag_pattern``).
    source: Literal["url", "deployment", "branch", "tag"] = "url"
    url: HttpUrl = ""
    #: A dotted path into the URL's JSON answer ("build.sha"); empty: the answer is the sha itself.
    url_json_field: JsonField = ""
    url_timeout: Annotated[Int, Field(ge=1, le=120)] = 10
    environment: RefName = "production"
    branch: RefName = "production"
    tag_pattern: Str = "v*"
    #: The branch pull requests merge into: what is on it and not in production is waiting.
    base_branch: RefName = "main"
    #: The Markdown heading of the PR body's risk notes (up to the next heading of its level).
    risk_heading: Str = "## Release risk"
    #: The released notice quotes each PR's risk notes too (the waiting notice always does).
    risk_in_released: Bool = False
    #: The preview comment of each released (or rolled back) PR says so: one comment lookup and
    #: one edit per PR that had a preview (with ``report.comment``).
    comment_released: Bool = True
    #: Keep a draft GitHub Release named ``draft_name`` holding the waiting-for-release notes,
    #: so whoever cuts the release starts from it (the token needs contents: write). Its tag,
    #: ``draft_tag``, is a placeholder until someone publishes it.
    draft_release: Bool = False
    draft_name: Str = "Next release"
    draft_tag: RefName = "next"
    #: The variables holding the release channels' webhook URLs (empty: the ``[report]`` ones).
    slack_webhook_env: OptionalEnvName = ""
    google_chat_webhook_env: OptionalEnvName = ""
    #: When the waiting-for-release notice is posted by itself, UTC: "09:30" or "Mon-Fri 09:30".
    pending_schedule: Schedule = ()

    @field_validator("tag_pattern")
    @classmethod
    def _tag_pattern(cls, value: str) -> str:
        if not value or len(value) > 100 or any(c in value for c in " ~^:\\"):
            raise ValueError("must be a glob of tag names, e.g. v*")
        return value

    @field_validator("draft_name")
    @classmethod
    def _draft_name(cls, value: str) -> str:
        if not value.strip() or len(value) > 100 or "\n" in value:
            raise ValueError("must be one line of 1 to 100 characters")
        return value

    @field_validator("risk_heading")
    @classmethod
    def _risk_heading(cls, value: str) -> str:
        if not value.strip() or "\n" in value:
            raise ValueError("must be one line, e.g. '## Release risk'")
        return value

    @model_validator(mode="after")
    def _url_for_url(self) -> ReleaseConfig:
        if self.source == "url" and not self.url:
            raise KeyProblem("release.url", "must be the http(s) address that answers production's sha")
        return self


BootstrapValue = StrictStr | StrictInt | StrictBool | tuple[StrictStr, ...]


@dataclass(frozen=True, config=SECTION)
class BootstrapConfig:
    """How an instance pullrekun launched is bootstrapped (``roles/staging`` with
    ``staging_action = "bootstrap"``), in the pass that launched it, before its first deploy."""

    #: The staging role's variables for the bootstrap (``staging_deploy_user``,
    #: ``staging_packages``, ``staging_controller_public_key``...); only ``staging_*`` names.
    vars: dict[Str, BootstrapValue] = field(default_factory=dict)
    #: A YAML file of more such variables (relative: to the config file's directory); ``vars``
    #: wins where both set one.
    vars_file: Str = ""
    #: The user the image lets in, when it is not ``ansible.ssh_user`` (admin, ec2-user); the
    #: bootstrap makes the deploy user pullrekun logs in as afterwards.
    user: Str = ""
    #: Bootstrap as root through sudo.
    become: Bool = True

    @field_validator("vars")
    @classmethod
    def _role_vars(cls, value: dict[str, BootstrapValue]) -> dict[str, BootstrapValue]:
        for name in value:
            if not BOOTSTRAP_VAR_RE.match(name):
                raise ValueError(f"{name!r} is not a variable of the staging role (staging_...)")
        return value

    def role_vars(self, base_dir: str) -> dict[str, BootstrapValue]:
        """The bootstrap's variables: the file's, then ``vars``. Raises ValueError naming what is
        wrong with the file."""
        found: dict[str, BootstrapValue] = {}
        if self.vars_file:
            path = Path(base_dir or ".") / self.vars_file
            try:
                loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError) as exc:
                raise ValueError(f"cannot read {path}: {exc}") from None
            if not isinstance(loaded, dict):
                raise ValueError(f"{path} must hold a mapping of staging_* variables")
            found = dict(TypeAdapter(dict[Str, BootstrapValue]).validate_python(loaded, strict=False))
            self._role_vars(found)
        return {**found, **self.vars}
