"""The whole config: its sections, the rules across them, and the settings derived from them
(the planner's, the tag policy, the state DB's address, an environment's URL)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import model_validator
from pydantic.dataclasses import dataclass

from pullrekun.config.app import AppConfig
from pullrekun.config.optional import BootstrapConfig, DatabaseConfig, ReleaseConfig
from pullrekun.config.sections import (
    SECTION,
    AnsibleConfig,
    EC2Config,
    GitHubConfig,
    ReportConfig,
    ServeConfig,
    StateConfig,
    VerifyConfig,
)
from pullrekun.config.timing import CostConfig, NamedSchedules, ScheduleConfig, SleepConfig
from pullrekun.config.types import KeyProblem, NotNegative, Str
from pullrekun.core.dbsources import SourceRule
from pullrekun.core.planner import PlannerConfig
from pullrekun.core.schedules import Schedule
from pullrekun.core.sleep import SleepPolicy
from pullrekun.core.tagpolicy import TagPolicy
from pullrekun.core.trust import TrustPolicy

field = dataclasses.field


@dataclass(frozen=True, config=SECTION)
class Config:
    github: GitHubConfig
    app: AppConfig
    ec2: EC2Config = field(default_factory=EC2Config)
    state: StateConfig = field(default_factory=StateConfig)
    ansible: AnsibleConfig = field(default_factory=AnsibleConfig)
    #: The ``[trust]`` section: which PRs get an environment (see pullrekun.core.trust).
    trust: TrustPolicy = field(default_factory=TrustPolicy)
    report: ReportConfig = field(default_factory=ReportConfig)
    database: DatabaseConfig | None = None
    release: ReleaseConfig | None = None
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    sleep: SleepConfig = field(default_factory=SleepConfig)
    #: The pool's office hours (none: always open).
    schedule: ScheduleConfig | None = None
    #: Named schedules for developers' own servers (``pullrekun:schedule=<name>``).
    schedules: NamedSchedules = field(default_factory=dict)
    cost: CostConfig = field(default_factory=CostConfig)
    verify: VerifyConfig = field(default_factory=VerifyConfig)
    failed_retry_after: NotNegative = 0
    #: Where the config was read from (not a key of the file).
    source: Str = "<defaults>"
    #: The config file's directory: a relative SQLite path in the state URL is taken from here,
    #: so a pass started from another directory finds the same state (not a key of the file).
    base_dir: Str = ""

    @model_validator(mode="after")
    def _across_sections(self) -> Config:
        quiet_tasks = max(self.ansible.boot_timeout, self.app.health_timeout)
        if self.ansible.idle_timeout and self.ansible.idle_timeout <= quiet_tasks:
            raise KeyProblem(
                "ansible.idle_timeout",
                f"must be longer than the longest wait of a task (boot_timeout, app.health_timeout: "
                f"{quiet_tasks} s), or 0",
            )
        try:
            self.bootstrap.role_vars(self.base_dir)
        except ValueError as exc:
            raise KeyProblem("bootstrap.vars_file", str(exc)) from None
        if self.database is not None:
            # Every source the config names is one a clone may copy (not a system schema, the
            # state DB, an environment's schema).
            rule = self.source_rule
            for key, schema in self.database.named_sources():
                problem = rule.problem(schema)
                if problem is not None:
                    raise KeyProblem(key, f"cannot be a source: {problem}")
        return self

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
            fleet=self.ec2.fleet,
            sleep=self.sleep_policy,
            schedules=self.named_schedules,
            budget=self.cost.budget,
            currency=self.cost.currency,
        )

    @property
    def sleep_policy(self) -> SleepPolicy:
        return SleepPolicy(
            after=self.sleep.after_delta,
            schedule=self.schedule.schedule("office hours") if self.schedule is not None else None,
            keep_label=self.sleep.keep_label,
            hand_over=self.sleep.hand_over,
        )

    @property
    def named_schedules(self) -> dict[str, Schedule]:
        """The developer servers' schedules by name."""
        return {name: s.schedule(name) for name, s in sorted(self.schedules.items())}

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

    def url_for(self, host: str, tag_url: str, pr_number: int | None) -> str:
        """The environment URL: the instance's ``pullrekun:url`` tag, else the template."""
        if tag_url:
            return tag_url
        return self.app.url_template.format(host=host, port=self.app.port, pr=pr_number or "")
