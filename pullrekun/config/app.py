"""The ``[app]`` section: the app pullrekun deploys, and how it is run and proven ready."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StrictStr, field_validator
from pydantic.dataclasses import dataclass

from pullrekun.config.sections import SECTION
from pullrekun.config.types import (
    Bool,
    Int,
    Port,
    RevisionCheck,
    RunUser,
    Seconds,
    ServiceName,
    Str,
    placeholders,
)
from pullrekun.core.settings import SETTING_NAME_RE


def _setting_names(value: tuple[str, ...]) -> tuple[str, ...]:
    for name in value:
        if not SETTING_NAME_RE.match(name):
            raise ValueError(
                f"{name!r} is not a setting's name: capital letters, digits and _, not DB_* or PULLREKUN_*"
            )
    return value


SettingNames = Annotated[tuple[StrictStr, ...], AfterValidator(_setting_names)]


@dataclass(frozen=True, config=SECTION)
class AppConfig:
    repo_url: Str
    #: The app's foreground command, run from the release by the host's control script.
    command: Annotated[Str, Field(min_length=1)]
    deploy_root: Str = "/srv/app"
    service_manager: Literal["systemd", "start-stop-daemon"] = "systemd"
    #: Written into the staging hosts' sudoers rule and the unit's file name.
    service_name: ServiceName = "app"
    port: Port = 8000
    health_path: Str = "/health"
    health_timeout: Seconds = 120
    #: How "ready" is proven: "process" (the app process was started from the release), or also
    #: the answer names the commit: "header:<Name>" or "json:<field>".
    revision_check: RevisionCheck = "process"
    url_template: Str = "http://{host}:{port}/"
    before_switch_hook: Str = ""
    keep_releases: Annotated[Int, Field(ge=1)] = 3
    #: The user the PR's code (the app, its migrate command) runs as on the staging hosts; it
    #: may write shared/data/ only. Empty, or the user pullrekun logs in as: no separation.
    run_user: RunUser = "app"
    #: The variables a PR's environment may set (written to its app.env; a change restarts the
    #: app): set by those who may act on the dashboard, or with ``env:NAME=value`` labels when
    #: ``pr_setting_labels`` is on. Values: ``[A-Za-z0-9._:-]{0,64}``.
    pr_settings: SettingNames = ()
    pr_setting_labels: Bool = False

    @field_validator("health_path")
    @classmethod
    def _health_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    @field_validator("deploy_root")
    @classmethod
    def _deploy_root(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must be an absolute path")
        placeholders(value, "{host}", host="h", port=1, pr=1)
        return value

    @field_validator("url_template")
    @classmethod
    def _url_template(cls, value: str) -> str:
        placeholders(value, "{host}, {port}, {pr}", host="h", port=1, pr=1)
        return value
