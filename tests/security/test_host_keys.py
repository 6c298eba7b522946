"""SSH host keys are pinned per instance id: a changed key fails that environment, says so, and
deploys nothing until `pullrekun accept-host-key` forgets the old key."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pullrekun_sandbox.sandbox import Sandbox
from pullrekun_sandbox.sshd import SshdHosts

from pullrekun.adapters.playbook.settings import ssh_control_dir
from pullrekun.cli import EXIT_BAD_INPUT, EXIT_OK
from tests.conftest import end_ssh_masters, run_cli, run_pass, ssh_world, status_of

#: Its tests each make a world and run several passes in it: a warm start per test.
pytestmark = pytest.mark.usefixtures("warm_per_test")


def _state_dir(sb: Sandbox) -> Path:
    return Path(sb.config_dict()["ansible"]["artifacts_dir"])


def _another_key(tmp: Path) -> str:
    """The base64 of a new ed25519 public key: a host key no instance has."""
    key = tmp / "other-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return Path(f"{key}.pub").read_text().split()[1]


def _end_ssh_masters(sb: Sandbox) -> None:
    """End this world's SSH masters (ControlPersist): a master keeps a connection that was
    verified already, and the next pass must connect afresh to meet the changed key."""
    assert end_ssh_masters(ssh_control_dir(_state_dir(sb))), "no SSH master of this world was found"


def test_a_changed_host_key_fails_only_that_environment_until_accepted(ssh_sandbox: Sandbox) -> None:
    sb = ssh_sandbox
    number, _ = sb.open_pr("hk", "host key")
    assert run_pass(sb).ok
    (env,) = status_of(sb)["environments"]
    iid = env["instance_id"]
    known_hosts = _state_dir(sb) / "known_hosts"
    pinned = [ln for ln in known_hosts.read_text().splitlines() if ln.split()[0] == iid]
    assert len(pinned) == 1, known_hosts.read_text()
    assert oct(known_hosts.stat().st_mode & 0o777) == "0o600"

    # The instance answers with another key now (re-imaged, or someone in between).
    _, key_type, _ = pinned[0].split(maxsplit=2)
    fake = _another_key(sb.root)
    known_hosts.write_text(known_hosts.read_text().replace(pinned[0], f"{iid} {key_type} {fake}"))
    _end_ssh_masters(sb)
    deployed = sb.served(sb.addr_of(iid))
    head = sb.commit("hk", "pushed past a changed key")
    sb.github.push(number, head)
    result = run_pass(sb)
    assert not result.ok
    (env,) = status_of(sb)["environments"]
    assert env["status"] == "failed"
    assert f"the host key of {iid} is not the one pullrekun learned before" in env["message"]
    assert f"pullrekun accept-host-key {iid}" in env["message"]
    assert sb.served(sb.addr_of(iid)) == deployed, "nothing was deployed past the changed key"

    assert run_cli(sb, "accept-host-key", "i-0000000000000dead").returncode == EXIT_BAD_INPUT
    accepted = run_cli(sb, "accept-host-key", iid)
    assert accepted.returncode == EXIT_OK, accepted.stderr
    assert all(ln.split()[0] != iid or fake not in ln for ln in known_hosts.read_text().splitlines())
    assert run_pass(sb).ok
    assert sb.served(sb.addr_of(iid)) == head


def _console(monkeypatch: pytest.MonkeyPatch, keys: list[str]) -> None:
    """What every instance printed on its console at boot (moto answers GetConsoleOutput with
    its module's sample text): cloud-init's host key block with ``keys``."""
    block = "\n".join(f"[   12.34] ec2: {k} root@ip-10-0-0-1" for k in keys)
    text = (
        "[    0.000000] Linux version 6.1.0\n[   12.30] ec2: #############################\n"
        f"[   12.33] ec2: -----BEGIN SSH HOST KEY KEYS-----\n{block}\n"
        "[   12.35] ec2: -----END SSH HOST KEY KEYS-----\n"
    )
    monkeypatch.setattr("moto.ec2.responses.general.SAMPLE_CONSOLE_OUTPUT", text)


def test_first_contact_checks_the_key_the_instance_printed_at_boot(
    ssh_sandbox: Sandbox, sshd_hosts: SshdHosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Someone in between answers the first contact with their key; the instance printed its
    own at boot: nothing is deployed, and the message says why."""
    sb = ssh_sandbox
    other = sb.root / "booted-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    _console(monkeypatch, [" ".join(Path(f"{other}.pub").read_text().split()[:2])])
    sb.extra_config = {"ansible": {"boot_timeout": 5}}  # the refused wait gives up sooner
    sb.write_config()
    sb.open_pr("mitm", "first contact")
    result = run_pass(sb)
    assert not result.ok
    (env,) = status_of(sb)["environments"]
    assert env["status"] == "failed"
    assert "is not the one pullrekun learned before" in env["message"]
    assert all(sb.served(addr) is None for addr in sb.host_addrs), "nothing was deployed"
    (inst,) = [i for i in status_of(sb)["instances"] if i["instance_id"] == env["instance_id"]]
    assert inst["host_key"] == "console"


def test_the_key_the_instance_printed_is_pinned_and_status_says_how_keys_were_learned(
    ssh_sandbox: Sandbox, sshd_hosts: SshdHosts, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = ssh_sandbox
    real = " ".join((sshd_hosts.root / "host_ed25519.pub").read_text().split()[:2])
    _console(monkeypatch, [real, "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7"])
    sb.open_pr("boot", "keys from the console")
    assert run_pass(sb).ok
    (env,) = status_of(sb)["environments"]
    known_hosts = _state_dir(sb) / "known_hosts"
    pinned = [ln for ln in known_hosts.read_text().splitlines() if ln.split()[0] == env["instance_id"]]
    assert [ln.split()[1] for ln in pinned] == ["ssh-ed25519", "ssh-rsa"], pinned
    assert all(ln.endswith("pullrekun:console-output") for ln in pinned)
    monkeypatch.setattr("moto.ec2.responses.general.SAMPLE_CONSOLE_OUTPUT", "no cloud-init here\n")
    sb.open_pr("blind", "a console without keys")
    assert run_pass(sb).ok
    how = {i["instance_id"]: i["host_key"] for i in status_of(sb)["instances"]}
    assert how[env["instance_id"]] == "console"
    assert sorted(h for h in how.values() if h) == ["console", "first contact"], how
    shown = run_cli(sb, "status").stdout
    assert "host keys accepted on first contact (no keys on the console)" in shown


def test_an_instance_at_another_instances_address_is_not_reached_through_its_ssh_master(
    tmp_path: Path, sshd_hosts: SshdHosts
) -> None:
    # An instance whose tags put it at the address of one pullrekun just deployed to (a relaunch
    # that got the address, or a hand-made tag): the SSH master kept for the first instance
    # (ControlPersist) must not carry the second one's deploy past its own pinned key.
    sb = ssh_world(sshd_hosts, tmp_path / "world", hosts=1).start()
    try:
        sb.open_pr("first", "on the first instance")
        assert run_pass(sb).ok
        (first,) = sb.instance_ids
        addr = sb.addr_of(first)
        second = sb.add_instance(addr)
        known_hosts = _state_dir(sb) / "known_hosts"
        key_type = known_hosts.read_text().split()[1]
        with known_hosts.open("a") as pins:
            pins.write(f"{second} {key_type} {_another_key(tmp_path)}\n")  # its own key, pinned

        number, _ = sb.open_pr("second", "on the instance at the same address")
        result = run_pass(sb)
        envs = {e["pr"]: e for e in status_of(sb)["environments"]}
        assert envs[number]["instance_id"] == second
        assert not result.ok
        assert envs[number]["status"] == "failed"
        assert f"the host key of {second} is not the one pullrekun learned before" in envs[number]["message"]
        masters = {p.name for p in ssh_control_dir(_state_dir(sb)).iterdir()}
        assert first in masters, "the first instance's master, by its id"
    finally:
        sb.stop()
