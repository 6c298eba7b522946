"""SSH host keys are pinned per instance id: a changed key fails that environment, says so, and
deploys nothing until `pullrekun accept-host-key` forgets the old key."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from pullrekun.adapters.playbook.runner import ssh_control_dir
from pullrekun.cli import EXIT_BAD_INPUT, EXIT_OK
from pullrekun_sandbox.sandbox import Sandbox
from tests.conftest import run_cli, run_pass, status_of


def _end_ssh_masters(sb: Sandbox) -> None:
    """End this world's SSH masters (ControlPersist), by PID: a master keeps a connection that was
    verified already, and the next pass must connect afresh to meet the changed key. A master
    names itself by its control socket: "ssh: <control dir>/<hash> [mux]"."""
    control = str(ssh_control_dir(Path(sb.config_dict()["ansible"]["artifacts_dir"])))
    ended = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            title = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            if title.startswith(f"ssh: {control}/") and title.endswith("[mux]"):
                os.kill(int(entry.name), signal.SIGTERM)
                ended += 1
    assert ended, "no SSH master of this world was found"


def test_a_changed_host_key_fails_only_that_environment_until_accepted(ssh_sandbox: Sandbox) -> None:
    sb = ssh_sandbox
    number, _ = sb.open_pr("hk", "host key")
    assert run_pass(sb).ok
    (env,) = status_of(sb)["environments"]
    iid = env["instance_id"]
    known_hosts = Path(sb.config_dict()["ansible"]["artifacts_dir"]) / "known_hosts"
    pinned = [ln for ln in known_hosts.read_text().splitlines() if ln.split()[0] == iid]
    assert len(pinned) == 1, known_hosts.read_text()
    assert oct(known_hosts.stat().st_mode & 0o777) == "0o600"

    # The instance answers with another key now (re-imaged, or someone in between).
    other = sb.root / "other-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    _, key_type, _ = pinned[0].split(maxsplit=2)
    fake = Path(f"{other}.pub").read_text().split()[1]
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
