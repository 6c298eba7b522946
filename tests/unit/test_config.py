"""Bad configuration exits 2 and names the key; nothing is touched."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from pullrekun.app.render import check_overrides
from pullrekun.cli import main
from pullrekun.config import ConfigError, load, parse
from pullrekun.config.secrets import github_token, secret_values

APP = {"repo_url": "x", "command": "c"}
GOOD = {
    "github": {"repository": "acme/webapp"},
    "app": {"repo_url": "git@example.invalid:a.git", "command": "bin/server"},
}


def test_minimal_config_gets_documented_defaults() -> None:
    cfg = parse(GOOD)
    assert cfg.github.api_url == "https://api.github.com"
    assert cfg.ec2.pool == "default"
    assert cfg.state.url == "sqlite:///pullrekun.db"
    assert cfg.app.service_manager == "systemd"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"app": GOOD["app"]}, "github.repository"),
        ({"github": GOOD["github"]}, "app.repo_url"),
        ({**GOOD, "github": {"repository": "no-slash"}}, "github.repository"),
        ({**GOOD, "github": {"repository": "a/b", "per_page": 500}}, "github.per_page"),
        ({**GOOD, "github": {"repository": "a/b", "api_url": "ftp://x"}}, "github.api_url"),
        ({**GOOD, "github": {"repository": "a/b", "web_url": "github.example.com"}}, "github.web_url"),
        ({**GOOD, "serve": {"public_url": "dash.example.com"}}, "serve.public_url"),
        ({**GOOD, "serve": {"admin_tokens": {"ci": "prk_the-token-itself"}}}, "serve.admin_tokens.ci"),
        ({**GOOD, "serve": {"oauth_client_secret_env": "lower-case"}}, "serve.oauth_client_secret_env"),
        ({**GOOD, "serve": {"access_cache_seconds": -1}}, "serve.access_cache_seconds"),
        ({**GOOD, "github": {"repository": "a/b", "tokn_env": "X"}}, "github.tokn_env"),
        ({**GOOD, "ec2": {"pool": "bad pool!"}}, "ec2.pool"),
        ({**GOOD, "ec2": {"endpoint_url": "localhost:5000"}}, "ec2.endpoint_url"),
        ({**GOOD, "ansible": {"forks": "ten"}}, "ansible.forks"),
        ({**GOOD, "ansible": {"connection": "winrm"}}, "ansible.connection"),
        ({**GOOD, "ansible": {"project_dir": "/nonexistent"}}, "ansible.project_dir"),
        (
            {**GOOD, "app": {**APP, "service_manager": "upstart"}},
            "app.service_manager",
        ),
        ({**GOOD, "app": {"repo_url": "x"}}, "app.command"),
        (
            {**GOOD, "app": {**APP, "revision_check": "header"}},
            "app.revision_check",
        ),
        (
            {**GOOD, "app": {**APP, "revision_check": "body:x"}},
            "app.revision_check",
        ),
        ({**GOOD, "app": {**APP, "port": 70000}}, "app.port"),
        ({**GOOD, "app": {**APP, "port": True}}, "app.port"),
        (
            {**GOOD, "app": {**APP, "url_template": "http://{nope}/"}},
            "app.url_template",
        ),
        ({**GOOD, "app": {**APP, "deploy_root": "relative"}}, "app.deploy_root"),
        ({**GOOD, "extra": {}}, "extra"),
        ({**GOOD, "failed_retry_after": -1}, "failed_retry_after"),
        ({**GOOD, "github": {"repository": "a/b", "app_id": 7}}, "github.app_private_key_file"),
        (
            {
                **GOOD,
                "github": {
                    "repository": "a/b",
                    "app_id": 7,
                    "installation_id": 9,
                    "app_private_key_file": "/nonexistent.pem",
                },
            },
            "github.app_private_key_file",
        ),
        ({**GOOD, "github": {"repository": "a/b", "rate_reserve": -1}}, "github.rate_reserve"),
        ({**GOOD, "trust": {"drafts": "yes"}}, "trust.drafts"),
        ({**GOOD, "trust": {"base_branches": "main"}}, "trust.base_branches"),
        (
            {**GOOD, "report": {"slack_webhook_env": "https://hooks.example.invalid/x"}},
            "report.slack_webhook_env",
        ),
        ({**GOOD, "report": {"environment": "preview"}}, "report.environment"),
        ({**GOOD, "report": {"environment": "preview/{nope}"}}, "report.environment"),
        ({**GOOD, "report": {"templates_dir": "/nonexistent"}}, "report.templates_dir"),
        ({**GOOD, "report": {"queue_positions": 0}}, "report.queue_positions"),
        ({**GOOD, "report": {"notify_timeout": 0}}, "report.notify_timeout"),
        ({**GOOD, "github": {"repository": "a/b", "timeout": 0}}, "github.timeout"),
        ({**GOOD, "github": {"repository": "a/b", "retries": -1}}, "github.retries"),
        ({**GOOD, "ansible": {"timeout": 0}}, "ansible.timeout"),
        ({**GOOD, "ansible": {"boot_timeout": -5}}, "ansible.boot_timeout"),
        ({**GOOD, "ansible": {"idle_timeout": -1}}, "ansible.idle_timeout"),
        ({**GOOD, "ansible": {"idle_timeout": 200}}, "ansible.idle_timeout"),  # boot_timeout waits 300 s
        ({**GOOD, "ansible": {"keep_artifacts": 0}}, "ansible.keep_artifacts"),
        ({**GOOD, "ansible": {"pass_env": ["lower-case"]}}, "ansible.pass_env"),
        ({**GOOD, "ansible": {"secret_env": ["A B"]}}, "ansible.secret_env"),
        ({**GOOD, "app": {**APP, "keep_releases": 0}}, "app.keep_releases"),
        ({**GOOD, "app": {**APP, "health_timeout": 0}}, "app.health_timeout"),
        ({**GOOD, "app": {**APP, "service_name": "app ALL=(ALL) NOPASSWD: ALL"}}, "app.service_name"),
        ({**GOOD, "app": {**APP, "service_name": "../etc/x"}}, "app.service_name"),
        ({**GOOD, "ec2": {"ansible_host_networks": ["not-a-network"]}}, "ec2.ansible_host_networks"),
        ({**GOOD, "report": {"show_output": "no"}}, "report.show_output"),
        ({**GOOD, "sleep": {"after": "8 hours"}}, "sleep.after"),
        ({**GOOD, "schedule": {"time_zone": "Mars/Olympus"}}, "schedule.time_zone"),
        ({**GOOD, "schedule": {"days": ["Mon-Fry"]}}, "schedule.days"),
        ({**GOOD, "schedule": {"days": ["Fri-Mon"]}}, "schedule.days"),
        ({**GOOD, "schedule": {"start": "9:00"}}, "schedule.start"),
        ({**GOOD, "schedule": {"holidays": ["25/12/2026"]}}, "schedule.holidays"),
        ({**GOOD, "schedules": {"Bad Name": {}}}, "schedules"),
        ({**GOOD, "cost": {"budget": -1.0}}, "cost.budget"),
        ({**GOOD, "cost": {"prices": {"t3.small": "cheap"}}}, "cost.prices.t3.small"),
    ],
)
def test_bad_config_names_the_key(raw: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(raw)
    assert info.value.key == key
    assert str(info.value).startswith(key)


def test_unreadable_or_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[github\nrepository = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(bad)


def test_cli_exits_2_and_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "pullrekun.toml"
    cfg.write_text(
        '[github]\nrepository = "acme/webapp"\n[app]\nrepo_url = "x"\ncommand = "c"\nport = "eighty"\n'
    )
    for command in (["reconcile"], ["plan", "--json"], ["status"]):
        assert main(["--config", str(cfg), *command]) == 2
        assert "app.port" in capsys.readouterr().err
    assert not (tmp_path / "pullrekun.db").exists(), "nothing was created"


def test_config_path_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PULLREKUN_CONFIG", str(tmp_path / "from-env.toml"))
    assert main(["status"]) == 2
    assert "from-env.toml" in capsys.readouterr().err


def test_state_url_and_token_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULLREKUN_STATE_URL", "mysql+pymysql://u:p@127.0.0.1/db")
    monkeypatch.setenv("PULLREKUN_GITHUB_TOKEN", "ghp_x")
    cfg = parse(GOOD)
    assert cfg.state_url == "mysql+pymysql://u:p@127.0.0.1/db"
    assert github_token(cfg) == "ghp_x"


def test_the_commented_sample_documents_every_key_with_its_default() -> None:
    import dataclasses
    import tomllib

    from pullrekun.config import Config
    from tests.paths import REPO

    text = (REPO / "pullrekun.sample.toml").read_text()
    assert "database" not in tomllib.loads(text), "the optional [database] table ships commented out"
    assert "release" not in tomllib.loads(text), "the optional [release] table ships commented out"
    # Uncommented as the sample says: the leading "# " goes from each line of the tables.
    head, _, table = text.partition("# [database]\n")
    uncommented = "".join(ln.removeprefix("# ") + "\n" for ln in table.splitlines())
    raw = tomllib.loads(head + "[database]\n" + uncommented)
    cfg = parse(raw)
    sections = (
        "github", "ec2", "state", "ansible", "app", "trust", "report", "serve", "database", "release",
        "bootstrap", "sleep", "cost", "verify",
    )  # fmt: skip
    for section in sections:
        documented = raw[section]
        for f in dataclasses.fields(getattr(cfg, section)):
            if f.name == "project_dir":
                continue  # depends on the checkout; documented as a comment
            assert f.name in documented, f"{section}.{f.name} is not in the sample"
            if f.name in {"default_source", "authors", "url", "vars"}:
                continue  # examples, not defaults
            if f.default is not dataclasses.MISSING:
                value = tuple(documented[f.name]) if isinstance(f.default, tuple) else documented[f.name]
                assert value == f.default, f"{section}.{f.name}: sample differs from default"
    assert raw["failed_retry_after"] == Config.__dataclass_fields__["failed_retry_after"].default


def test_a_broken_template_override_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "comment.md.j2").write_text("{% if %}")
    with pytest.raises(ConfigError, match=r"report.templates_dir: template .*comment.md.j2"):
        check_overrides(parse({**GOOD, "report": {"templates_dir": str(tmp_path)}}).report.templates_dir)


def test_the_examples_parse_as_configs() -> None:
    """examples/pullrekun.toml and the controller_config of examples/controller-vars.yml."""
    import tomllib

    import yaml

    from tests.paths import REPO

    cfg = parse(tomllib.loads((REPO / "examples" / "pullrekun.toml").read_text()))
    assert cfg.github.repository == "acme/webapp"
    assert cfg.failed_retry_after == 600
    variables = yaml.safe_load((REPO / "examples" / "controller-vars.yml").read_text())
    controller = parse(variables["controller_config"])
    assert controller.app.command == cfg.app.command


def test_githubs_web_address_is_derived_from_the_api_unless_the_config_names_it() -> None:
    from pullrekun.config import GitHubConfig

    assert GitHubConfig("a/b").pr_url(3) == "https://github.com/a/b/pull/3"
    enterprise = GitHubConfig("a/b", api_url="https://ghe.example.com/api/v3")
    assert enterprise.site == "https://ghe.example.com"
    named = GitHubConfig("a/b", api_url="http://127.0.0.1:9000", web_url="http://127.0.0.1:9001/")
    assert named.pr_url(3) == "http://127.0.0.1:9001/a/b/pull/3"


@pytest.mark.parametrize(
    ("release", "key"),
    [
        ({"source": "ftp"}, "release.source"),
        ({"source": "url"}, "release.url"),
        ({"source": "url", "url": "file:///etc/passwd"}, "release.url"),
        ({"source": "branch", "url_json_field": "a..b"}, "release.url_json_field"),
        ({"source": "branch", "branch": "main; rm -rf /"}, "release.branch"),
        ({"source": "branch", "base_branch": "../main"}, "release.base_branch"),
        ({"source": "tag", "tag_pattern": "v* ~1"}, "release.tag_pattern"),
        ({"source": "branch", "risk_heading": " "}, "release.risk_heading"),
        ({"source": "branch", "slack_webhook_env": "https://hooks"}, "release.slack_webhook_env"),
        ({"source": "branch", "pending_schedule": ["25:00"]}, "release.pending_schedule"),
        ({"source": "branch", "url_timeout": 0}, "release.url_timeout"),
        ({"source": "branch", "draft_name": "two\nlines"}, "release.draft_name"),
        ({"source": "branch", "draft_tag": "next release"}, "release.draft_tag"),
    ],
)
def test_a_bad_release_section_names_its_key(release: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{re.escape(key)}:"):
        parse({**GOOD, "release": release})


def test_release_webhook_variables_are_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REL_HOOK", "https://hooks.example/T0/B0/secret-part")
    cfg = parse({**GOOD, "release": {"source": "branch", "slack_webhook_env": "REL_HOOK"}})
    assert "https://hooks.example/T0/B0/secret-part" in secret_values(cfg)


def test_the_bootstrap_vars_file_is_read_and_checked_and_its_problem_named(tmp_path: Path) -> None:
    base = {"github": {"repository": "a/b"}, "app": {"repo_url": "x", "command": "y"}}
    (tmp_path / "boot.yml").write_text("staging_deploy_user: admin\nstaging_packages: [git]\n")
    cfg = parse({**base, "bootstrap": {"vars_file": "boot.yml"}}, base_dir=str(tmp_path))
    assert cfg.bootstrap.role_vars(cfg.base_dir) == {
        "staging_deploy_user": "admin",
        "staging_packages": ("git",),
    }
    (tmp_path / "bad.yml").write_text("ansible_user: root\n")
    with pytest.raises(ConfigError) as bad:
        parse({**base, "bootstrap": {"vars_file": "bad.yml"}}, base_dir=str(tmp_path))
    assert bad.value.key == "bootstrap.vars_file"
    assert "'ansible_user' is not a variable of the staging role" in str(bad.value)
    with pytest.raises(ConfigError) as missing:
        parse({**base, "bootstrap": {"vars_file": "nope.yml"}}, base_dir=str(tmp_path))
    assert missing.value.key == "bootstrap.vars_file"
    assert "cannot read" in str(missing.value)


def test_sleep_office_hours_and_cost_reach_the_planner() -> None:
    import datetime as dt

    raw = {
        **GOOD,
        "sleep": {"after": "8h", "keep_label": "keep"},
        "schedule": {"days": ["Mon-Fri"], "start": "09:00", "end": "19:00", "time_zone": "Asia/Tokyo"},
        "schedules": {"alice": {"days": ["Sat", "Sun"], "holidays": ["2026-12-31"]}},
        "cost": {"prices": {"t3.small": 0.03}, "budget": 100.0},
    }
    cfg = parse(raw)
    policy = cfg.planner.sleep
    assert policy.after == dt.timedelta(hours=8)
    assert policy.keep_label == "keep"
    assert policy.schedule is not None
    assert policy.schedule.describe() == "Mon-Fri 09:00-19:00 Asia/Tokyo"
    assert cfg.named_schedules["alice"].describe() == "Sat,Sun 09:00-19:00 UTC (1 holiday)"
    assert (cfg.planner.budget, cfg.cost.table.per_hour("t3.small"), cfg.cost.table.per_hour("t3.micro")) == (
        100.0,
        0.03,
        0.0104,
    )


def test_verifiers_on_github_are_logins_or_teams_and_anything_else_is_named() -> None:
    cfg = parse({**GOOD, "serve": {"verifiers_github": ["gina", "acme/qa-team"]}})
    assert cfg.serve.verifiers_github == ("gina", "acme/qa-team")
    for bad in ("acme/qa/x", "acme/QA", "-gina", "acme/../x"):
        with pytest.raises(ConfigError, match=r"^serve.verifiers_github:.*neither a GitHub login nor a team"):
            parse({**GOOD, "serve": {"verifiers_github": [bad]}})


@pytest.mark.parametrize("section", ["serve", "schedule"])
def test_a_time_zone_that_is_not_iana_is_named(section: str) -> None:
    assert parse({**GOOD, section: {"time_zone": "Asia/Tokyo"}})
    with pytest.raises(ConfigError, match=rf"^{section}.time_zone:.*'Mars/Olympus' is not an IANA time zone"):
        parse({**GOOD, section: {"time_zone": "Mars/Olympus"}})


def test_main_inside_another_program_leaves_its_log_handlers_as_they_were(tmp_path: Path) -> None:
    """Each command redacts every root handler while it runs; an embedding program (a test
    runner, `serve`'s host) keeps its handlers without a filter more per command."""
    cfg = tmp_path / "pullrekun.toml"
    cfg.write_text(
        '[github]\nrepository = "acme/webapp"\n[app]\nrepo_url = "x"\ncommand = "c"\n'
        f'[state]\nurl = "sqlite:///{tmp_path}/state.db"\n'
    )
    handler = logging.Handler()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        for _ in range(2):
            assert main(["--config", str(cfg), "status"]) == 0
        assert handler.filters == []
    finally:
        root.removeHandler(handler)
