"""What crosses into Ansible: validated, typed values only; operator text as !unsafe."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from pullrekun.adapters.playbook.apply import prune_artifacts
from pullrekun.adapters.playbook.inventory import build_inventory
from pullrekun.adapters.playbook.runner import Unsafe, dump_inventory
from pullrekun.config import parse
from pullrekun.core.model import (
    CloneSchema,
    Deploy,
    Instance,
    InstanceState,
    Observed,
    Plan,
    PullRequest,
    StopInstance,
)
from pullrekun.core.planjson import plan_json
from pullrekun.core.planner import PlannerConfig, plan

NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
HOSTILE = "{{ lookup('pipe', 'id') }}; $(reboot) `id` '\"; DROP TABLE x; --"
CFG = parse(
    {
        "github": {"repository": "acme/webapp"},
        "app": {
            "repo_url": "git@example.invalid:acme/webapp.git",
            "command": "run {{ x }}",
            "service_manager": "start-stop-daemon",
            "deploy_root": "/srv/{host}/app",
        },
    }
)


def test_hostile_pr_text_never_reaches_the_inventory() -> None:
    pr = PullRequest(
        number=12,
        head_sha="a" * 40,
        created_at=NOW,
        title=HOSTILE,
        head_ref=HOSTILE,
        author=HOSTILE,
        labels=(HOSTILE,),
    )
    inst = Instance("i-0000000a", InstanceState.STOPPED, "127.0.0.2")
    p = plan(Observed((pr,), (inst,), ()), PlannerConfig(), NOW)
    text = dump_inventory(build_inventory(p, {inst.instance_id: inst}, CFG))
    assert "DROP TABLE" not in text
    assert "lookup" not in text
    assert "reboot" not in text
    deploy = yaml.safe_load(text.replace("!unsafe", ""))["all"]["children"]["pullrekun_deploy"]
    host = deploy["hosts"]["i-0000000a"]
    assert host["pullrekun_pr"] == 12
    assert isinstance(host["pullrekun_pr"], int)
    assert host["staging_sha"] == "a" * 40
    assert list(deploy["children"]["pullrekun_deploy_start"]["hosts"]) == ["i-0000000a"], "started first"
    assert list(deploy["children"]["pullrekun_deploy_wait"]["hosts"]) == ["i-0000000a"], "then waited for"
    assert deploy["children"]["pullrekun_deploy_bootstrap"]["hosts"] == {}
    assert host["staging_deploy_root"] == "/srv/127.0.0.2/app"
    # The pinned host key and the kept SSH master are the instance's, whatever its address.
    assert host["ansible_ssh_extra_args"] == "-o HostKeyAlias=i-0000000a"
    assert host["ansible_control_path"] == "%(directory)s/i-0000000a"


def test_operator_strings_are_written_unsafe_so_jinja_never_runs_them() -> None:
    inv = build_inventory(Plan(), {}, CFG)
    assert isinstance(inv["all"]["vars"]["staging_app_command"], Unsafe)
    text = dump_inventory(inv)
    assert "staging_app_command: !unsafe 'run {{ x }}'" in text


def test_stop_of_a_stopped_instance_does_not_try_to_reach_its_app() -> None:
    stopped = Instance("i-0000000b", InstanceState.STOPPED, "127.0.0.3", tag_pr=4, tag_sha="b" * 40)
    running = Instance("i-0000000c", InstanceState.RUNNING, "127.0.0.4")
    p = Plan(actions=(StopInstance(stopped.instance_id, "stale"), StopInstance(running.instance_id, "x")))
    hosts = build_inventory(p, {i.instance_id: i for i in (stopped, running)}, CFG)["all"]["children"][
        "pullrekun_stop"
    ]["hosts"]
    assert hosts["i-0000000b"]["pullrekun_stop_app"] is False
    assert hosts["i-0000000c"]["pullrekun_stop_app"] is True


def test_the_plan_is_serialised_for_the_artifacts() -> None:
    p = Plan(actions=(Deploy(1, "i-0000000a", "a" * 40, "new assignment"),))
    assert plan_json(p)["actions"] == [
        {
            "type": "Deploy",
            "pr_number": 1,
            "instance_id": "i-0000000a",
            "sha": "a" * 40,
            "reason": "new assignment",
            "db_nonce": "",
            "untrusted": False,
            "bootstrap": False,
            "settings": [],
            "db_source": "",
        }
    ]


def test_old_run_artifacts_are_pruned(tmp_path: Path) -> None:
    for i in range(5):
        run = tmp_path / f"2026112{i}T000000.000000-aaaaaaaa"
        run.mkdir()
        (run / "plan.json").write_text("{}")
    (tmp_path / "ansible-home").mkdir()
    for i in (1, 4):  # the launch runs of two passes
        launch = tmp_path / f"2026112{i}T000000.000000-aaaaaaaa-launch"
        launch.mkdir()
        (launch / "launches.json").write_text("{}")
    removed = prune_artifacts(tmp_path, keep=2)
    assert [p.name[:9] for p in removed] == ["20261120T", "20261121T", "20261122T", "20261121T"]
    assert removed[-1].name.endswith("-launch")
    assert sorted(p.name[:9] for p in tmp_path.iterdir()) == [
        "20261123T",
        "20261124T",
        "20261124T",
        "ansible-h",
    ]


def test_database_settings_cross_as_names_and_validated_schemas_never_as_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PULLREKUN_DB_ADMIN_PASSWORD", "admin-secret")
    cfg = parse(
        {
            "github": {"repository": "acme/webapp"},
            "app": {"repo_url": "x", "command": "c"},
            "database": {
                "default_source": "dev_shared",
                "source_host": "devdb.internal",
                "schema_template": "stage_{instance}",
            },
        }
    )
    pr = PullRequest(number=5, head_sha="a" * 40, created_at=NOW, author="alice")
    inst = Instance("i-0000000a", InstanceState.RUNNING, "127.0.0.2")
    p = plan(Observed((pr,), (inst,), ()), cfg.planner, NOW)
    inv = build_inventory(p, {inst.instance_id: inst}, cfg)
    text = dump_inventory(inv)
    assert "admin-secret" not in text
    assert inv["all"]["vars"]["pullrekun_db_admin_password"] == (
        "{{ lookup('ansible.builtin.env', 'PULLREKUN_DB_ADMIN_PASSWORD') }}"
    )
    host = inv["all"]["children"]["pullrekun_deploy"]["hosts"]["i-0000000a"]
    assert host["pullrekun_clone"] == {"source": "dev_shared", "target": "stage_i_0000000a"}
    assert host["staging_db_name"] == "stage_i_0000000a"
    assert inv["all"]["vars"]["pullrekun_db"]["source_host"] == "devdb.internal"


@pytest.mark.parametrize("env_users", [True, False])
def test_database_steps_go_only_to_the_hosts_that_need_them(env_users: bool) -> None:
    """A clone makes the environment's user; one that keeps its schema has it ensured first. A
    schema is compared with its source after the deploy only where a source is known."""
    cfg = parse(
        {
            "github": {"repository": "acme/webapp"},
            "app": {"repo_url": "x", "command": "c"},
            "database": {"default_source": "dev_shared", "env_users": env_users},
        }
    )
    insts = {
        i: Instance(i, InstanceState.RUNNING, "127.0.0.2") for i in ("i-0000000a", "i-0000000b", "i-0000000c")
    }
    p = Plan(
        actions=(
            CloneSchema(1, "i-0000000a", "dev_shared", "stage_i_0000000a", "new assignment"),
            Deploy(1, "i-0000000a", "a" * 40, "new assignment", db_source="dev_shared"),
            Deploy(2, "i-0000000b", "b" * 40, "pushed", db_source="dev_shared"),
            Deploy(3, "i-0000000c", "c" * 40, "pushed"),
        )
    )
    groups = build_inventory(p, insts, cfg)["all"]["children"]["pullrekun_deploy"]["children"]
    kept = ["i-0000000b", "i-0000000c"] if env_users else []
    assert list(groups["pullrekun_deploy_db_user"]["hosts"]) == kept
    assert list(groups["pullrekun_deploy_db_diff"]["hosts"]) == ["i-0000000a", "i-0000000b"]
    assert groups["pullrekun_deploy_start"]["hosts"] == groups["pullrekun_deploy_bootstrap"]["hosts"] == {}


def test_an_environment_variable_name_that_is_not_one_is_refused_at_config_load() -> None:
    from pullrekun.config import ConfigError

    hostile = "X') }}{{ lookup('pipe','id"
    with pytest.raises(ConfigError, match=r"database\.app_password_env"):
        parse(
            {
                "github": {"repository": "acme/webapp"},
                "app": {"repo_url": "x", "command": "c"},
                "database": {"default_source": "dev_shared", "app_password_env": hostile},
            }
        )


def test_a_launched_instance_gets_the_bootstrap_variables_the_runs_own_win(tmp_path: Path) -> None:
    (tmp_path / "bootstrap.yml").write_text(
        "staging_deploy_user: admin\nstaging_packages: [git, curl]\nstaging_app_command: from the file\n"
    )
    cfg = parse(
        {
            "github": {"repository": "acme/webapp"},
            "app": {"repo_url": "x", "command": "run", "deploy_root": "/srv/{host}/app"},
            "ec2": {"launch_template": "staging", "max_size": 2},
            "bootstrap": {
                "vars_file": "bootstrap.yml",
                "vars": {"staging_deploy_user": "deploy"},
                "become": False,
            },
        },
        base_dir=str(tmp_path),
    )
    new = Instance("i-0000000a", InstanceState.RUNNING, "127.0.0.2")
    old = Instance("i-0000000b", InstanceState.RUNNING, "127.0.0.3")
    p = Plan(
        actions=(
            Deploy(1, new.instance_id, "a" * 40, "new assignment", bootstrap=True),
            Deploy(2, old.instance_id, "b" * 40, "new assignment"),
        )
    )
    deploy = build_inventory(p, {new.instance_id: new, old.instance_id: old}, cfg)["all"]["children"][
        "pullrekun_deploy"
    ]
    hosts = deploy["hosts"]
    launched = hosts[new.instance_id]
    assert launched["staging_deploy_user"] == "deploy", "vars win over the file"
    assert launched["staging_packages"] == ["git", "curl"]
    assert all(isinstance(v, Unsafe) for v in launched["staging_packages"])
    assert "staging_app_command" not in launched, "[app] command is the run's own: it wins"
    assert launched["pullrekun_bootstrap_become"] is False
    assert list(deploy["children"]["pullrekun_deploy_bootstrap"]["hosts"]) == [new.instance_id]
    assert list(deploy["children"]["pullrekun_deploy_start"]["hosts"]) == [new.instance_id], (
        "waited for like a started instance"
    )
    assert "staging_deploy_user" not in hosts[old.instance_id]


def test_a_started_host_on_the_local_connection_is_not_waited_for() -> None:
    """Waiting for a started instance is waiting for its SSH; the local connection has none."""
    local = parse(
        {
            "github": {"repository": "acme/webapp"},
            "app": {"repo_url": "/srv/app.git", "command": "run", "deploy_root": "/srv/{host}/app"},
            "ansible": {"connection": "local"},
        }
    )
    inst = Instance("i-0000000a", InstanceState.STOPPED, "127.0.0.2")
    pr = PullRequest(number=1, head_sha="a" * 40, created_at=NOW, title="t", head_ref="b", author="a")
    p = plan(Observed((pr,), (inst,), ()), PlannerConfig(), NOW)
    by_cfg = {
        name: build_inventory(p, {inst.instance_id: inst}, cfg)["all"]["children"]["pullrekun_deploy"]
        for name, cfg in (("ssh", CFG), ("local", local))
    }
    by_cfg = {name: deploy["children"] for name, deploy in by_cfg.items()}
    assert list(by_cfg["ssh"]["pullrekun_deploy_wait"]["hosts"]) == ["i-0000000a"]
    assert list(by_cfg["local"]["pullrekun_deploy_start"]["hosts"]) == ["i-0000000a"], "still started"
    assert by_cfg["local"]["pullrekun_deploy_wait"]["hosts"] == {}
