"""The runner boundary on its own: a real ansible-runner run of a small playbook on localhost."""

from __future__ import annotations

from pathlib import Path

from pullrekun.adapters.playbook.runner import RunSpec, RunStatus, run_playbook
from pullrekun.adapters.playbook.settings import ansible_env
from tests.integration.test_playbook_guard import left_of

PLAYBOOK = """\
- name: A task that hangs, then another
  hosts: all
  gather_facts: false
  tasks:
    - name: Wait for what never answers
      ansible.builtin.command: sleep {sleep}
      changed_when: false
    - name: Got through
      ansible.builtin.debug:
        msg: through
"""


def _spec(tmp_path: Path, sleep: int, idle_timeout: int) -> RunSpec:
    project = tmp_path / "project"
    (project / "playbooks").mkdir(parents=True, exist_ok=True)
    (project / "playbooks" / "hang.yml").write_text(PLAYBOOK.format(sleep=sleep))
    inventory = {
        "all": {"hosts": {"here": {"ansible_connection": "local", "ansible_python_interpreter": "python3"}}}
    }
    root = tmp_path / "runs"
    root.mkdir(exist_ok=True)
    return RunSpec(
        project_dir=project,
        playbook="playbooks/hang.yml",
        inventory=inventory,
        extra_vars={},
        artifacts_root=root,
        ident=f"run-{sleep}-{idle_timeout}",
        env=ansible_env(project, tmp_path, 5, ""),
        timeout=300,
        idle_timeout=idle_timeout,
    )


def test_a_hung_task_fails_the_run_after_the_idle_timeout_and_says_so(tmp_path: Path) -> None:
    result = run_playbook(_spec(tmp_path, sleep=120, idle_timeout=3))
    assert result.status is RunStatus.IDLE
    assert not result.ok
    assert not result.host_ok("here"), "a host whose run was stopped is not ready"
    assert "nothing happened for 3 s" in result.explanation
    assert "TASK [Got through]" not in (Path(result.artifacts_dir) / "stdout").read_text()
    # Ansible's workers lead sessions of their own: the run's whole tree ends, not its group.
    assert left_of(str(tmp_path)) == [], "a process of the stopped run goes on"


def test_a_quiet_task_shorter_than_the_idle_timeout_gets_through(tmp_path: Path) -> None:
    result = run_playbook(_spec(tmp_path, sleep=2, idle_timeout=30))
    assert result.status is RunStatus.SUCCESSFUL, result.explanation
    assert result.host_ok("here")
    assert result.explanation == "playbook run finished"


def test_the_reconcile_playbook_replayed_without_a_region_says_what_is_missing(tmp_path: Path) -> None:
    """A replay by hand that forgets the region: the EC2 tasks fail naming the variable."""
    from pullrekun.adapters.project import project_dir

    project = project_dir()
    host = {"ansible_connection": "local", "pullrekun_instance_id": "i-0123456789abcdef0"}
    inventory = {"all": {"children": {"pullrekun_start": {"hosts": {"i-0123456789abcdef0": host}}}}}
    root = tmp_path / "runs"
    for region in ("", None):
        extra = {} if region is None else {"pullrekun_ec2_region": region}
        result = run_playbook(
            RunSpec(
                project_dir=project,
                playbook="playbooks/reconcile.yml",
                inventory=inventory,
                extra_vars=extra,
                artifacts_root=root,
                ident=f"no-region-{region is None}",
                env=ansible_env(project, tmp_path, 5, ""),
                timeout=120,
            )
        )
        assert not result.host_ok("i-0123456789abcdef0")
        failure = result.failures["i-0123456789abcdef0"]
        assert "pullrekun_ec2_region must be passed as an extra var" in failure.message, failure
