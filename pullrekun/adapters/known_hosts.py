"""pullrekun's known_hosts file: each staging host's key, pinned under its instance id."""

from __future__ import annotations

import os
from pathlib import Path


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
