"""The config file's sections, declared: each key's type, default and rule in one place.

A rule that spans keys is a section's ``model_validator`` and names the key it blames
(:class:`~pullrekun.config.types.KeyProblem`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.dataclasses import dataclass

from pullrekun.config.types import (
    Bool,
    EnvName,
    EnvNames,
    HttpUrl,
    Int,
    KeyProblem,
    LaunchTemplate,
    Logins,
    LoginsOrTeams,
    Names,
    Networks,
    NotNegative,
    OptionalEnvName,
    PoolName,
    Repository,
    Roles,
    Seconds,
    Str,
    Table,
    TemplateVersion,
    TimeZone,
    TokenDigests,
    placeholders,
)
from pullrekun.core.fleet import FleetPolicy, Recycle

#: Unknown keys are refused; values are never coerced (strictness comes from the loader).
SECTION = ConfigDict(extra="forbid")
field = dataclasses.field


@dataclass(frozen=True, config=SECTION)
class GitHubConfig:
    repository: Repository
    api_url: HttpUrl = "https://api.github.com"
    token_env: EnvName = "PULLREKUN_GITHUB_TOKEN"  # noqa: S105 - the variable's name, not a secret
    per_page: Annotated[Int, Field(ge=1, le=100)] = 100
    timeout: Seconds = 15
    retries: NotNegative = 3
    #: Seconds a pass may spend on GitHub requests in all; past it the rest waits for the next pass.
    budget: Seconds = 120
    #: GitHub App auth (all three set): check runs instead of commit statuses.
    app_id: NotNegative = 0
    app_private_key_file: Str = ""
    installation_id: NotNegative = 0
    #: Leave this many requests of the hourly limit unused: reports wait for the reset.
    rate_reserve: NotNegative = 100
    #: Pause between writes (GitHub asks for one second to stay clear of secondary limits).
    write_interval_ms: NotNegative = 1000
    #: GitHub's web address (pull request links, the dashboard's sign-in). Empty: derived from
    #: ``api_url`` (https://github.com; https://ghe.example.com for .../api/v3).
    web_url: HttpUrl = ""

    @field_validator("api_url")
    @classmethod
    def _api_url_set(cls, value: str) -> str:
        if not value:
            raise ValueError("must be an http(s) URL")
        return value

    @model_validator(mode="after")
    def _app_auth(self) -> GitHubConfig:
        keys = {"app_id": self.app_id, "app_private_key_file": self.app_private_key_file}
        keys["installation_id"] = self.installation_id
        if any(keys.values()) and not all(keys.values()):
            unset = ", ".join(f"github.{k}" for k, v in keys.items() if not v)
            raise KeyProblem(unset.split(", ")[0], f"GitHub App auth needs all three keys; unset: {unset}")
        if self.app:
            path = Path(self.app_private_key_file)
            try:
                head = path.read_text(encoding="ascii", errors="replace")[:100]
            except OSError as exc:
                raise KeyProblem(
                    "github.app_private_key_file", f"cannot read {path}: {exc.strerror}"
                ) from None
            if "PRIVATE KEY-----" not in head:
                raise KeyProblem("github.app_private_key_file", f"{path} is not a PEM private key")
        return self

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


@dataclass(frozen=True, config=SECTION)
class ReportConfig:
    """What pullrekun tells people, and where."""

    context: Annotated[Str, Field(min_length=1, max_length=100)] = "pullrekun"
    #: A directory whose templates replace the built-in ones (same file names).
    templates_dir: Str = ""
    comment: Bool = True
    deployments: Bool = True
    #: GitHub deployments for fork PRs too (a `deployment` workflow would run the fork's code with
    #: the repository's secrets).
    fork_deployments: Bool = False
    environment: Str = "preview/pr-{pr}"
    #: Queue positions beyond this are shown as "behind N others": a queue shift far
    #: back then changes nothing on GitHub.
    queue_positions: Annotated[Int, Field(ge=1)] = 10
    slack_webhook_env: OptionalEnvName = ""
    google_chat_webhook_env: OptionalEnvName = ""
    notify_timeout: Seconds = 10
    #: Show the failing task's last output lines on GitHub, in chat and to the dashboard's viewers
    #: (redacted, capped). Output comes from the PR's own code.
    show_output: Bool = True
    #: ... on a public repository too (where anyone can read the PR). Off: only its first line.
    show_output_public: Bool = False
    #: The PR description's section with the test scenario (this heading up to the next of its
    #: level): shown on the dashboard, its checklist items as a checklist.
    scenario_heading: Str = "## Test scenario"
    #: The PR comment says when a PR has no test scenario.
    scenario_note: Bool = True

    @field_validator("environment")
    @classmethod
    def _environment(cls, value: str) -> str:
        name = placeholders(value, "{pr}", pr=1)
        if "{pr}" not in value or len(name) > 100:
            raise ValueError("must contain {pr} and stay under 100 characters")
        return value

    @field_validator("scenario_heading")
    @classmethod
    def _scenario_heading(cls, value: str) -> str:
        if not value.strip() or "\n" in value or len(value) > 100:
            raise ValueError("must be one line, e.g. '## Test scenario'")
        return value

    @field_validator("templates_dir")
    @classmethod
    def _templates_dir(cls, value: str) -> str:
        if value and not Path(value).is_dir():
            raise ValueError(f"no such directory: {value}")
        return value


@dataclass(frozen=True, config=SECTION)
class ServeConfig:
    """`pullrekun serve`: webhooks in, passes out, the timer as a safety net."""

    bind: Str = "127.0.0.1"
    port: Annotated[Int, Field(ge=1)] = 8080
    #: The environment variable holding the webhook secret (the one set on GitHub's webhook).
    webhook_secret_env: EnvName = "PULLREKUN_WEBHOOK_SECRET"  # noqa: S105 - a variable's name
    #: Seconds without a webhook after which a pass runs anyway.
    interval: Annotated[Int, Field(ge=10)] = 300
    #: Milliseconds between a pass and the next one deliveries ask for: the first delivery after a
    #: quiet spell starts a pass at once; what arrives during it, or within this after it ended,
    #: rides on one more pass, started this long after the first ended.
    settle_ms: NotNegative = 200
    #: Larger deliveries are refused (413); GitHub's own cap is 25 MB.
    max_body_kb: Annotated[Int, Field(ge=64)] = 2048
    #: Local dashboard accounts, login -> argon2 hash (`pullrekun hash-password`): admins may act
    #: (redeploy, reset a database), viewers may look.
    admins: Table = field(default_factory=dict)
    viewers: Table = field(default_factory=dict)
    #: Local accounts (login -> argon2 hash) that may look and sign off previews (verify), but not
    #: redeploy, stop or reset; and GitHub logins or teams ("acme/qa") that may do the same.
    verifiers: Table = field(default_factory=dict)
    verifiers_github: LoginsOrTeams = ()
    #: The variable holding the key that signs session cookies (unset: a random key made at
    #: start-up, so a restart signs everyone out; never derived from another secret).
    session_secret_env: EnvName = "PULLREKUN_SESSION_SECRET"  # noqa: S105 - a variable's name
    #: Session cookies only over HTTPS (set false only for a dashboard on loopback, like the sandbox).
    secure_cookies: Bool = True
    #: Sign in with GitHub: the OAuth app's client id (empty: local accounts only). Its secret is
    #: read from ``oauth_client_secret_env``. Anyone who may read the repository may look (on a
    #: public one: triage or more, or a login in ``viewers_github``); the repository roles in
    #: ``acting_permissions`` may act (asked of GitHub with pullrekun's own credentials).
    oauth_client_id: Str = ""
    #: Repository roles whose people may act on the dashboard (GitHub's role names: read, triage,
    #: write, maintain, admin). Triage is left out by default: it ranks below approving a fork.
    acting_permissions: Roles = ("write", "maintain", "admin")
    #: GitHub logins that may look at the dashboard whatever their repository role (on a public
    #: repository everyone can read it, so reading alone is not enough there).
    viewers_github: Logins = ()
    oauth_client_secret_env: EnvName = "PULLREKUN_OAUTH_CLIENT_SECRET"  # noqa: S105 - a variable's name
    #: Seconds a person's repository access, as GitHub said it, is trusted before asking again.
    access_cache_seconds: NotNegative = 60
    #: The dashboard's address as people reach it (GitHub sends them back to <public_url>/auth/github);
    #: empty: the address of the request, right unless a proxy rewrites it.
    public_url: HttpUrl = ""
    #: API tokens, name -> SHA-256 of the token (`pullrekun api-token NAME` makes one): admin
    #: tokens may act, viewer tokens read. Sent as ``Authorization: Bearer <token>``.
    admin_tokens: TokenDigests = field(default_factory=dict)
    viewer_tokens: TokenDigests = field(default_factory=dict)
    #: The team's time zone (IANA): the dashboard shows times in it, and as "12 min ago".
    time_zone: TimeZone = "UTC"
    #: Publish each environment's link as <public_url>/e/<pr> (the PR comment, the deployment, the
    #: dashboard): it goes to the environment when it is up, and wakes it when it sleeps (for those
    #: who may look at the dashboard). Needs ``public_url``.
    wake_links: Bool = False

    @model_validator(mode="after")
    def _wake_links_need_an_address(self) -> ServeConfig:
        if self.wake_links and not self.public_url:
            raise KeyProblem("serve.public_url", "must be set for serve.wake_links (the links point there)")
        return self

    def link(self, pr: int) -> str:
        """The environment's published link through ``serve`` (wake_links)."""
        return f"{self.public_url.rstrip('/')}/e/{pr}"


@dataclass(frozen=True, config=SECTION)
class VerifyConfig:
    """Sign-off on previews: the second status (a commit status, or a check run in App mode)
    branch protection can require; pullrekun never sets it to success by itself."""

    #: Publish the sign-off status on each PR's head (pending until someone signs off).
    publish: Bool = True
    context: Annotated[Str, Field(min_length=1, max_length=100)] = "pullrekun/verified"
    #: A PR's author may sign off their own PR.
    allow_author: Bool = False


@dataclass(frozen=True, config=SECTION)
class EC2Config:
    pool: PoolName = "default"
    region: Str = "us-east-1"
    endpoint_url: HttpUrl = ""
    #: Pool membership limited to these VPCs and subnets (empty: any).
    vpc_ids: Names = ()
    subnet_ids: Names = ()
    #: A ``pullrekun:url`` tag counts only if its host matches one of these (``*.preview.example.com``).
    url_hosts: Names = ()
    #: Networks a ``pullrekun:ansible_host`` tag may point into, besides the instance's own addresses.
    ansible_host_networks: Networks = ()
    #: Launch instances from this launch template (a name, or an ``lt-`` id) when PRs queue;
    #: empty: the pool is what people tag into it.
    launch_template: LaunchTemplate = ""
    #: The template's version: ``$Default``, ``$Latest`` or a number.
    launch_template_version: TemplateVersion = "$Default"
    #: Launched instances kept even when idle, and the most the pool grows to by launching.
    min_size: NotNegative = 0
    max_size: NotNegative = 0
    #: Seconds a launched instance stays free before it is terminated (down to ``min_size``).
    scale_in_after: Seconds = 3600
    #: Which launched instances are replaced when a PR lets them go: "untrusted" (those that
    #: ran a fork's code; the default with a launch template), "always" or "never".
    recycle: Literal["", "untrusted", "always", "never"] = ""
    #: Seconds before a failed launch is tried again (doubled per failure, up to 30 minutes).
    launch_retry_after: Seconds = 60

    @model_validator(mode="after")
    def _launching(self) -> EC2Config:
        if not self.launch_template:
            for key in ("min_size", "max_size", "recycle"):
                if getattr(self, key):
                    raise KeyProblem(
                        f"ec2.{key}", "needs ec2.launch_template (nothing is launched without one)"
                    )
            return self
        if self.max_size < 1:
            raise KeyProblem("ec2.max_size", "must be at least 1 with a launch template")
        if self.min_size > self.max_size:
            raise KeyProblem("ec2.min_size", f"must not exceed ec2.max_size ({self.max_size})")
        return self

    @property
    def fleet(self) -> FleetPolicy:
        """The fleet's decisions' settings (:mod:`pullrekun.core.fleetplan`)."""
        if not self.launch_template:
            return FleetPolicy(pool=self.pool)
        return FleetPolicy(
            launches=True,
            pool=self.pool,
            min_size=self.min_size,
            max_size=self.max_size,
            scale_in_after=dt.timedelta(seconds=self.scale_in_after),
            recycle=Recycle(self.recycle or "untrusted"),
            retry_after=dt.timedelta(seconds=self.launch_retry_after),
        )


@dataclass(frozen=True, config=SECTION)
class StateConfig:
    url: Str = "sqlite:///pullrekun.db"
    url_env: EnvName = "PULLREKUN_STATE_URL"


@dataclass(frozen=True, config=SECTION)
class AnsibleConfig:
    #: Overrides the playbooks and roles shipped with pullrekun (a directory with playbooks/reconcile.yml).
    project_dir: Str = ""
    artifacts_dir: Str = "pullrekun-artifacts"
    connection: Literal["ssh", "local"] = "ssh"
    ssh_user: Str = ""
    ssh_private_key: Str = ""
    ssh_common_args: Str = ""
    forks: Annotated[Int, Field(ge=1)] = 20
    timeout: Seconds = 1800
    #: Seconds a run may go without any task starting or ending before it is stopped and its
    #: hosts fail with a message saying so (a hung SSH connection); 0: never.
    idle_timeout: NotNegative = 900
    boot_timeout: Seconds = 300
    remote_python: Str = "auto_silent"
    keep_artifacts: Annotated[Int, Field(ge=1)] = 50
    #: pullrekun's own known_hosts file: staging hosts' keys, pinned by instance id (empty:
    #: ``<artifacts_dir>/known_hosts``).
    known_hosts: Str = ""
    #: More variables of the controller's environment the playbook run may see (names). It sees
    #: only pullrekun's own settings, the locale, HOME, proxies and the non-secret AWS settings.
    pass_env: EnvNames = ()
    #: More secret variables the playbook run needs (names): handed to it in memory, never
    #: written to its run directory, and redacted wherever pullrekun records or posts text.
    secret_env: EnvNames = ()

    @field_validator("project_dir")
    @classmethod
    def _project_dir(cls, value: str) -> str:
        if value and not (Path(value) / "playbooks" / "reconcile.yml").is_file():
            raise ValueError("has no playbooks/reconcile.yml")
        return value
