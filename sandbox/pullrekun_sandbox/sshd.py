"""Real sshd "hosts" on loopback addresses (127.0.0.N:22), one daemon, key-only auth."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"


def available() -> str | None:
    """None if sshd hosts can run here, else why not."""
    if not Path(SSHD).exists():
        return "openssh-server is not installed (apt-get install openssh-server)"
    if os.geteuid() != 0:
        return "sshd hosts need root (sshd logs users in; tests log in as root)"
    return None


@dataclass
class SshdHosts:
    root: Path
    addrs: list[str]
    user: str = "root"
    proc: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def net(self) -> str:
        """The /24 the hosts are in (their addresses are <net>.2, <net>.3, ...)."""
        return self.addrs[0].rsplit(".", 1)[0]

    @property
    def home(self) -> Path:
        """The home directory of logins to the hosts (empty: no shell start-up files)."""
        return self.root / "home"

    @property
    def private_key(self) -> Path:
        return self.root / "id_ed25519"

    def start(self) -> SshdHosts:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        for key in (self.private_key, self.root / "host_ed25519"):
            if not key.exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        shutil.copy(f"{self.private_key}.pub", self.root / "authorized_keys")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.home.mkdir(mode=0o700, exist_ok=True)
        cfg = self.root / "sshd_config"
        cfg.write_text(
            "\n".join(
                [
                    *(f"ListenAddress {a}:22" for a in self.addrs),
                    f"HostKey {self.root / 'host_ed25519'}",
                    f"AuthorizedKeysFile {self.root / 'authorized_keys'}",
                    f"PidFile {self.root / 'sshd.pid'}",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "PermitRootLogin prohibit-password",
                    "StrictModes no",
                    "MaxStartups 100:30:200",
                    "MaxSessions 100",
                    "LogLevel ERROR",
                    "Subsystem sftp internal-sftp",
                    # A staging host's login runs no one's shell start-up files: the login shell
                    # (bash, for root) would source this machine's ~/.bashrc on every command
                    # (ssh sources it; here it ran pyenv's init: 80 ms of CPU per command).
                    f"SetEnv HOME={self.home}",
                    "",
                ]
            )
        )
        log = os.open(self.root / "sshd.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(cfg)], stderr=log)
        os.close(log)
        deadline = time.monotonic() + 10
        pending = list(self.addrs)
        while pending and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(self.root / 'sshd.log').read_text()[-2000:]}")
            try:
                with socket.create_connection((pending[0], 22), timeout=0.5):
                    pending.pop(0)
            except OSError:
                time.sleep(0.05)
        if pending:
            raise RuntimeError(f"sshd not answering on {pending}")
        return self

    def ssh(self, addr: str, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                "ssh",
                "-i",
                str(self.private_key),
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "LogLevel=ERROR",
                "-o",
                "BatchMode=yes",
                f"{self.user}@{addr}",
                command,
            ],
            text=True,
            capture_output=True,
            check=False,
            timeout=60,
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
