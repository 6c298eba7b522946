"""pullrekun's known_hosts file: each staging host's key, pinned under its instance id.

A key is learned one of two ways, and the file says which: checked against the host keys the
instance printed on its console at boot (cloud-init's ``SSH HOST KEY KEYS`` block, read with
EC2's GetConsoleOutput), written here before the first contact with the comment
:data:`FROM_CONSOLE`; or, where the console has none, accepted on first contact by ssh
(``StrictHostKeyChecking=accept-new``, no comment).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from pullrekun.config import Config

#: The comment on keys pullrekun took from an instance's console output.
FROM_CONSOLE = "pullrekun:console-output"
#: One public key line of cloud-init's console block: type, base64 key, comment.
_KEY_LINE = re.compile(
    r"\A(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521)) ([A-Za-z0-9+/]+={0,2})(?: |\Z)"
)
_BEGIN, _END = "-----BEGIN SSH HOST KEY KEYS-----", "-----END SSH HOST KEY KEYS-----"


def known_hosts_file(cfg: Config) -> Path:
    """Where pullrekun pins the staging hosts' keys, by instance id."""
    return Path(cfg.ansible.known_hosts or Path(cfg.ansible.artifacts_dir) / "known_hosts").resolve()


def console_keys(output: str) -> tuple[str, ...]:
    """The host keys (``type base64``) an instance printed in its console output; () if none.
    The last complete block counts (the latest boot)."""
    found: tuple[str, ...] = ()
    block: list[str] | None = None
    for raw in output.splitlines():
        line = raw.split("]", 1)[-1].strip() if raw.startswith("[") else raw.strip()  # kernel time
        line = line.removeprefix("ec2: ").strip()
        if line == _BEGIN:
            block = []
        elif line == _END and block is not None:
            found, block = tuple(block), None
        elif block is not None:
            match = _KEY_LINE.match(line)
            if match:
                block.append(f"{match.group(1)} {match.group(2)}")
    return found


def learned(path: Path) -> dict[str, str]:
    """Each alias with keys in the file, and how they were learned ("console" or "first contact")."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return {}
    how: dict[str, str] = {}
    for line in lines:
        parts = line.split()
        if len(parts) < 3 or line.startswith("#"):
            continue
        source = "console" if parts[3:4] == [FROM_CONSOLE] else "first contact"
        for alias in parts[0].split(","):
            if how.get(alias) != "console":
                how[alias] = source
    return how


def pin(path: Path, alias: str, keys: tuple[str, ...]) -> None:
    """Add ``keys`` for ``alias`` (taken from its console), before any contact."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.writelines(f"{alias} {key} {FROM_CONSOLE}\n" for key in keys)


def forget(path: Path, alias: str) -> int:
    """Remove ``alias``'s keys (so the next contact learns the host's new key); how many lines went."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    except FileNotFoundError:
        return 0
    kept = [ln for ln in lines if alias not in (ln.split(maxsplit=1) or [""])[0].split(",")]
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.writelines(kept)
    tmp.replace(path)
    return len(lines) - len(kept)
