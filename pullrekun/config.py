"""One TOML file configures a pullrekun controller; every key has a documented default.

See ``pullrekun.sample.toml`` at the top of the repository for the commented sample.
Secrets (the GitHub token, the state DB URL) may come from environment variables
instead of the file. Any problem raises :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from pullrekun.core.dbpolicy import DatabasePolicy, effective_authors
from pullrekun.core.dbsources import SourceRule, pattern_problem
from pullrekun.core.dbusers import env_password
from pullrekun.core.planner import PlannerConfig
from pullrekun.core.redact import Redactor
from pullrekun.core.releases import parse_slot
from pullrekun.core.tagpolicy import TagPolicy
from pullrekun.core.trust import TrustPolicy
from pullrekun.core.validate import LOGIN_RE, POOL_RE, InvalidInput, check_schema

#: The AWS credentials' variables: a playbook run gets them in memory only.
AWS_SECRET_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
CONFIG_ENV = "PULLREKUN_CONFIG"
DEFAULT_CONFIG = "pullrekun.toml"
ENV_NAME_RE = re.compile(r"\A[A-Z_][A-Z0-9_]*\Z")
REVISION_CHECK_RE = re.compile(r"\A(process|header:[A-Za-z0-9-]+|json:[A-Za-z0-9_.-]+)\Z")
REPO_RE = re.compile(r"\A[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+\Z")


class ConfigError(ValueError):
    """Bad or missing configuration. ``key`` is the dotted name of the culprit."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


@dataclass(frozen=True)
class GitHubConfig:
    repository: str
    api_url: str = "https://api.github.com"
    token_env: str = "PULLREKUN_GITHUB_TOKEN"  # noqa: S105 - the variable's name, not a secret
    per_page: int = 100
    timeout: int = 15
    retries: int = 3
    #: Seconds a pass may spend on GitHub requests in all; past it the rest waits for the next pass.
    budget: int = 120
    #: GitHub App auth (all three set): check runs instead of commit statuses.
    app_id: int = 0
    app_private_key_file: str = ""
    installation_id: int = 0
    #: Leave this many requests of the hourly limit unused: reports wait for the reset.
    rate_reserve: int = 100
    #: Pause between writes (GitHub asks for one second to stay clear of secondary limits).
    write_interval_ms: int = 1000
    #: GitHub's web address (pull request links, the dashboard's sign-in). Empty: derived from
    #: ``api_url`` (https://github.com; https://ghe.example.com for .../api/v3).
    web_url: str = ""

    @property
    def app(self) -> bool:
        return bool(self.app_id)

    @property
    def site(self) -> str:
        """GitHub's web address, without a trailing slash."""
        if self.web_url:
            return self.web_url.rstrip("/")
        api = self.api_url.rstrip("/")
        return "https://github.com" if api == "https://api.github.com" else api.removesuffix("/api/v3")

    def pr_url(self, number: int) -> str:
        """Where people read pull request ``number`` on GitHub."""
        return f"{self.site}/{self.repository}/pull/{number}"


@dataclass(frozen=True)
class ReportConfig:
    """What pullrekun tells people, and where."""

    context: str = "pullrekun"
    #: A directory whose templates replace the built-in ones (same file names).
    templates_dir: str = ""
    comment: bool = True
    deployments: bool = True
    #: GitHub deployments for fork PRs too (a `deployment` workflow would run the fork's code with
    #: the repository's secrets).
    fork_deployments: bool = False
    environment: str = "preview/pr-{pr}"
    #: Queue positions beyond this are shown as "behind N others": a queue shift far
    #: back then changes nothing on GitHub.
    queue_positions: int = 10
    slack_webhook_env: str = ""
    google_chat_webhook_env: str = ""
    notify_timeout: int = 10
    #: Show the failing task's last output lines on GitHub, in chat and to the dashboard's viewers
    #: (redacted, capped). Output comes from the PR's own code.
    show_output: bool = True
    #: ... on a public repository too (where anyone can read the PR). Off: only its first line.
    show_output_public: bool = False


@dataclass(frozen=True)
class ReleaseConfig:
    """Release notices (the ``[release]`` section; without it, none): where production is, and
    what the team is told in chat when it moves."""

    #: How production's sha is read: "url" (an address answering the sha, as plain text or in the
    #: JSON field ``url_json_field``), "deployment" (the newest successful GitHub deployment to
    #: ``environment``), "branch" (its head) or "tag" (the highest version matching ``tag_pattern``).
    source: str = "url"
    url: str = ""
    #: A dotted path into the URL's JSON answer ("build.sha"); empty: the answer is the sha itself.
    url_json_field: str = ""
    url_timeout: int = 10
    environment: str = "production"
    branch: str = "production"
    tag_pattern: str = "v*"
    #: The branch pull requests merge into: what is on it and not in production is waiting.
    base_branch: str = "main"
    #: The Markdown heading of the PR body's risk notes (up to the next heading of its level).
    risk_heading: str = "## Release risk"
    #: The released notice quotes each PR's risk notes too (the waiting notice always does).
    risk_in_released: bool = False
    #: The preview comment of each released (or rolled back) PR says so: one comment lookup and
    #: one edit per PR that had a preview (with ``report.comment``).
    comment_released: bool = True
    #: Keep a draft GitHub Release named ``draft_name`` holding the waiting-for-release notes,
    #: so whoever cuts the release starts from it (the token needs contents: write). Its tag,
    #: ``draft_tag``, is a placeholder until someone publishes it.
    draft_release: bool = False
    draft_name: str = "Next release"
    draft_tag: str = "next"
    #: The variables holding the release channels' webhook URLs (empty: the ``[report]`` ones).
    slack_webhook_env: str = ""
    google_chat_webhook_env: str = ""
    #: When the waiting-for-release notice is posted by itself, UTC: "09:30" or "Mon-Fri 09:30".
    pending_schedule: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServeConfig:
    """`pullrekun serve`: webhooks in, passes out, the timer as a safety net."""

    bind: str = "127.0.0.1"
    port: int = 8080
    #: The environment variable holding the webhook secret (the one set on GitHub's webhook).
    webhook_secret_env: str = "PULLREKUN_WEBHOOK_SECRET"  # noqa: S105 - a variable's name
    #: Seconds without a webhook after which a pass runs anyway.
    interval: int = 300
    #: Milliseconds a pass waits after the first delivery of a burst, so the rest ride along.
    settle_ms: int = 200
    #: Larger deliveries are refused (413); GitHub's own cap is 25 MB.
    max_body_kb: int = 2048
    #: Local dashboard accounts, login -> argon2 hash (`pullrekun hash-password`): admins may act
    #: (redeploy, reset a database), viewers may look.
    admins: dict[str, str] = field(default_factory=dict)
    viewers: dict[str, str] = field(default_factory=dict)
    #: The variable holding the key that signs session cookies (unset: a random key made at
    #: start-up, so a restart signs everyone out; never derived from another secret).
    session_secret_env: str = "PULLREKUN_SESSION_SECRET"  # noqa: S105 - a variable's name
    #: Session cookies only over HTTPS (set false only for a dashboard on loopback, like the sandbox).
    secure_cookies: bool = True
    #: Sign in with GitHub: the OAuth app's client id (empty: local accounts only). Its secret is
    #: read from ``oauth_client_secret_env``. Anyone who may read the repository may look (on a
    #: public one: triage or more, or a login in ``viewers_github``); the repository roles in
    #: ``acting_permissions`` may act (asked of GitHub with pullrekun's own credentials).
    oauth_client_id: str = ""
    #: Repository roles whose people may act on the dashboard (GitHub's role names: read, triage,
    #: write, maintain, admin). Triage is left out by default: it ranks below approving a fork.
    acting_permissions: tuple[str, ...] = ("write", "maintain", "admin")
    #: GitHub logins that may look at the dashboard whatever their repository role (on a public
    #: repository everyone can read it, so reading alone is not enough there).
    viewers_github: tuple[str, ...] = ()
    oauth_client_secret_env: str = "PULLREKUN_OAUTH_CLIENT_SECRET"  # noqa: S105 - a variable's name
    #: Seconds a person's repository access, as GitHub said it, is trusted before asking again.
    access_cache_seconds: int = 60
    #: The dashboard's address as people reach it (GitHub sends them back to <public_url>/auth/github);
    #: empty: the address of the request, right unless a proxy rewrites it.
    public_url: str = ""
    #: API tokens, name -> SHA-256 of the token (`pullrekun api-token NAME` makes one): admin
    #: tokens may act, viewer tokens read. Sent as ``Authorization: Bearer <token>``.
    admin_tokens: dict[str, str] = field(default_factory=dict)
    viewer_tokens: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EC2Config:
    pool: str = "default"
    region: str = "us-east-1"
    endpoint_url: str = ""
    #: Pool membership limited to these VPCs and subnets (empty: any).
    vpc_ids: tuple[str, ...] = ()
    subnet_ids: tuple[str, ...] = ()
    #: A ``pullrekun:url`` tag counts only if its host matches one of these (``*.preview.example.com``).
    url_hosts: tuple[str, ...] = ()
    #: Networks a ``pullrekun:ansible_host`` tag may point into, besides the instance's own addresses.
    ansible_host_networks: tuple[str, ...] = ()


@dataclass(frozen=True)
class StateConfig:
    url: str = "sqlite:///pullrekun.db"
    url_env: str = "PULLREKUN_STATE_URL"


@dataclass(frozen=True)
class AnsibleConfig:
    #: Overrides the playbooks and roles shipped with pullrekun (a directory with playbooks/reconcile.yml).
    project_dir: str = ""
    artifacts_dir: str = "pullrekun-artifacts"
    connection: str = "ssh"
    ssh_user: str = ""
    ssh_private_key: str = ""
    ssh_common_args: str = ""
    forks: int = 20
    timeout: int = 1800
    #: Seconds a run may go without any task starting or ending before it is stopped and its
    #: hosts fail with a message saying so (a hung SSH connection); 0: never.
    idle_timeout: int = 900
    boot_timeout: int = 300
    remote_python: str = "auto_silent"
    keep_artifacts: int = 50
    #: pullrekun's own known_hosts file: staging hosts' keys, pinned by instance id (empty:
    #: ``<artifacts_dir>/known_hosts``).
    known_hosts: str = ""
    #: More variables of the controller's environment the playbook run may see (names). It sees
    #: only pullrekun's own settings, the locale, HOME, proxies and the non-secret AWS settings.
    pass_env: tuple[str, ...] = ()
    #: More secret variables the playbook run needs (names): handed to it in memory, never
    #: written to its run directory, and redacted wherever pullrekun records or posts text.
    secret_env: tuple[str, ...] = ()


@dataclass(frozen=True)
class AppConfig:
    repo_url: str
    #: The app's foreground command, run from the release by the host's control script.
    command: str
    deploy_root: str = "/srv/app"
    service_manager: str = "systemd"
    service_name: str = "app"
    port: int = 8000
    health_path: str = "/health"
    health_timeout: int = 120
    #: How "ready" is proven: "process" (the app process was started from the release), or also
    #: the answer names the commit: "header:<Name>" or "json:<field>".
    revision_check: str = "process"
    url_template: str = "http://{host}:{port}/"
    before_switch_hook: str = ""
    keep_releases: int = 3
    #: The user the PR's code (the app, its migrate command) runs as on the staging hosts; it
    #: may write shared/data/ only. Empty, or the user pullrekun logs in as: no separation.
    run_user: str = "app"


@dataclass(frozen=True)
class DatabaseConfig:
    """Per-environment schemas on a shared MySQL/MariaDB server (the section is optional)."""

    default_source: str
    host: str = "127.0.0.1"
    port: int = 3306
    unix_socket: str = ""
    admin_user: str = "pullrekun"
    admin_password_env: str = "PULLREKUN_DB_ADMIN_PASSWORD"  # noqa: S105 - a variable's name
    #: Each environment connects as a user of its own (``pr_<hash>``, rights on its schema only),
    #: whose password is derived from the secret in ``app_password_env``. False: every
    #: environment connects as ``app_user`` with that secret as its password.
    env_users: bool = True
    #: The host part of the environment users (where the staging hosts connect from).
    env_user_host: str = "%"
    app_user: str = "app"
    app_password_env: str = "PULLREKUN_DB_APP_PASSWORD"  # noqa: S105 - a variable's name
    #: Where the source schemas live when that is another server (empty: the same server).
    source_host: str = ""
    source_port: int = 3306
    source_user: str = ""
    source_password_env: str = "PULLREKUN_DB_SOURCE_PASSWORD"  # noqa: S105 - a variable's name
    authors: dict[str, str] = field(default_factory=dict)
    allowed_sources: tuple[str, ...] = ()
    #: Globs of further schemas a developer's schema may be (the dashboard's table): ``dev_*``.
    source_patterns: tuple[str, ...] = ()
    label_prefix: str = "db:"
    reset_label: str = "db:reset"
    schema_template: str = "stage_{instance}"
    on_close: str = "keep"
    migrate_command: str = ""

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


@dataclass(frozen=True)
class Config:
    github: GitHubConfig
    app: AppConfig
    ec2: EC2Config = EC2Config()
    state: StateConfig = StateConfig()
    ansible: AnsibleConfig = AnsibleConfig()
    #: The ``[trust]`` section: which PRs get an environment (see pullrekun.core.trust).
    trust: TrustPolicy = field(default_factory=TrustPolicy)
    report: ReportConfig = ReportConfig()
    database: DatabaseConfig | None = None
    release: ReleaseConfig | None = None
    serve: ServeConfig = ServeConfig()
    failed_retry_after: int = 0
    source: str = "<defaults>"
    #: The config file's directory: a relative SQLite path in the state URL is taken from here,
    #: so a pass started from another directory finds the same state.
    base_dir: str = ""

    def with_edited_authors(self, edited: Mapping[str, str]) -> Config:
        """This config with the dashboard's edits of ``[database.authors]`` over the file's; an
        edit naming a source the file's rule does not allow (see :attr:`source_rule`) is left out,
        whatever the state DB holds."""
        if self.database is None or not edited:
            return self
        rule = self.source_rule
        allowed = {login: schema for login, schema in edited.items() if rule.problem(schema) is None}
        authors = effective_authors(self.database.authors, allowed)
        return dataclasses.replace(self, database=dataclasses.replace(self.database, authors=authors))

    @property
    def state_schema(self) -> str:
        """The state DB's schema on a MySQL server ("" for SQLite): never a clone's source."""
        url = self.state_url
        if not url.startswith("mysql"):
            return ""
        return urlsplit(url).path.lstrip("/").split("/", 1)[0]

    @property
    def source_rule(self) -> SourceRule:
        """Which schemas environments may be cloned from (pullrekun.core.dbsources)."""
        db = self.database
        if db is None:
            return SourceRule()
        return SourceRule(
            named=frozenset({db.default_source, *db.authors.values(), *db.allowed_sources}),
            patterns=db.source_patterns,
            forbidden=frozenset({self.state_schema} - {""}),
            target_template=db.schema_template,
        )

    @property
    def planner(self) -> PlannerConfig:
        policy = None
        if self.database is not None:
            policy = dataclasses.replace(self.database.policy, sources=self.source_rule)
        return PlannerConfig(
            failed_retry_after=dt.timedelta(seconds=self.failed_retry_after),
            database=policy,
            trust=self.trust,
        )

    @property
    def tag_policy(self) -> TagPolicy:
        db = self.database
        protected: frozenset[str] = frozenset()
        if db is not None:
            protected = frozenset({db.default_source, *db.authors.values(), *db.allowed_sources})
        return TagPolicy(
            schema_template=db.schema_template if db is not None else None,
            protected_schemas=protected,
            url_hosts=self.ec2.url_hosts,
            host_networks=self.ec2.ansible_host_networks,
            vpc_ids=frozenset(self.ec2.vpc_ids),
            subnet_ids=frozenset(self.ec2.subnet_ids),
        )

    @property
    def state_url(self) -> str:
        url = os.environ.get(self.state.url_env) or self.state.url
        prefix = "sqlite:///"
        path = url[len(prefix) :] if url.startswith(prefix) else ""
        if path and self.base_dir and not path.startswith(("/", ":memory:", "file:")):
            return prefix + str(Path(self.base_dir) / path)
        return url

    @property
    def github_token(self) -> str | None:
        return os.environ.get(self.github.token_env) or None

    def playbook_secret_env_names(self) -> tuple[str, ...]:
        """The secret variables a playbook run needs (handed over in memory): AWS, databases."""
        names = [*AWS_SECRET_ENV, *self.ansible.secret_env]
        if self.database is not None:
            db = self.database
            names += [db.admin_password_env, db.app_password_env, db.source_password_env]
        return tuple(dict.fromkeys(names))

    def secret_env_names(self) -> tuple[str, ...]:
        """Environment variables whose values are secrets (known to be, or named so in the config)."""
        names = [self.github.token_env, self.state.url_env, *self.playbook_secret_env_names()]
        names += [n for n in (self.report.slack_webhook_env, self.report.google_chat_webhook_env) if n]
        if self.release is not None:
            names += [n for n in (self.release.slack_webhook_env, self.release.google_chat_webhook_env) if n]
        names += [self.serve.webhook_secret_env, self.serve.session_secret_env]
        names += [self.serve.oauth_client_secret_env]
        return tuple(dict.fromkeys(names))

    def secret_values(self) -> tuple[str, ...]:
        """Every secret value this controller holds, in the spellings it may be printed in."""
        values = {os.environ.get(name, "") for name in self.secret_env_names()}
        password = urlsplit(self.state_url).password
        values |= {password or "", unquote(password or "")}
        values |= {quote(v, safe="") for v in set(values)}
        return tuple(sorted(v for v in values if v))

    def env_db_passwords(self, owners: Iterable[tuple[str, str]]) -> tuple[str, ...]:
        """The passwords of these (schema, owner nonce) environment users (secrets the redactor
        must know)."""
        db = self.database
        secret = os.environ.get(db.app_password_env, "") if db is not None else ""
        if db is None or not db.env_users or not secret:
            return ()
        return tuple(sorted({env_password(secret, schema, nonce) for schema, nonce in owners if schema}))

    def redactor(self, *more: str) -> Redactor:
        return Redactor.of((*self.secret_values(), *more))

    def url_for(self, host: str, tag_url: str, pr_number: int | None) -> str:
        """The environment URL: the instance's ``pullrekun:url`` tag, else the template."""
        if tag_url:
            return tag_url
        return self.app.url_template.format(host=host, port=self.app.port, pr=pr_number or "")


_SECTIONS: dict[str, type] = {
    "github": GitHubConfig,
    "ec2": EC2Config,
    "state": StateConfig,
    "ansible": AnsibleConfig,
    "app": AppConfig,
    "trust": TrustPolicy,
    "report": ReportConfig,
    "serve": ServeConfig,
}
#: Sections that switch a feature on by being present (absent: the field stays None).
_OPTIONAL_SECTIONS: dict[str, type] = {"database": DatabaseConfig, "release": ReleaseConfig}
_TOP_LEVEL = {"failed_retry_after": int}


def _typed(key: str, kind: str, value: object) -> Any:
    if kind == "dict[str, str]":
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(key, f"must be a table of strings, got {value!r}")
        return dict(value)
    if kind == "tuple[str, ...]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(key, f"must be a list of strings, got {value!r}")
        return tuple(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(key, f"must be true or false, got {value!r}")
        return value
    want = int if kind == "int" else str
    if isinstance(value, bool) or not isinstance(value, want):
        raise ConfigError(key, f"must be {want.__name__}, got {value!r}")
    return value


def _build(section: str, cls: type, raw: object) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(section, "must be a table")
    known = {f.name: f for f in fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{section}.{key}", f"unknown key (known: {', '.join(sorted(known))})")
    kwargs: dict[str, Any] = {}
    for name, f in known.items():
        if name not in raw:
            if f.default is MISSING and f.default_factory is MISSING:
                raise ConfigError(f"{section}.{name}", "missing (required)")
            continue
        kwargs[name] = _typed(f"{section}.{name}", str(f.type), raw[name])
    return cls(**kwargs)


#: Settings that must be at least this much (seconds, counts), by dotted key.
_MINIMUMS = {
    "github.timeout": 1, "github.retries": 0, "github.write_interval_ms": 0,
    "report.notify_timeout": 1,
    "ansible.timeout": 1, "ansible.idle_timeout": 0, "ansible.boot_timeout": 1, "ansible.keep_artifacts": 1,
    "app.health_timeout": 1, "app.keep_releases": 1,
    "serve.interval": 10, "serve.settle_ms": 0, "serve.max_body_kb": 64, "serve.port": 1,
    "serve.access_cache_seconds": 0,
}  # fmt: skip
TOKEN_HASH_RE = re.compile(r"\A[0-9a-f]{64}\Z")
USER_NAME_RE = re.compile(r"\A[a-z_][a-z0-9_-]{0,31}\Z")
SERVICE_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}\Z")


def _check_ranges(cfg: Config) -> None:
    for key, least in _MINIMUMS.items():
        section, name = key.split(".")
        if getattr(getattr(cfg, section), name) < least:
            raise ConfigError(key, f"must be at least {least}")
    if cfg.database is not None and not 0 < cfg.database.source_port < 65536:
        raise ConfigError("database.source_port", "must be a TCP port")
    # It is written into the staging hosts' sudoers rule and the unit's file name.
    if not SERVICE_NAME_RE.match(cfg.app.service_name):
        raise ConfigError("app.service_name", f"must match {SERVICE_NAME_RE.pattern} (a systemd unit name)")
    if cfg.app.run_user and not USER_NAME_RE.match(cfg.app.run_user):
        raise ConfigError("app.run_user", f"must match {USER_NAME_RE.pattern} (a Unix user name) or be empty")


GITHUB_ROLES = ("read", "triage", "write", "maintain", "admin")


def _check_serve(serve: ServeConfig) -> None:
    unknown = [p for p in serve.acting_permissions if p not in GITHUB_ROLES]
    if unknown or not serve.acting_permissions:
        raise ConfigError(
            "serve.acting_permissions", f"must be some of {', '.join(GITHUB_ROLES)} (got {unknown or 'none'})"
        )
    for login in serve.viewers_github:
        if not LOGIN_RE.match(login):
            raise ConfigError("serve.viewers_github", f"{login!r} is not a GitHub login")
    if serve.public_url and not serve.public_url.startswith(("http://", "https://")):
        raise ConfigError("serve.public_url", "must be an http(s) URL or empty")
    for key in ("webhook_secret_env", "session_secret_env", "oauth_client_secret_env"):
        if not ENV_NAME_RE.match(getattr(serve, key)):
            raise ConfigError(f"serve.{key}", "must be an environment variable name (A-Z, 0-9, _)")
    for key in ("admin_tokens", "viewer_tokens"):
        for name, digest in getattr(serve, key).items():
            if not TOKEN_HASH_RE.match(digest):
                raise ConfigError(f"serve.{key}.{name}", "must be a token's SHA-256 (`pullrekun api-token`)")


def _check(cfg: Config) -> None:
    _check_ranges(cfg)
    if not REPO_RE.match(cfg.github.repository):
        raise ConfigError("github.repository", f"must be 'owner/name', got {cfg.github.repository!r}")
    if not cfg.github.api_url.startswith(("http://", "https://")):
        raise ConfigError("github.api_url", "must be an http(s) URL")
    if cfg.github.web_url and not cfg.github.web_url.startswith(("http://", "https://")):
        raise ConfigError("github.web_url", "must be an http(s) URL")
    _check_serve(cfg.serve)
    if not 1 <= cfg.github.per_page <= 100:
        raise ConfigError("github.per_page", "must be between 1 and 100")
    if not POOL_RE.match(cfg.ec2.pool):
        raise ConfigError("ec2.pool", f"must match {POOL_RE.pattern}")
    if cfg.ec2.endpoint_url and not cfg.ec2.endpoint_url.startswith(("http://", "https://")):
        raise ConfigError("ec2.endpoint_url", "must be an http(s) URL or empty")
    for network in cfg.ec2.ansible_host_networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ConfigError("ec2.ansible_host_networks", f"{network!r} is not a network (CIDR)") from None
    if cfg.ansible.connection not in {"ssh", "local"}:
        raise ConfigError("ansible.connection", "must be 'ssh' or 'local'")
    if cfg.ansible.forks < 1:
        raise ConfigError("ansible.forks", "must be at least 1")
    quiet_tasks = max(cfg.ansible.boot_timeout, cfg.app.health_timeout)
    if cfg.ansible.idle_timeout and cfg.ansible.idle_timeout <= quiet_tasks:
        raise ConfigError(
            "ansible.idle_timeout",
            f"must be longer than the longest wait of a task (boot_timeout, app.health_timeout: "
            f"{quiet_tasks} s), or 0",
        )
    for key in ("pass_env", "secret_env"):
        for name in getattr(cfg.ansible, key):
            if not ENV_NAME_RE.match(name):
                problem = f"{name!r} is not an environment variable name (A-Z, 0-9, _)"
                raise ConfigError(f"ansible.{key}", problem)
    if (
        cfg.ansible.project_dir
        and not (Path(cfg.ansible.project_dir) / "playbooks" / "reconcile.yml").is_file()
    ):
        raise ConfigError("ansible.project_dir", "has no playbooks/reconcile.yml")
    if cfg.app.service_manager not in {"systemd", "start-stop-daemon"}:
        raise ConfigError("app.service_manager", "must be 'systemd' or 'start-stop-daemon'")
    if not cfg.app.command:
        raise ConfigError("app.command", "must not be empty: the command that runs the app from its release")
    if not REVISION_CHECK_RE.match(cfg.app.revision_check):
        raise ConfigError("app.revision_check", "must be 'process', 'header:<Name>' or 'json:<field>'")
    if not 0 < cfg.app.port < 65536:
        raise ConfigError("app.port", "must be a TCP port")
    if not cfg.app.health_path.startswith("/"):
        raise ConfigError("app.health_path", "must start with '/'")
    if not cfg.app.deploy_root.startswith("/"):
        raise ConfigError("app.deploy_root", "must be an absolute path")
    for key, template, names in (
        ("app.url_template", cfg.app.url_template, "{host}, {port}, {pr}"),
        ("app.deploy_root", cfg.app.deploy_root, "{host}"),
    ):
        try:
            template.format(host="h", port=1, pr=1)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(key, f"bad placeholder {exc} (use {names})") from exc
    _check_github_app(cfg.github)
    _check_report(cfg.report)
    if cfg.database is not None:
        _check_database(cfg.database)
        _check_sources(cfg)
    if cfg.release is not None:
        _check_release(cfg.release)
    if cfg.failed_retry_after < 0:
        raise ConfigError("failed_retry_after", "must not be negative")


def _check_github_app(gh: GitHubConfig) -> None:
    app_keys = {"app_id": gh.app_id, "app_private_key_file": gh.app_private_key_file}
    app_keys["installation_id"] = gh.installation_id
    if any(app_keys.values()) and not all(app_keys.values()):
        unset = ", ".join(f"github.{k}" for k, v in app_keys.items() if not v)
        raise ConfigError(unset.split(", ")[0], f"GitHub App auth needs all three keys; unset: {unset}")
    if gh.rate_reserve < 0:
        raise ConfigError("github.rate_reserve", "must not be negative")
    if gh.budget < 1:
        raise ConfigError("github.budget", "must be at least 1 (seconds)")
    if not gh.app:
        return
    path = Path(gh.app_private_key_file)
    try:
        head = path.read_text(encoding="ascii", errors="replace")[:100]
    except OSError as exc:
        raise ConfigError("github.app_private_key_file", f"cannot read {path}: {exc.strerror}") from None
    if "PRIVATE KEY-----" not in head:
        raise ConfigError("github.app_private_key_file", f"{path} is not a PEM private key")


def _check_report(rep: ReportConfig) -> None:
    for key in ("slack_webhook_env", "google_chat_webhook_env"):
        value = getattr(rep, key)
        if value and not ENV_NAME_RE.match(value):
            raise ConfigError(f"report.{key}", "must be an environment variable name (A-Z, 0-9, _)")
    if not rep.context or len(rep.context) > 100:
        raise ConfigError("report.context", "must be 1 to 100 characters")
    try:
        env = rep.environment.format(pr=1)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError("report.environment", f"bad placeholder {exc} (use {{pr}})") from None
    if "{pr}" not in rep.environment or len(env) > 100:
        raise ConfigError("report.environment", "must contain {pr} and stay under 100 characters")
    if rep.queue_positions < 1:
        raise ConfigError("report.queue_positions", "must be at least 1")
    if rep.templates_dir and not Path(rep.templates_dir).is_dir():
        raise ConfigError("report.templates_dir", f"no such directory: {rep.templates_dir}")


RELEASE_SOURCES = ("url", "deployment", "branch", "tag")
JSON_FIELD_RE = re.compile(r"\A[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\Z")
#: A branch or environment name: git's ref rules, simplified (no spaces, "..", "~^:?*[\\", or a
#: leading "-" or "/").
REF_NAME_RE = re.compile(r"\A(?!-)(?!/)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]{1,200}(?<!/)(?<!\.lock)\Z")


def _check_release(rel: ReleaseConfig) -> None:
    if rel.source not in RELEASE_SOURCES:
        raise ConfigError("release.source", f"must be one of {', '.join(RELEASE_SOURCES)}")
    if rel.source == "url" and not rel.url.startswith(("http://", "https://")):
        raise ConfigError("release.url", "must be the http(s) address that answers production's sha")
    if rel.url_json_field and not JSON_FIELD_RE.match(rel.url_json_field):
        raise ConfigError("release.url_json_field", "must be a dotted path of field names, e.g. build.sha")
    if not 1 <= rel.url_timeout <= 120:
        raise ConfigError("release.url_timeout", "must be 1 to 120 seconds")
    for key in ("branch", "base_branch", "environment"):
        if not REF_NAME_RE.match(getattr(rel, key)):
            raise ConfigError(f"release.{key}", f"{getattr(rel, key)!r} is not a valid name")
    if not rel.tag_pattern or len(rel.tag_pattern) > 100 or any(c in rel.tag_pattern for c in " ~^:\\"):
        raise ConfigError("release.tag_pattern", "must be a glob of tag names, e.g. v*")
    if not rel.draft_name.strip() or len(rel.draft_name) > 100 or "\n" in rel.draft_name:
        raise ConfigError("release.draft_name", "must be one line of 1 to 100 characters")
    if not REF_NAME_RE.match(rel.draft_tag):
        raise ConfigError("release.draft_tag", f"{rel.draft_tag!r} is not a valid tag name")
    if not rel.risk_heading.strip() or "\n" in rel.risk_heading:
        raise ConfigError("release.risk_heading", "must be one line, e.g. '## Release risk'")
    for key in ("slack_webhook_env", "google_chat_webhook_env"):
        value = getattr(rel, key)
        if value and not ENV_NAME_RE.match(value):
            raise ConfigError(f"release.{key}", "must be an environment variable name (A-Z, 0-9, _)")
    for entry in rel.pending_schedule:
        try:
            parse_slot(entry)
        except ValueError as exc:
            raise ConfigError("release.pending_schedule", str(exc)) from None


def _check_sources(cfg: Config) -> None:
    """Every source the config names is one a clone may copy (not a system schema, the state DB,
    an environment's schema); every pattern is a glob of names."""
    db = cfg.database
    assert db is not None
    for pattern in db.source_patterns:
        problem = pattern_problem(pattern)
        if problem is not None:
            raise ConfigError("database.source_patterns", f"{pattern!r} {problem}")
    rule = cfg.source_rule
    for key, schema in _named_sources(db):
        problem = rule.problem(schema)
        if problem is not None:
            raise ConfigError(key, f"cannot be a source: {problem}")


def _named_sources(db: DatabaseConfig) -> list[tuple[str, str]]:
    """Every source schema the config names, with the key that names it."""
    named = [("database.default_source", db.default_source)]
    named += [(f"database.authors.{login}", schema) for login, schema in db.authors.items()]
    named += [("database.allowed_sources", schema) for schema in db.allowed_sources]
    return named


def _check_database(db: DatabaseConfig) -> None:
    for key, schema in _named_sources(db):
        try:
            check_schema(schema)
        except InvalidInput as exc:
            raise ConfigError(key, str(exc)) from None
    try:
        check_schema(db.schema_template.format(instance="i_0123456789abcdef0"))
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            "database.schema_template", f"must give a schema name from {{instance}}: {exc}"
        ) from None
    for key in ("admin_password_env", "app_password_env", "source_password_env"):
        if not ENV_NAME_RE.match(getattr(db, key)):
            raise ConfigError(f"database.{key}", "must be an environment variable name (A-Z, 0-9, _)")
    if db.on_close not in {"keep", "drop"}:
        raise ConfigError("database.on_close", "must be 'keep' or 'drop'")
    if not 0 < db.port < 65536:
        raise ConfigError("database.port", "must be a TCP port")


def parse(raw: dict[str, Any], source: str = "<dict>") -> Config:
    for key in raw:
        if key not in _SECTIONS and key not in _OPTIONAL_SECTIONS and key not in _TOP_LEVEL:
            raise ConfigError(key, "unknown key")
    if "github" not in raw:
        raise ConfigError("github.repository", "missing (required)")
    if "app" not in raw:
        raise ConfigError("app.repo_url", "missing (required)")
    sections = {name: _build(name, cls, raw.get(name, {})) for name, cls in _SECTIONS.items()}
    sections |= {
        name: _build(name, cls, raw[name]) for name, cls in _OPTIONAL_SECTIONS.items() if name in raw
    }
    retry = raw.get("failed_retry_after", 0)
    if isinstance(retry, bool) or not isinstance(retry, int):
        raise ConfigError("failed_retry_after", f"must be int, got {retry!r}")
    cfg = Config(failed_retry_after=retry, source=source, **sections)
    _check(cfg)
    return cfg


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
    return dataclasses.replace(parse(raw, source=str(path)), base_dir=str(path.resolve().parent))
