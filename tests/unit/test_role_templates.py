"""Role templates rendered with Ansible's own templar, undefined variables as errors."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.plugins.loader import add_all_plugin_dirs
from ansible.template import Templar, trust_as_template

from pullrekun.config import parse
from pullrekun.core import tags
from pullrekun.core.steps import Step
from tests.conftest import need
from tests.paths import REPO

ROLES = REPO / "roles"


def render(role: str, name: str, variables: dict[str, Any]) -> str:
    text = (ROLES / role / "templates" / name).read_text()
    add_all_plugin_dirs(str(ROLES / role))  # the role's own filters (to_toml), as a play would
    templar = Templar(loader=None, variables={"ansible_managed": "Ansible managed", **variables})
    out = templar.template(trust_as_template(text))
    assert isinstance(out, str)
    return out


def test_controller_config_template_renders_a_config_pullrekun_accepts() -> None:
    config = {
        "github": {"repository": "acme/webapp", "api_url": "https://ghe.example.com/api/v3"},
        "ec2": {"pool": "default", "region": "eu-west-1"},
        "app": {
            "repo_url": "git@example.invalid:acme/webapp.git",
            "command": "bin/server",
            "port": 8080,
            "url_template": 'https://pr-{pr}.preview.example.com/ "quoted" \\ backslash',
        },
        "failed_retry_after": 30,
    }
    text = render("controller", "pullrekun.toml.j2", {"controller_config": config})
    cfg = parse(tomllib.loads(text))
    assert cfg.failed_retry_after == 30  # a top-level key, written before the tables
    assert cfg.github.api_url == "https://ghe.example.com/api/v3"
    assert cfg.app.port == 8080
    assert cfg.app.url_template.endswith('"quoted" \\ backslash')


def test_controller_units_run_reconcile_with_the_config_and_secrets() -> None:
    variables = {
        "controller_user": "pullrekun",
        "controller_home": "/opt/pullrekun",
        "controller_interval": "1min",
    }
    service = render("controller", "pullrekun.service.j2", variables)
    assert "ExecStart=/opt/pullrekun/venv/bin/pullrekun reconcile" in service
    assert "Environment=PULLREKUN_CONFIG=/opt/pullrekun/etc/pullrekun.toml" in service
    assert "SuccessExitStatus=1 3" in service
    assert "OnUnitInactiveSec=1min" in render("controller", "pullrekun.timer.j2", variables)


def test_controller_serve_unit_runs_serve_and_systemd_accepts_it(tmp_path: Path) -> None:
    home = tmp_path / "opt"
    (home / "state").mkdir(parents=True)
    (home / "venv" / "bin").mkdir(parents=True)
    (home / "venv" / "bin" / "pullrekun").write_text("#!/bin/sh\n")
    (home / "venv" / "bin" / "pullrekun").chmod(0o755)
    variables = {"controller_user": "daemon", "controller_home": str(home)}
    unit = render("controller", "pullrekun-serve.service.j2", variables)
    assert f"ExecStart={home}/venv/bin/pullrekun serve" in unit
    assert "KillSignal=SIGTERM" in unit
    need(None if shutil.which("systemd-analyze") else "systemd-analyze is missing (apt-get install systemd)")
    path = tmp_path / "pullrekun-serve.service"
    path.write_text(unit)
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(path)], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert verify.returncode == 0, verify.stderr
    assert not verify.stdout + verify.stderr, verify.stdout + verify.stderr


def test_controller_secrets_are_shell_quoted() -> None:
    out = render(
        "controller", "environment.j2", {"controller_environment": {"PULLREKUN_GITHUB_TOKEN": "a b'$x"}}
    )
    assert "PULLREKUN_GITHUB_TOKEN='a b'\"'\"'$x'" in out


def role_vars(role: str, **overrides: Any) -> dict[str, Any]:
    """The role's defaults and vars, then ``overrides``: templated lazily, as in a play."""
    merged: dict[str, Any] = {}
    for part in ("defaults", "vars"):
        merged.update(yaml.safe_load((ROLES / role / part / "main.yml").read_text()) or {})
    merged.update(overrides)
    return {k: trust_as_template(v) if isinstance(v, str) else v for k, v in merged.items()}


VERBS = ("start", "stop", "restart")


def rules_of(sudoers: str) -> list[str]:
    return [ln for ln in sudoers.splitlines() if ln and not ln.startswith("#")]


def test_staging_sudoers_allows_the_deploy_user_the_units_verbs_and_the_apps_user_only() -> None:
    systemd = role_vars(
        "staging", staging_app_user="app", staging_deploy_user="deploy", staging_service_name="web"
    )
    assert rules_of(render("staging", "sudoers.j2", systemd)) == [
        *(
            f"deploy ALL=(root) NOPASSWD: /usr/bin/systemctl {v} web.service"
            for v in ("start", "stop", "restart")
        ),
        "deploy ALL=(app) NOPASSWD:SETENV: ALL",
    ]
    ssd = {**systemd, "staging_service_manager": "start-stop-daemon"}
    assert rules_of(render("staging", "sudoers.j2", ssd)) == ["deploy ALL=(app) NOPASSWD:SETENV: ALL"]
    one_user = {**ssd, "staging_app_user": "deploy"}
    assert rules_of(render("staging", "sudoers.j2", one_user)) == []
    no_app_user = {**systemd, "staging_app_user": ""}
    assert all("(root)" in rule for rule in rules_of(render("staging", "sudoers.j2", no_app_user)))


def test_as_app_runs_the_command_as_the_apps_user_who_cannot_write_the_deploy_users_files(
    tmp_path: Path,
) -> None:
    """The PR's code goes through shared/as-app: from root it becomes the app's user, keeps the
    environment (app.env's DB_* variables), and no setuid program can raise it again."""
    need(None if os.getuid() == 0 else "switching users needs root (CI runs as root)")
    script = tmp_path / "as-app"
    script.write_text(render("staging", "as-app.sh.j2", {"staging_app_user": "nobody"}))
    owned = tmp_path / "owned"
    owned.mkdir(mode=0o755)
    tmp_path.chmod(0o755)
    probe = (
        'id -un; echo "db=$DB_NAME"; grep NoNewPrivs /proc/self/status;'
        f" if touch {owned}/planted 2>/dev/null; then echo written; else echo denied; fi"
    )
    out = subprocess.run(
        ["/bin/sh", str(script), "/bin/sh", "-c", probe],
        capture_output=True,
        text=True,
        env={**os.environ, "DB_NAME": "stage_1"},
        check=True,
    ).stdout.split("\n")
    assert out[:4] == ["nobody", "db=stage_1", "NoNewPrivs:\t1", "denied"], out
    assert not (owned / "planted").exists()
    same = render("staging", "as-app.sh.j2", {"staging_app_user": ""})
    script.write_text(same)
    assert (
        subprocess.run(["/bin/sh", str(script), "id", "-u"], capture_output=True, text=True).stdout == "0\n"
    )


def test_an_undefined_variable_is_an_error() -> None:
    from ansible.errors import AnsibleUndefinedVariable

    with pytest.raises(AnsibleUndefinedVariable):
        render("controller", "pullrekun.service.j2", {})


def test_the_built_in_report_templates_are_in_the_templates_folder() -> None:
    from pullrekun.app.render import Renderer

    names = {p.name for p in (REPO / "templates").glob("*.j2")}
    assert {"comment.md.j2", "check.md.j2", "notify.txt.j2"} <= names
    Renderer("").check()  # every built-in template parses, or this raises


def test_the_staging_unit_runs_the_control_script_and_is_not_started_at_boot() -> None:
    out = render(
        "staging",
        "app.service.j2",
        {"staging_deploy_root": "/srv/app", "staging_app_user": "app"},
    )
    assert "ExecStart=/bin/sh /srv/app/shared/appctl run" in out
    assert "[Install]" not in out, "no WantedBy: pullrekun starts the app after checking its claim"


def test_the_staging_unit_is_hardened_and_systemd_accepts_it(tmp_path: Path) -> None:
    """The app runs as the app's user, may write shared/data/ only, cannot gain privileges; the
    record of the running process is written with systemd's rights (ExecStartPost=+)."""
    root = tmp_path / "srv"
    (root / "shared" / "data").mkdir(parents=True)
    out = render(
        "staging",
        "app.service.j2",
        role_vars(
            "staging", staging_deploy_root=str(root), staging_app_user="daemon", staging_service_name="web"
        ),
    )
    settings = dict(
        line.split("=", 1) for line in out.splitlines() if "=" in line and not line.startswith("#")
    )
    assert settings["User"] == "daemon"
    assert settings["NoNewPrivileges"] == "yes"
    assert settings["ProtectSystem"] == "strict"
    assert settings["ReadWritePaths"] == f"{root}/shared/data"
    assert settings["ExecStartPost"] == f"+/bin/sh {root}/shared/appctl record $MAINPID"
    assert settings["EnvironmentFile"] == f"-{root}/shared/app.env"
    need(None if shutil.which("systemd-analyze") else "systemd-analyze is missing (apt-get install systemd)")
    unit = tmp_path / "web.service"
    unit.write_text(out)
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    # verify exits 0 even for unknown keys; what it says is the verdict.
    assert verify.returncode == 0
    assert not verify.stdout + verify.stderr, verify.stdout + verify.stderr


def test_the_dynamic_inventory_names_only_tag_keys_pullrekun_defines() -> None:
    text = (REPO / "inventory" / "aws_ec2.yml").read_text()
    named = set(re.findall(r"pullrekun:[a-z_]+", text))
    assert named, "the inventory names pullrekun's tags"
    assert named <= set(tags.ALL), named - set(tags.ALL)


def test_no_playbook_or_role_writes_a_tag_key_or_matches_a_task_by_name() -> None:
    """Tag keys reach the playbooks as pullrekun_tags; steps are task tags, not task names."""
    for path in [*(REPO / "playbooks").rglob("*.yml"), *(REPO / "roles").rglob("*.yml")]:
        code = "\n".join(line for line in path.read_text().splitlines() if not line.lstrip().startswith("#"))
        assert not [k for k in tags.ALL if k in code], path
    steps_tagged = set()
    for path in [*(REPO / "playbooks").rglob("*.yml"), *(REPO / "roles" / "staging").rglob("*.yml")]:
        steps_tagged |= set(re.findall(r"\bstep_[a-z_]+", path.read_text()))
    assert steps_tagged == {s.tag for s in Step if s is not Step.DEPLOY}


def test_the_staging_hosts_redact_script_hides_the_apps_password_in_what_a_command_prints(
    tmp_path: Path,
) -> None:
    """What the PR's code prints leaves the host with the password taken out, before the controller
    (which redacts again) sees it; the command's exit code and both streams are kept."""
    script = tmp_path / "redact"
    script.write_text(render("staging", "redact.py.j2", {}))
    script.chmod(0o755)
    password = "it's a s3cret pw"
    (tmp_path / "app.env").write_text(f"DB_USER=app\nDB_PASSWORD={shlex.quote(password)}\n")
    leak = f"import sys; print('pw=' + {password!r}); print({password!r} * 2, file=sys.stderr); sys.exit(3)"
    out = subprocess.run(
        [sys.executable, str(script), sys.executable, "-c", leak], capture_output=True, text=True, check=False
    )
    assert out.returncode == 3
    assert out.stdout == "pw=[redacted]\n"
    assert out.stderr == "[redacted][redacted]\n"
